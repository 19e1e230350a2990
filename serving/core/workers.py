"""A bounded pool of daemon threads: loads and unloads, and the REST API's blocking request work.

Daemon threads, unlike concurrent.futures', are not joined at interpreter exit: a load stuck in a
file system that never answers must not keep a stopped server from exiting. A job is a plain callable
on a SimpleQueue (no Future per job): the REST API hands its answer back to the event loop itself.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

log = logging.getLogger("serving")


class WorkerPool:
    def __init__(self, size: int, name: str):
        self._jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._stopped = threading.Event()
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}_{i}", daemon=True) for i in range(max(size, 1))
        ]
        for thread in self._threads:
            thread.start()

    @property
    def size(self) -> int:
        return len(self._threads)

    def submit(self, job: Callable[[], None]) -> None:
        self._jobs.put(job)

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None or self._stopped.is_set():
                return
            try:
                job()
            except Exception:  # noqa: BLE001 - jobs report their own errors; a bug must not kill the worker
                log.exception("Worker job failed")

    def shutdown(self) -> None:
        """Workers finish the job at hand and stop; jobs still queued are dropped."""
        self._stopped.set()
        for _ in self._threads:
            self._jobs.put(None)
