"""A bounded hand-off from request threads to one writing thread: `offer` never blocks and never fails.

Requests put what they want written in a queue bounded by count and by bytes; one thread of the writer's own
takes it from there (serializing, writing, rotating files). When the queue is full the item is dropped and
counted, so a slow disk costs log records, never request latency or memory.

The writer is woken by the first item of an empty queue only, and then lets `linger_s` pass before it
writes everything queued: under load it runs a few times a second in bursts instead of once per request,
since each wake-up of a Python thread costs the request threads a hand-over of the GIL (measured: about
0.4 ms a request on 2 busy cores; docs/performance.md).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger("serving")

T = TypeVar("T")
_WARN_EVERY_S = 60.0


class BackgroundWriter(Generic[T]):
    """`handle(item)` runs on this writer's thread for every item offered and not dropped; `on_drop(item)` is
    called (on the offering thread) for each one dropped; `on_idle()` (the writer's thread) whenever the queue
    runs empty, e.g. to flush a file once rather than after every record."""

    def __init__(
        self,
        name: str,
        handle: Callable[[T], None],
        max_items: int,
        max_bytes: int,
        on_drop: Callable[[T], None] | None = None,
        on_idle: Callable[[], None] | None = None,
        linger_s: float = 0.05,
    ):
        self.name = name
        self._handle = handle
        self._on_drop = on_drop
        self._on_idle = on_idle
        self.linger_s = linger_s
        self.max_items, self.max_bytes = max(max_items, 1), max(max_bytes, 1)
        self._items: deque[tuple[T, int]] = deque()
        self._bytes = 0
        self._busy = False
        self._cond = threading.Condition()
        self._closed = False
        self.dropped = 0
        self.failed = 0
        self._last_warning = 0.0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def pending_bytes(self) -> int:
        return self._bytes

    def offer(self, item: T, size: int = 0) -> bool:
        """Queues `item` (holding about `size` bytes) for writing; False when it was dropped instead."""
        with self._cond:
            if self._closed or len(self._items) >= self.max_items or self._bytes + size > self.max_bytes:
                self.dropped += 1
                accepted = False
            else:
                self._items.append((item, size))
                self._bytes += size
                if len(self._items) == 1:
                    self._cond.notify()
                accepted = True
        if not accepted:
            if self._on_drop is not None:
                self._on_drop(item)
            self._warn(
                f"{self.name}: a record was dropped (queue full: {self.max_items} records or "
                f"{self.max_bytes} bytes waiting); {self.dropped} dropped so far"
            )
        return accepted

    def flush(self, timeout: float = 10.0) -> bool:
        """Waits until everything offered so far is handled; False if that takes longer than `timeout`."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._items and not self._busy, timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Writes what is queued (within `timeout`), then stops the thread."""
        self.flush(timeout)
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._items:
                    self._cond.wait_for(lambda: self._items or self._closed)
                    if not self._items:
                        return
                    if not self._closed and self.linger_s > 0:  # let a burst gather (see the module docstring)
                        self._busy = True
                        self._cond.wait(self.linger_s)
                item, size = self._items.popleft()
                self._busy = True
            try:
                self._handle(item)
            except Exception as e:  # noqa: BLE001 - a failed write costs that record, never the writer
                self.failed += 1
                self._warn(f"{self.name}: a record could not be written: {type(e).__name__}: {e}")
            del item
            with self._cond:
                self._bytes -= size
                idle = not self._items
            if idle and self._on_idle is not None:
                try:
                    self._on_idle()
                except Exception as e:  # noqa: BLE001
                    self._warn(f"{self.name}: {type(e).__name__}: {e}")
            with self._cond:
                self._busy = False
                self._cond.notify_all()

    def _warn(self, message: str) -> None:
        now = time.monotonic()
        if now - self._last_warning >= _WARN_EVERY_S:
            self._last_warning = now
            log.warning("%s", message)
