"""The storage-path source: polls each configured model's base path and tells the lifecycle which
versions it aspires to (tensorflow/serving's FileSystemStoragePathSource), on disk or in object storage.

Each model is polled on its own: a base path that is missing or unreadable is logged for that
model (once per distinct error, and again when it recovers) and leaves every other model's polling
alone. A model that has left the config is told it aspires to nothing, so its versions unload.

Local base paths are scanned in the caller's thread. Object-storage base paths (`s3://`, `gs://`) are
scanned on a small pool, at most one scan per model at a time, so a bucket that hangs holds one
worker for its bounded timeouts and never the other models, the polling thread or a config reload.
Only complete versions count (serving.core.remote_versions); they are aspired to by URL and copied
when loaded (serving.core.version_cache). A failed listing keeps the versions aspired as they were (a
model keeps serving through an outage) and is the model's `error`, which its status reports while it
has no version.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Iterable, Mapping

from protocol.object_store import StoreError, StoreOptions, is_remote, open_store, parse_url
from protocol.object_store.marker import MAX_MARKER_BYTES
from serving.core.remote_versions import MAX_OBJECTS, Completion, ObjectStorageOptions, group_versions, store_error
from serving.core.versions import aspired_versions, choose_versions
from serving.core.workers import WorkerPool
from serving.errors import ServingError, invalid_argument

log = logging.getLogger("serving")

AspiredVersionsCallback = Callable[[str, Mapping[int, str]], None]
REMOTE_SCAN_THREADS = 8


class FileSystemSource:
    def __init__(
        self,
        callback: AspiredVersionsCallback,
        poll_wait_seconds: int,
        object_storage: ObjectStorageOptions | None = None,
    ):
        self._callback = callback
        self.poll_wait_seconds = poll_wait_seconds
        self._object_storage = object_storage or ObjectStorageOptions()
        self._lock = threading.Lock()  # guards the model list and the scan records; never held while storage is read
        self._models: dict[str, object] = {}  # name -> ModelConfig
        self._errors: dict[str, ServingError] = {}
        self._scanning: set[str] = set()  # remote models with a scan in flight
        self._completions: dict[tuple[str, str], Completion] = {}  # (name, base path) -> what it saw so far
        self._scans: WorkerPool | None = None  # made on the first remote model
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def configure(self, models: Iterable) -> None:
        """Monitors exactly `models` (ModelConfigs) from now on; models left out aspire to nothing."""
        wanted = {m.name: m for m in models}
        with self._lock:
            removed = [name for name in self._models if name not in wanted]
            self._models = wanted
            for name in removed:
                self._errors.pop(name, None)
                self._callback(name, {})
            kept = {(m.name, m.base_path) for m in wanted.values()}
            self._completions = {k: v for k, v in self._completions.items() if k in kept}

    def poll(self, names: Iterable[str] | None = None) -> None:
        """One scan of the given models (all when None), each reported to the lifecycle. Local ones are
        scanned before this returns; remote ones are started (unless one is in flight) and report when done."""
        with self._lock:
            models = dict(self._models)
        for name in list(models) if names is None else names:
            model = models.get(name)
            if model is None:
                continue
            if is_remote(model.base_path):
                self._start_remote_scan(model)
            else:
                self._poll_model(model)

    def error(self, name: str) -> ServingError | None:
        """The error of the model's last object-storage scan (None: it succeeded, or the model is local).

        Takes no lock (single dict reads): the lifecycle asks it while holding its own, and the source
        calls the lifecycle while holding this one's."""
        model = self._models.get(name)
        return self._errors.get(name) if model is not None and is_remote(model.base_path) else None

    def _poll_model(self, model) -> None:
        try:
            versions = aspired_versions(model)
        except ServingError as e:
            self._failed(model, e, "FileSystemStoragePathSource encountered a filesystem access error: %s")
            return
        self._report(model, versions)

    def _failed(self, model, error: ServingError, message: str) -> None:
        with self._lock:
            if self._models.get(model.name) is not model:
                return
            known = self._errors.get(model.name)
            self._errors[model.name] = error
        if known is None or known.message != error.message:
            log.error(message, error.message)

    def _report(self, model, versions: Mapping[int, str]) -> None:
        with self._lock:  # the callback only records the versions; it never blocks
            if self._models.get(model.name) is not model:  # reconfigured while this scan ran
                return
            if self._errors.pop(model.name, None) is not None:
                log.info("Base path %s of servable %s is readable again", model.base_path, model.name)
            self._callback(model.name, versions)

    # ------------------------------------------------------------------ object storage
    def _start_remote_scan(self, model) -> None:
        with self._lock:
            if model.name in self._scanning or self._stop.is_set():
                return
            self._scanning.add(model.name)
            if self._scans is None:
                self._scans = WorkerPool(REMOTE_SCAN_THREADS, "storage_scan")
            completion = self._completions.setdefault(
                (model.name, model.base_path), Completion(model.name, self._object_storage.quiet_seconds)
            )
        self._scans.submit(functools.partial(self._scan_remote, model, completion))

    def _scan_remote(self, model, completion: Completion) -> None:
        try:
            try:
                versions = remote_versions(model, completion, self._object_storage.store)
            except ServingError as e:
                self._failed(model, e, "Object-storage source cannot read a base path: %s")
                return
            self._report(model, versions)
        finally:
            with self._lock:
                self._scanning.discard(model.name)

    # ------------------------------------------------------------------ polling thread
    def start(self) -> None:
        """Polls every `poll_wait_seconds` (> 0) in a thread; 0 or less: no polling after start-up."""
        if self.poll_wait_seconds <= 0:
            return
        self._thread = threading.Thread(target=self._loop, name="fs_poll", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_wait_seconds):
            try:
                self.poll()
            except Exception:  # noqa: BLE001 - polling must survive anything on disk
                log.exception("File-system poll failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self._scans is not None:
            self._scans.shutdown()


def remote_versions(model, completion: Completion, options: StoreOptions) -> dict[int, str]:
    """The versions the model's policy wants, of the complete ones at its object-storage base path, by URL."""
    try:
        base = parse_url(model.base_path)
    except ValueError as e:
        raise invalid_argument(f"Invalid base path for servable {model.name}: {e}") from None
    try:
        store = open_store(base, options)
        versions = group_versions(store.list(base.prefix, MAX_OBJECTS), base, model.name)
        complete = completion.complete(versions, lambda key: store.read(key, MAX_MARKER_BYTES))
    except StoreError as e:
        raise store_error(e) from None
    return choose_versions(model, {number: str(version.url) for number, version in complete.items()})


def check_remote_base_path(base_path: str, model_name: str, options: StoreOptions) -> None:
    """INVALID_ARGUMENT, as for a missing local path, when the base path's bucket does not exist; other
    errors (access, reachability) are the model's status once it is configured, not a refused config."""
    try:
        base = parse_url(base_path)
        open_store(base, options).list(base.prefix, 1)
    except ValueError as e:
        raise invalid_argument(f"Invalid base path for servable {model_name}: {e}") from None
    except StoreError as e:
        if e.code == "NOT_FOUND":
            raise invalid_argument(
                f"Could not find base path {base_path} for servable {model_name} with error NOT_FOUND: {e.message}"
            ) from None
        if e.code != "RESOURCE_EXHAUSTED":  # more objects than one: it exists
            log.warning("Base path %s of servable %s is not readable now: %s", base_path, model_name, e)
