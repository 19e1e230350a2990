"""Per-model aspired versions and per-version harnesses: what tensorflow/serving's AspiredVersionsManager,
BasicManager and LoaderHarness do together.

A source says which versions each model aspires to (`set_aspired_versions`); every version gets a
harness holding its state. When the aspired versions change the model's policy is asked at once for
its actions; after a load or unload ends it is asked again by the one manager thread, which takes up
every model that changed meanwhile once (as the official manager's ManageState loop does): a burst of
3,000 failed loads is a few looks at the model, not 3,000. Loads and unloads run on bounded worker
pools. The one lock here guards the harness maps only: loads, unloads, retry waits and the callers'
waits all happen outside it, so a version that is slow or keeps failing holds one worker at most, and
none while it waits to retry.

A failed load is retried `max_num_load_retries` times, `load_retry_interval_s` apart: the wait is an
entry in one scheduler (one thread however many versions wait) and the attempt runs on the load pool
like any load, so threads stay bounded whatever fails; a version that stops being aspired has its
pending retry cancelled (and a load that finishes after that is discarded), so it never delays
anything newer.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from serving.core.policy import Action, Policy, VersionSnapshot, availability_preserving
from serving.core.states import State
from serving.core.workers import Scheduled, Scheduler, WorkerPool
from serving.errors import Code, ServingError
from serving.options import ServerOptions

log = logging.getLogger("serving")

Loader = Callable[[str, int, str], Any]  # (name, version, path) -> a loaded servable; raises on failure
Unloader = Callable[[Any], None]  # waits for the servable's requests, then frees it


def default_threads() -> int:
    """Pool size for `--num_load_threads=0` / `--num_unload_threads=0`: the official initial-load pool, 4 x CPUs."""
    return 4 * (os.cpu_count() or 1)


@dataclass
class Harness:
    """One version of one model and where it is in its life."""

    name: str
    version: int
    path: str
    state: State = State.NEW
    aspired: bool = True
    error: ServingError | None = None
    servable: Any = None
    failures: int = 0
    retry: Scheduled | None = field(default=None, repr=False)

    @property
    def label(self) -> str:
        return f"{{name: {self.name} version: {self.version}}}"


@dataclass(frozen=True)
class VersionStatus:
    """What GetModelStatus reports for one version."""

    version: int
    state: str  # START, LOADING, AVAILABLE, UNLOADING or END
    error: ServingError | None = None


def _cancelled() -> ServingError:
    return ServingError(Code.CANCELLED, "Loading of servable cancelled")


class Lifecycle:
    def __init__(
        self,
        load: Loader,
        unload: Unloader,
        options: ServerOptions | None = None,
        policy: Policy = availability_preserving,
    ):
        """`options` gives the load and unload threads and the retries (ServerOptions' defaults when None)."""
        self._load_fn = load
        self._unload_fn = unload
        self.options = options = options if options is not None else ServerOptions()
        self.policy = policy
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._streams: dict[str, dict[int, Harness]] = {}
        self._stopping = False
        self._unmanaged: set[str] = set()  # models whose versions changed state since the policy last looked
        self._manage_wanted = threading.Condition(self._lock)
        self._manager = threading.Thread(target=self._management_loop, name="lifecycle_manager", daemon=True)
        self._loads = WorkerPool(options.num_load_threads or default_threads(), "load")
        self._unloads = WorkerPool(options.num_unload_threads or default_threads(), "unload")
        self._retries = Scheduler("load_retry")
        self._manager.start()

    # ------------------------------------------------------------------ the source's side
    def set_aspired_versions(self, name: str, versions: Mapping[int, str]) -> None:
        """The complete set of versions `name` should serve now (empty: none; its versions are unloaded)."""
        with self._lock:
            stream = self._streams.setdefault(name, {})
            for version, harness in list(stream.items()):
                if version in versions or not harness.aspired:
                    continue
                harness.aspired = False
                if harness.state is State.NEW:
                    del stream[version]  # never started: nothing to report
                elif harness.retry is not None:
                    self._cancel_retry(harness)
            for version, path in versions.items():
                harness = stream.get(version)
                if harness is None or (not harness.aspired and harness.state in (State.DISABLED, State.ERROR)):
                    stream[version] = Harness(name, version, path)
                elif not harness.aspired:
                    # Still loading, serving or unloading: aspired again as it is. A load in flight then
                    # counts; an unload in flight is followed by a fresh load (see _unload).
                    harness.aspired = True
            self._manage(name)
            self._changed.notify_all()

    def _cancel_retry(self, harness: Harness) -> None:
        harness.retry.cancel()
        harness.retry = None
        harness.state = State.ERROR
        log.info("Retrying of loading servable: %s was cancelled: it is no longer aspired.", harness.label)

    # ------------------------------------------------------------------ policy and actions (lock held)
    def _manage(self, name: str) -> None:
        """Takes the policy's actions for `name` until it asks for none (a complete plan: one more look)."""
        stream = self._streams.get(name, {})
        while not self._stopping:
            actions = self.policy([VersionSnapshot(v, h.state, h.aspired) for v, h in sorted(stream.items())])
            if not actions:
                return
            for action in actions:
                harness = stream.get(action.version)
                if action.action is Action.LOAD and harness is not None and harness.state is State.NEW:
                    harness.state = State.LOADING
                    self._loads.submit(functools.partial(self._attempt_load, harness))
                elif action.action is Action.UNLOAD and harness is not None and harness.state is State.READY:
                    harness.state = State.UNLOADING
                    self._unloads.submit(functools.partial(self._unload, harness))
                else:
                    log.error(
                        "Policy asked to %s version %d of %s, which is not in a state for it",
                        action.action.value,
                        action.version,
                        name,
                    )
                    return

    def _management_loop(self) -> None:
        with self._lock:
            while True:
                self._manage_wanted.wait_for(lambda: self._unmanaged or self._stopping)
                if self._stopping:
                    return
                names, self._unmanaged = self._unmanaged, set()
                for name in names:
                    self._manage(name)
                self._changed.notify_all()

    # ------------------------------------------------------------------ workers (no lock held while working)
    def _attempt_load(self, harness: Harness) -> None:
        with self._lock:
            if not harness.aspired or self._stopping:
                harness.state, harness.error = State.ERROR, harness.error or _cancelled()
                self._settle(harness)
                return
        log.info("Loading servable: %s from %s", harness.label, harness.path)
        servable, error = None, None
        try:
            servable = self._load_fn(harness.name, harness.version, harness.path)
        except Exception as e:  # noqa: BLE001 - a failed load is reported in status, never fatal
            error = e if isinstance(e, ServingError) else ServingError(Code.UNKNOWN, str(e) or type(e).__name__)
        discard = None
        with self._lock:
            if error is None and harness.aspired and not self._stopping:
                harness.servable, harness.state, harness.error = servable, State.READY, None
                log.info("Successfully loaded servable version %s", harness.label)
            elif error is None:
                discard = servable
                harness.state, harness.error = State.ERROR, _cancelled()
                log.info("Loading of servable %s cancelled: it is no longer aspired", harness.label)
            else:
                self._failed(harness, error)
            self._settle(harness)
        if discard is not None:
            self._unload_fn(discard)

    def _failed(self, harness: Harness, error: ServingError) -> None:
        log.error("Loading servable: %s failed: %s", harness.label, error)
        harness.failures += 1
        harness.error = error
        retries = max(self.options.max_num_load_retries, 0)
        if harness.aspired and not self._stopping and harness.failures <= retries:
            interval = max(self.options.load_retry_interval_s, 0.0)
            log.info(
                "Retrying of loading servable: %s in %g s (retry %d of %d)",
                harness.label,
                interval,
                harness.failures,
                retries,
            )
            harness.retry = self._retries.call_later(interval, functools.partial(self._retry_due, harness))
            return
        harness.state = State.ERROR
        if retries and harness.failures > retries:
            log.info("Retrying of loading servable: %s exhausted max_num_retries: %d", harness.label, retries)

    def _retry_due(self, harness: Harness) -> None:
        with self._lock:
            if harness.retry is None:  # cancelled meanwhile
                return
            harness.retry = None
            if harness.aspired and not self._stopping:
                self._loads.submit(functools.partial(self._attempt_load, harness))
                return
            harness.state = State.ERROR
            self._settle(harness)

    def _unload(self, harness: Harness) -> None:
        log.info("Unloading servable version %s", harness.label)
        try:
            self._unload_fn(harness.servable)
        except Exception:  # noqa: BLE001 - the version is gone from routing either way
            log.exception("Unloading servable version %s failed", harness.label)
        with self._lock:
            harness.servable, harness.state = None, State.DISABLED
            if harness.aspired:  # aspired again while it unloaded: load it afresh
                self._streams[harness.name][harness.version] = Harness(harness.name, harness.version, harness.path)
            self._settle(harness)
        log.info("Done unloading servable version %s", harness.label)

    def _settle(self, harness: Harness) -> None:
        """After a state change (lock held): wake the waiters; the manager thread asks the policy."""
        self._unmanaged.add(harness.name)
        self._manage_wanted.notify()
        self._changed.notify_all()

    # ------------------------------------------------------------------ the router's and the config's side
    def acquire(self, name: str, version: int | None) -> Any:
        """A READY servable (the highest when `version` is None), held for a request; None when there is none.

        The caller must `release()` it. A version being unloaded is never handed out, and its unload
        waits for the requests that hold it.
        """
        with self._lock:
            stream = self._streams.get(name, {})
            if version is None:
                ready = [v for v, h in stream.items() if h.state is State.READY]
                version = max(ready) if ready else None
            harness = stream.get(version) if version is not None else None
            if harness is None or harness.state is not State.READY:
                return None
            harness.servable.acquire()
            return harness.servable

    def statuses(self, name: str) -> list[VersionStatus]:
        """Every version of `name` the lifecycle knows, newest first."""
        with self._lock:
            stream = self._streams.get(name, {})
            return [
                VersionStatus(v, stream[v].state.manager_state, stream[v].error) for v in sorted(stream, reverse=True)
            ]

    def state_of(self, name: str, version: int) -> State | None:
        with self._lock:
            harness = self._streams.get(name, {}).get(version)
            return harness.state if harness else None

    def latest_settled(self, name: str) -> VersionStatus | None:
        """The highest aspired version of `name` once it is READY or failed; None while it is not."""
        with self._lock:
            return self._latest_settled(name)

    def _latest_settled(self, name: str) -> VersionStatus | None:
        aspired = [h for h in self._streams.get(name, {}).values() if h.aspired]
        if not aspired:
            return None
        latest = max(aspired, key=lambda h: h.version)
        if not latest.state.settled:
            return None
        return VersionStatus(latest.version, latest.state.manager_state, latest.error)

    def wait_for_models(
        self, names: Iterable[str], still_wanted: Callable[[str], bool], timeout: float | None = None
    ) -> dict[str, VersionStatus] | None:
        """Waits until the latest aspired version of each model is settled (or the model is no longer
        wanted); returns their statuses, or None on timeout or stop."""
        names = list(names)

        def pending() -> list[str]:
            return [n for n in names if still_wanted(n) and self._latest_settled(n) is None]

        with self._changed:
            if not self._changed.wait_for(lambda: self._stopping or not pending(), timeout) or self._stopping:
                return None
            return {n: s for n in names if (s := self._latest_settled(n)) is not None}

    @property
    def stopping(self) -> bool:
        return self._stopping

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            self._manage_wanted.notify()
            for stream in self._streams.values():
                for harness in stream.values():
                    if harness.retry is not None:
                        harness.retry.cancel()
                        harness.retry = None
            self._changed.notify_all()
        self._retries.shutdown()
        self._loads.shutdown()
        self._unloads.shutdown()
