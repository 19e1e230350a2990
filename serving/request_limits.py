"""Per-request limits an operator sets with flags, checked alike by REST and gRPC before anything is allocated.

Expansion is what the server builds beyond what a request carried: a gRPC typed field shorter than its
shape, filled up to it as TensorFlow does, and a classify/regress context merged into every example.
Each request may expand to `max_expansion_bytes` in all (one budget across all its tensors, or across
its examples and context), checked before anything is built; and expansions in flight together hold at
most IN_FLIGHT_REQUESTS times that, so forty tiny requests at once cannot cost gigabytes either: the
others wait their turn, in arrival order, until their deadline.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from protocol.limits import MAX_EXPANSION_BYTES
from serving import tracing
from serving.deadlines import NO_DEADLINE, Deadline
from serving.errors import invalid_argument

IN_FLIGHT_REQUESTS = 2  # full-budget expansions the server holds at once


class ExpansionPool:
    """Bytes of expansion held at once by all requests; a request that does not fit waits (first come,
    first served) until others finish or its deadline passes."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self._held = 0
        self._lock = threading.Lock()
        self._waiting: deque[tuple[int, threading.Event]] = deque()

    @property
    def held(self) -> int:
        return self._held

    @property
    def waiting(self) -> int:
        """Requests queued for their turn."""
        return len(self._waiting)

    @contextmanager
    def hold(self, size: int, deadline: Deadline = NO_DEADLINE) -> Iterator[None]:
        """Holds `size` bytes (at most the capacity) for the duration of the block."""
        if size <= 0:
            yield
            return
        size = min(size, self.capacity)
        self._enter(size, deadline)
        try:
            yield
        finally:
            with self._lock:
                self._held -= size
                self._grant()

    def _enter(self, size: int, deadline: Deadline) -> None:
        with self._lock:
            if not self._waiting and self._held + size <= self.capacity:
                self._held += size
                return
            turn = (size, threading.Event())
            self._waiting.append(turn)
        with tracing.span("queue.expansion", {"serving.expansion_bytes": size}):
            granted = deadline.wait(turn[1])
        if granted:
            return
        with self._lock:
            if turn[1].is_set():  # granted as the deadline passed: give it back
                self._held -= size
                self._grant()
            else:
                self._waiting.remove(turn)
                self._grant()  # a smaller request behind this one may fit now
        deadline.check()

    def _grant(self) -> None:
        while self._waiting and self._held + self._waiting[0][0] <= self.capacity:
            size, event = self._waiting.popleft()
            self._held += size
            event.set()


@dataclass(frozen=True)
class RequestLimits:
    # --max_tensor_elements: the most elements one request tensor may declare; 0 = no cap (the official
    # server has none). Over it is INVALID_ARGUMENT, like the batcher's "Task size N is larger than
    # maximum input batch size": the request as sent can never succeed, so clients must not retry it
    # (RESOURCE_EXHAUSTED, HTTP 429, is what retry policies retry).
    max_tensor_elements: int = 0
    # --max_request_expansion_bytes: see the module docstring; over it is INVALID_ARGUMENT for the same reason.
    max_expansion_bytes: int = MAX_EXPANSION_BYTES
    expansions: ExpansionPool = field(default=None, compare=False)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.expansions is None:
            pool = ExpansionPool(max(self.max_expansion_bytes, 1) * IN_FLIGHT_REQUESTS)
            object.__setattr__(self, "expansions", pool)

    def check_elements(self, what: str, count: int) -> None:
        if 0 < self.max_tensor_elements < count:
            raise invalid_argument(
                f"{what} has {count} elements, more than the server allows "
                f"(--max_tensor_elements={self.max_tensor_elements})"
            )

    def check_expansion(self, what: str, size: int) -> None:
        """`what` (a sentence naming the request's parts) would make the server build `size` bytes."""
        if size > self.max_expansion_bytes:
            raise invalid_argument(
                f"{what} would take {size} bytes, more than the server builds for one request "
                f"(--max_request_expansion_bytes={self.max_expansion_bytes})"
            )

    def expanding(self, size: int, deadline: Deadline = NO_DEADLINE):
        """Holds `size` bytes of the server-wide pool for the block (a context manager); check_expansion first."""
        return self.expansions.hold(size, deadline)
