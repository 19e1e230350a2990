"""ServerCore: the model config and its transitions, on top of the source, the lifecycle and the router.

`reload_config` validates a new ModelServerConfig, re-validates labels, hands the model list to the
file-system source (models left out unload) and waits for the new models' latest versions, as
tensorflow/serving's ServerCore::ReloadConfig does. Its lock serializes config transitions only:
it is released before the wait, and neither polling, loading nor requests ever take it.
"""

from __future__ import annotations

import gc
import logging
import threading
import time

from protocol.object_store import is_remote
from serving import config as config_lib
from serving.core.allocator import return_freed_memory
from serving.core.lifecycle import Lifecycle, Loader, Unloader, VersionStatus
from serving.core.router import Router
from serving.core.source import FileSystemSource, check_remote_base_path
from serving.core.states import State
from serving.core.version_cache import CachingLoader, VersionCache
from serving.core.versions import check_base_path
from serving.errors import Code, ServingError, failed_precondition, invalid_argument
from serving.logs.request_logger import ServerRequestLogger
from serving.options import ServerOptions

log = logging.getLogger("serving")


class SavedModelLoader:
    """Loads a version directory as a Servable and warms it up (SavedModelBundleSourceAdapter), and frees
    it again."""

    def __init__(self, options=None):
        self.options = options

    def load(self, name: str, version: int, path: str):
        from serving.errors import from_tensorflow
        from serving.servable import Servable, ServableOptions
        from serving.warmup import warm_up

        options = self.options or ServableOptions()
        try:
            servable = Servable(name, version, path, options)
            try:
                if options.warmup_iterations > 0:
                    warm_up(servable, options.warmup_iterations)
            except BaseException:
                servable.unload()
                raise
        except ServingError:
            raise
        except Exception as e:  # noqa: BLE001 - TensorFlow's errors carry their canonical code
            error = from_tensorflow(e)
            raise (
                ServingError(Code.UNKNOWN, str(e) or type(e).__name__) if error.code == Code.INTERNAL else error
            ) from None
        gc.freeze()  # keep the new model's objects out of future full collections
        return servable

    @staticmethod
    def unload(servable) -> None:
        servable.wait_idle()
        servable.unload()
        # Loads freeze the collector's view; thaw it so the unloaded model's reference cycles
        # (its graph's Python objects) can be collected, then freeze what remains.
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        return_freed_memory()


class ServerCore:
    def __init__(self, options: ServerOptions, load: Loader | None = None, unload: Unloader | None = None):
        """`load`/`unload` replace the SavedModel loader (tests of the core alone)."""
        self.options = options
        saved_model = SavedModelLoader(options.servable)
        self._cache: VersionCache | None = None
        self._cache_lock = threading.Lock()
        self.loader = CachingLoader(load or saved_model.load, unload or saved_model.unload, self.version_cache)
        self.lifecycle = Lifecycle(self.loader.load, self.loader.unload, options)
        self.router = Router(self.lifecycle)
        self.source = FileSystemSource(
            self.lifecycle.set_aspired_versions, options.file_system_poll_wait_seconds, options.object_storage
        )
        tags = options.servable.session.tags if options.servable is not None else ("serve",)
        self.request_logs = ServerRequestLogger(options.request_logs, tags)  # each model's logging_config
        self._config_lock = threading.Lock()
        self._config = None
        self._models: dict[str, object] = {}  # name -> ModelConfig of the config in force
        self._known: dict[str, object] = {}  # name -> the latest ModelConfig any config in force listed

    # ------------------------------------------------------------------ config
    def reload_config(self, new_config, timeout: float | None = None) -> None:
        """ServerCore::ReloadConfig: validate, relabel, add/remove models, then wait for the new models.

        `timeout` bounds the wait (DEADLINE_EXCEEDED after it; the new models keep loading).
        """
        with self._config_lock:
            new_models = self._transition(new_config)
        if new_models:
            self._await_models(new_models, timeout)

    def edit_models(self, edit, timeout: float | None = None) -> None:
        """Replaces the model list with `edit(the list in force)` (a list of ModelConfig), as one step against
        other edits and reloads, then waits for the models it added, as `reload_config` does."""
        with self._config_lock:
            new_config = config_lib.ModelServerConfig()
            new_config.model_config_list.SetInParent()
            current = self._config.model_config_list.config if self._config is not None else []
            copies = [config_lib.ModelConfig.FromString(m.SerializeToString()) for m in current]
            new_config.model_config_list.config.extend(edit(copies))
            new_models = self._transition(new_config)
        if new_models:
            self._await_models(new_models, timeout)

    def refresh(self, names: list[str], timeout: float | None = None) -> None:
        """Looks for new versions of served models now (not at the next poll) and waits for their latest."""
        self.source.poll(names)
        self._await_models(names, timeout)

    def model_names(self) -> list[str]:
        """The models of the config in force."""
        return list(self._models)

    def known_models(self) -> dict:
        """Every model a config in force has listed, by name (its latest ModelConfig): what a model
        repository holds, loaded or not."""
        return dict(self._known)

    def _transition(self, new_config) -> list[str]:
        first = self._config is None
        kind = new_config.WhichOneof("config")
        if not first and kind is not None and self._config.WhichOneof("config") != kind:
            raise failed_precondition(
                "Cannot transition to requested config. It is only legal to transition "
                "from one ModelConfigList to another."
            )
        if kind is None:
            log.info("Taking no action for empty config.")
            return []
        config_lib.validate_model_config(new_config)
        models = list(new_config.model_config_list.config)
        if not first:
            self._check_platforms(models)
            self._check_base_paths(models)
        self.router.set_labels(self._labels(models))
        self.request_logs.update(models)
        self._config = new_config
        old, self._models = self._models, {m.name: m for m in models}
        self._known.update(self._models)
        log.info("Adding/updating models.")
        self.source.configure(models)
        changed = [m.name for m in models if old.get(m.name) != m]
        self.source.poll(changed)
        log.info("Finished adding/updating models")
        return [m.name for m in models if m.name not in old]

    def _check_platforms(self, models) -> None:
        for model in models:
            current = self._models.get(model.name)
            if current is None:
                continue
            old, new = config_lib.model_platform(current), config_lib.model_platform(model)
            if old != new:
                raise invalid_argument(
                    f"Illegal to change a model's platform. For model {model.name} platform was "
                    f"{old} and new platform requested is {new}"
                )

    def _check_base_paths(self, models) -> None:
        """A reload that adds a model, or moves one, to a base path that does not exist is refused whole.

        (The official server accepts it and then waits forever while its polling fails for every model.)
        """
        for model in models:
            current = self._models.get(model.name)
            if current is None or current.base_path != model.base_path:
                if is_remote(model.base_path):
                    check_remote_base_path(model.base_path, model.name, self.options.object_storage.store)
                else:
                    check_base_path(model.base_path, model.name)

    def _labels(self, models) -> dict[str, dict[str, int]]:
        """UpdateModelVersionLabelMap: a label may point only at an AVAILABLE version (see the flag)."""
        current = self.router.labels or {}
        labels: dict[str, dict[str, int]] = {}
        for model in models:
            for label, version in model.version_labels.items():
                allowed = False
                if self.options.allow_labels_for_unavailable:
                    existing = current.get(model.name, {}).get(label)
                    allowed = existing is None or existing == version
                if not allowed and self.lifecycle.state_of(model.name, version) is not State.READY:
                    raise failed_precondition(
                        f"Request to assign label to version {version} of model {model.name}, "
                        "which is not currently available for inference"
                    )
                labels.setdefault(model.name, {})[label] = version
        return labels

    def _await_models(self, names: list[str], timeout: float | None) -> None:
        """Waits until the latest version of each new model is AVAILABLE or failed; fails if one failed.

        No lock is held: polling, other loads and other reloads go on. The awaited models are
        scanned again every poll interval (at start-up the polling thread has not started yet); a
        model that a later config removed is no longer waited for, nor is one whose object-storage
        base path cannot be read (its status says why; it loads once the bucket answers).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        interval = max(self.options.file_system_poll_wait_seconds, 1)

        def still_wanted(name: str) -> bool:
            return name in self._models and self.source.error(name) is None

        while True:
            step = interval if deadline is None else max(min(interval, deadline - time.monotonic()), 0)
            statuses = self.lifecycle.wait_for_models(names, still_wanted, step)
            if statuses is not None:
                break
            if self.lifecycle.stopping:
                raise ServingError(Code.UNAVAILABLE, "Server is shutting down")
            if deadline is not None and time.monotonic() >= deadline:
                raise ServingError(
                    Code.DEADLINE_EXCEEDED,
                    f"Models {', '.join(names)} did not become available in time; they keep loading",
                )
            self.source.poll(names)
        for name in names:
            error = self.source.error(name)
            if error is not None and name not in statuses:
                log.warning("Not waiting for servable %s: %s", name, error.message)
        failed = []
        for name in names:
            status: VersionStatus | None = statuses.get(name)
            if status is not None and status.state != "AVAILABLE":
                reason = f" due to error: {status.error}" if status.error else ""
                failed.append(f"{{{{name: {name} version: {status.version}}}{reason}}}, ")
        if failed:
            raise ServingError(Code.UNKNOWN, f"{len(failed)} model(s) did not become available: {{{''.join(failed)}}}")

    # ------------------------------------------------------------------ serving
    def servable(self, spec):
        """Context manager holding one AVAILABLE version for a request (see Router.servable)."""
        return self.router.servable(spec)

    def version_states(self, spec) -> list[VersionStatus]:
        """The router's answer; for a model with no version to report whose object-storage base path cannot
        be read, that error (its code: PERMISSION_DENIED, UNAVAILABLE, DEADLINE_EXCEEDED...) with the reason."""
        try:
            return self.router.version_states(spec)
        except ServingError as e:
            source_error = self.source.error(spec.name) if e.code is Code.NOT_FOUND else None
            if source_error is None:
                raise
            raise ServingError(source_error.code, f"{e.message}: {source_error.message}") from None

    def version_cache(self) -> VersionCache:
        """The local copies of object-storage versions, made when the first one is loaded."""
        with self._cache_lock:
            if self._cache is None:
                try:
                    self._cache = VersionCache(self.options.object_storage)
                except OSError as e:
                    where = self.options.object_storage.cache_dir or "the temporary directory"
                    raise ServingError(
                        Code.FAILED_PRECONDITION,
                        f"Cannot make the object-storage cache in {where} (--object_storage_cache_dir): "
                        f"{e.strerror or e}",
                    ) from None
            return self._cache

    # ------------------------------------------------------------------ polling
    def start_polling(self) -> None:
        self.source.start()

    def stop(self) -> None:
        self.source.stop()
        self.lifecycle.stop()
        self.request_logs.close()
        with self._cache_lock:
            if self._cache is not None:
                self._cache.close()
