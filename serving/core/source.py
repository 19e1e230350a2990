"""The file-system source: polls each configured model's base path and tells the lifecycle which
versions it aspires to (tensorflow/serving's FileSystemStoragePathSource).

Each model is polled on its own: a base path that is missing or unreadable is logged for that
model (once per distinct error, and again when it recovers) and leaves every other model's polling
alone. A model that has left the config is told it aspires to nothing, so its versions unload.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping

from serving.core.versions import aspired_versions
from serving.errors import ServingError

log = logging.getLogger("serving")

AspiredVersionsCallback = Callable[[str, Mapping[int, str]], None]


class FileSystemSource:
    def __init__(self, callback: AspiredVersionsCallback, poll_wait_seconds: int):
        self._callback = callback
        self.poll_wait_seconds = poll_wait_seconds
        self._lock = threading.Lock()  # guards the model list; never held while the disk is read
        self._models: dict[str, object] = {}  # name -> ModelConfig
        self._errors: dict[str, str] = {}
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

    def poll(self, names: Iterable[str] | None = None) -> None:
        """One scan of the given models (all when None), each reported to the lifecycle."""
        with self._lock:
            models = dict(self._models)
        for name in list(models) if names is None else names:
            model = models.get(name)
            if model is not None:
                self._poll_model(model)

    def _poll_model(self, model) -> None:
        try:
            versions = aspired_versions(model)
        except ServingError as e:
            if self._errors.get(model.name) != e.message:
                log.error("FileSystemStoragePathSource encountered a filesystem access error: %s", e.message)
                self._errors[model.name] = e.message
            return
        if self._errors.pop(model.name, None) is not None:
            log.info("Base path %s of servable %s is readable again", model.base_path, model.name)
        with self._lock:  # the callback only records the versions; it never blocks
            if self._models.get(model.name) is model:  # else reconfigured while this scan ran
                self._callback(model.name, versions)

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
