"""A bounded pool of daemon threads (loads and unloads, and the REST API's blocking request work), and a
one-thread scheduler for jobs due later (load retries).

Daemon threads, unlike concurrent.futures', are not joined at interpreter exit: a load stuck in a
file system that never answers must not keep a stopped server from exiting. A job is a plain callable
on a SimpleQueue (no Future per job): the REST API hands its answer back to the event loop itself.
Jobs due later wait in one heap served by one thread, however many there are (a threading.Timer each
would be a thread each: 3,000 failing versions were 3,000 threads).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import queue
import threading
import time
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


class Scheduled:
    """A job due later; `cancel()` before it is due and it never runs."""

    __slots__ = ("due", "job", "cancelled")

    def __init__(self, due: float, job: Callable[[], None]):
        self.due, self.job, self.cancelled = due, job, False

    def cancel(self) -> None:
        self.cancelled = True


class Scheduler:
    """Runs each job on its own thread's turn once its delay has passed: one thread for any number of jobs.
    Jobs should be quick (hand real work to a WorkerPool): one slow job delays those due after it."""

    def __init__(self, name: str):
        self._heap: list[tuple[float, int, Scheduled]] = []
        self._order = itertools.count()
        self._changed = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def call_later(self, delay_s: float, job: Callable[[], None]) -> Scheduled:
        entry = Scheduled(time.monotonic() + max(delay_s, 0.0), job)
        with self._changed:
            heapq.heappush(self._heap, (entry.due, next(self._order), entry))
            self._changed.notify()
        return entry

    @property
    def pending(self) -> int:
        with self._changed:
            return sum(not entry.cancelled for _, _, entry in self._heap)

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._stopped and (not self._heap or self._heap[0][0] > time.monotonic()):
                    self._changed.wait(self._heap[0][0] - time.monotonic() if self._heap else None)
                if self._stopped:
                    return
                _, _, entry = heapq.heappop(self._heap)
            if entry.cancelled:
                continue
            try:
                entry.job()
            except Exception:  # noqa: BLE001 - jobs report their own errors; a bug must not stop the others
                log.exception("Scheduled job failed")

    def shutdown(self) -> None:
        """Jobs not yet due never run."""
        with self._changed:
            self._stopped = True
            self._heap.clear()
            self._changed.notify()
