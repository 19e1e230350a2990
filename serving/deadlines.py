"""When a request stops being worth running: its deadline passed or its client went away.

The transports make one per request (REST from --rest_api_timeout_in_ms, gRPC from the call's
deadline and cancellation) and the work checks it at every point where it could still stop cheaply:
before the JSON is parsed, while it waits its turn for a model run, before a model run starts (alone
or when a batch is formed), and before the answer is encoded. A TensorFlow op already running cannot be
interrupted; it finishes and its result is dropped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from serving.errors import Code, ServingError


class Deadline:
    def __init__(
        self,
        timeout_s: float | None = None,
        cancelled: Callable[[], bool] | None = None,
        what: str = "Deadline Exceeded",
    ):
        self.expires_at = None if timeout_s is None else time.monotonic() + timeout_s
        self._cancelled = cancelled
        self._what = what
        self._gave_up = False

    @classmethod
    def none(cls) -> Deadline:
        return cls()

    def give_up(self) -> None:
        """The transport answered already (e.g. with 504): whatever has not started must not start."""
        self._gave_up = True

    def expired(self) -> bool:
        return (
            self._gave_up
            or (self.expires_at is not None and time.monotonic() >= self.expires_at)
            or (self._cancelled is not None and self._cancelled())
        )

    def wait(self, event: threading.Event, poll_s: float = 0.1) -> bool:
        """Waits for `event` until the request stops being worth running; True once the event is set.
        Cancellation has no wake-up of its own, so it is looked at every `poll_s`."""
        while not event.is_set():
            if self.expired():
                return False
            timeout = (
                poll_s
                if self._cancelled is not None or self.expires_at is None
                else min(poll_s, max(self.expires_at - time.monotonic(), 0.0))
            )
            event.wait(timeout)
        return True

    def check(self) -> None:
        """Raises DEADLINE_EXCEEDED (or CANCELLED when the client cancelled) once the request is not worth running."""
        if self._cancelled is not None and self._cancelled():
            raise ServingError(Code.CANCELLED, "Request cancelled by the client")
        if self.expired():
            raise ServingError(Code.DEADLINE_EXCEEDED, self._what)


NO_DEADLINE = Deadline()
