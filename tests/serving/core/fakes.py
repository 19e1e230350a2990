"""What the core's unit tests load instead of SavedModels: servables and a loader the tests control, and the
wait they poll the core with (states, never durations)."""

from __future__ import annotations

import threading
from collections import Counter

from serving.errors import Code, ServingError
from serving.testing.server_process import wait_for


class FakeServable:
    def __init__(self, name, version):
        self.name, self.version = name, version
        self._in_flight = 0
        self._idle = threading.Condition()

    def acquire(self):
        with self._idle:
            self._in_flight += 1

    def release(self):
        with self._idle:
            self._in_flight -= 1
            self._idle.notify_all()

    def wait_idle(self):
        with self._idle:
            self._idle.wait_for(lambda: self._in_flight == 0)


class Loads:
    """The loader and unloader: `fail` and `block` say which (name, version) fail or wait for an event."""

    def __init__(self):
        self.calls = Counter()
        self.fail: dict[tuple[str, int], int] = {}  # how many attempts fail (a large number: always)
        self.block: dict[tuple[str, int], threading.Event] = {}
        self.unloaded: list[tuple[str, int]] = []

    def load(self, name, version, path):
        key = (name, version)
        self.calls[key] += 1
        if key in self.block:
            assert self.block[key].wait(60), "test never released the load"
        if self.calls[key] <= self.fail.get(key, 0):
            raise ServingError(Code.NOT_FOUND, f"no SavedModel at {path}")
        return FakeServable(name, version)

    def unload(self, servable):
        servable.wait_idle()
        self.unloaded.append((servable.name, servable.version))


def until(condition, what: str, timeout: float = 30.0):
    """`wait_for` at the pace of in-process state changes (they take milliseconds)."""
    return wait_for(condition, timeout, what, interval=0.01)


def states(lifecycle, name) -> dict[int, str]:
    """version -> state of a model in a Lifecycle."""
    return {s.version: s.state for s in lifecycle.statuses(name)}
