"""Model runs start in arrival order, a few at a time: requests are served fairly, none starved.

Without this, every request thread calls into TensorFlow at once. TensorFlow's executor has no
notion of request order: its inter-op pool runs the newest work a thread scheduled first, so with 32
concurrent requests to one model some overtake others many times, and p99 reaches ~4x p50 (measured
for EfficientNet-B0 at 32 clients on every path, the in-process one included; docs/performance.md).
Admitting runs first come, first served, with at most `limit` of one servable running at once, keeps
TensorFlow's pools busy without oversubscribing them, and a request waits only for the runs that
arrived before it.

Each servable (model version) has its own admission, so one slow model never holds another's
requests. A request waiting its turn leaves the queue as soon as its deadline passes or its client
cancels, without running. The limit covers every run of the servable: a request alone, a merged
batch, a warmup record.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

from serving import tracing
from serving.deadlines import NO_DEADLINE, Deadline


class _Turn:
    __slots__ = ("event", "admitted")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.admitted = False


class RunAdmission:
    """At most `limit` runs at once (0 = no limit), started in the order their requests asked."""

    def __init__(self, limit: int):
        self.limit = limit
        self._lock = threading.Lock()
        self._running = 0
        self._waiting: deque[_Turn] = deque()

    @property
    def running(self) -> int:
        return self._running

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @contextmanager
    def turn(self, deadline: Deadline = NO_DEADLINE) -> Iterator[None]:
        """Holds one of the `limit` places for the duration of a run; raises the deadline's error when it
        passes (or the client cancels) before the place comes."""
        self.enter(deadline)
        try:
            yield
        finally:
            self.leave()

    def try_enter(self) -> bool:
        """Takes a place only if one is free and nobody waits for it (never overtakes, never blocks)."""
        with self._lock:
            if self.limit <= 0 or (self._running < self.limit and not self._waiting):
                self._running += 1
                return True
            return False

    def enter(self, deadline: Deadline = NO_DEADLINE) -> None:
        with self._lock:
            if self.limit <= 0 or (self._running < self.limit and not self._waiting):
                self._running += 1
                return
            turn = _Turn()
            self._waiting.append(turn)
        with tracing.span("queue.admission", {"serving.queue.ahead": len(self._waiting) - 1}):
            admitted = deadline.wait(turn.event)
        if admitted:
            return
        with self._lock:
            if turn.admitted:  # the place came as the deadline passed: hand it on
                self._leave_locked()
            else:
                self._waiting.remove(turn)
        deadline.check()

    def leave(self) -> None:
        with self._lock:
            self._leave_locked()

    def _leave_locked(self) -> None:
        if self._waiting:
            turn = self._waiting.popleft()  # the place passes straight to the oldest waiter
            turn.admitted = True
            turn.event.set()
        else:
            self._running -= 1
