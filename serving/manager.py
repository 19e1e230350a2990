"""The model manager: which versions are loaded, their states, labels and availability-preserving swaps.

One sync pass per model: read the aspired versions from disk, load the new ones (largest first,
warmed up before they become AVAILABLE), then unload versions that are no longer aspired, but never
the last one serving while no aspired version is available (AvailabilityPreservingPolicy).
Unloading waits for the requests already holding the version to finish.
"""
from __future__ import annotations

import contextlib
import gc
import logging
import threading
from dataclasses import dataclass, field
from typing import Callable, Iterator, Optional

from protocol.generated.tensorflow_serving.apis import model_pb2
from protocol.generated.tensorflow_serving.config import model_server_config_pb2

from serving import config as config_lib
from serving.servable import Servable
from serving.status import Code, ServingError, failed_precondition, from_tensorflow, invalid_argument, not_found
from serving.versions import aspired_versions

log = logging.getLogger("serving")

START, LOADING, AVAILABLE, UNLOADING, END = "START", "LOADING", "AVAILABLE", "UNLOADING", "END"


@dataclass
class VersionState:
    version: int
    path: str
    state: str = START
    error: Optional[ServingError] = None
    servable: Optional[Servable] = None
    retired: bool = False  # ended and since left the aspired set: loads again if it comes back


@dataclass
class ModelEntry:
    config: model_server_config_pb2.ModelConfig
    versions: dict[int, VersionState] = field(default_factory=dict)
    active: bool = True  # false once removed from the config


@dataclass
class ManagerOptions:
    tags: tuple[str, ...] = ("serve",)
    poll_wait_seconds: int = 1
    allow_labels_for_unavailable: bool = False
    max_num_load_retries: int = 5
    load_retry_interval_s: float = 60.0
    prepare: Optional[Callable[[Servable], None]] = None  # warmup and batching, run before AVAILABLE


class Manager:
    def __init__(self, options: ManagerOptions):
        self.options = options
        self._lock = threading.RLock()
        self._sync_lock = threading.Lock()
        self._models: dict[str, ModelEntry] = {}
        self._labels: Optional[dict[str, dict[str, int]]] = None
        self._config: Optional[model_server_config_pb2.ModelServerConfig] = None
        self._stop = threading.Event()
        self._poller: Optional[threading.Thread] = None

    # ------------------------------------------------------------------ config
    def reload_config(self, new_config: model_server_config_pb2.ModelServerConfig) -> None:
        """ServerCore::ReloadConfig: validate, relabel, add/remove models, wait for new models."""
        with self._sync_lock:
            first = self._config is None
            if not first and self._config.WhichOneof("config") != new_config.WhichOneof("config") \
                    and new_config.WhichOneof("config") is not None:
                raise failed_precondition("Cannot transition to requested config. It is only legal to transition "
                                          "from one ModelConfigList to another.")
            if new_config.WhichOneof("config") is None:
                log.info("Taking no action for empty config.")
                return
            config_lib.validate_model_config(new_config)
            if not first:
                self._check_platforms(new_config)
            self._update_labels(new_config)
            self._config = new_config
            wanted = {m.name: m for m in new_config.model_config_list.config}
            new_models = []
            with self._lock:
                for name, model in wanted.items():
                    entry = self._models.get(name)
                    if entry is None or not entry.active:
                        self._models[name] = ModelEntry(model)
                        new_models.append(name)
                    else:
                        entry.config = model
                removed = [e for n, e in self._models.items() if n not in wanted and e.active]
                for entry in removed:
                    entry.active = False
            for entry in removed:
                log.info("Unloading all versions of removed model %s", entry.config.name)
                for version in sorted(entry.versions):
                    if entry.versions[version].state == AVAILABLE:
                        self._unload(entry, version)
            self._await_models(new_models)

    def _check_platforms(self, new_config) -> None:
        for model in new_config.model_config_list.config:
            entry = self._models.get(model.name)
            if entry is None or not entry.active:
                continue
            old, new = config_lib.model_platform(entry.config), config_lib.model_platform(model)
            if old != new:
                raise invalid_argument(f"Illegal to change a model's platform. For model {model.name} platform was "
                                       f"{old} and new platform requested is {new}")

    def _update_labels(self, new_config) -> None:
        labels: dict[str, dict[str, int]] = {}
        for model in new_config.model_config_list.config:
            for label, version in model.version_labels.items():
                allowed = False
                if self.options.allow_labels_for_unavailable:
                    existing = (self._labels or {}).get(model.name, {}).get(label)
                    allowed = existing is None or existing == version
                if not allowed and self._state(model.name, version) != AVAILABLE:
                    raise failed_precondition(f"Request to assign label to version {version} of model {model.name}, "
                                              "which is not currently available for inference")
                labels.setdefault(model.name, {})[label] = version
        with self._lock:
            self._labels = labels

    def _state(self, name: str, version: int) -> Optional[str]:
        with self._lock:
            entry = self._models.get(name)
            state = entry.versions.get(version) if entry else None
            return state.state if state else None

    # ------------------------------------------------------------------ loading
    def _await_models(self, names: list[str]) -> None:
        """Loads the new models, polling until each has a version; fails if a latest version did not load."""
        pending = list(names)
        while pending:
            for name in pending:
                self._sync(self._models[name])
            pending = [n for n in pending if not self._latest_settled(self._models[n])]
            if pending:
                if self._stop.wait(max(self.options.poll_wait_seconds, 1)):
                    return
        failed = []
        for name in names:
            entry = self._models[name]
            latest = max(entry.versions)
            state = entry.versions[latest]
            if state.state != AVAILABLE:
                reason = f" due to error: {state.error}" if state.error else ""
                failed.append(f"{{{{name: {name} version: {latest}}}{reason}}}, ")
        if failed:
            raise ServingError(Code.UNKNOWN, f"{len(failed)} model(s) did not become available: {{{''.join(failed)}}}")

    @staticmethod
    def _latest_settled(entry: ModelEntry) -> bool:
        if not entry.versions:
            return False
        return entry.versions[max(entry.versions)].state in (AVAILABLE, END)

    def poll_once(self) -> None:
        with self._sync_lock:
            with self._lock:
                entries = [e for e in self._models.values() if e.active]
            for entry in entries:
                self._sync(entry)

    def _sync(self, entry: ModelEntry) -> None:
        try:
            aspired = aspired_versions(entry.config)
        except ServingError as e:
            log.error("%s", e.message)
            return
        with self._lock:
            for version, state in entry.versions.items():
                if version not in aspired and state.state == END:
                    state.retired = True
        for version in sorted(aspired, reverse=True):
            current = entry.versions.get(version)
            if current is None or (current.state == END and (current.error is None or current.retired)):
                self._load(entry, version, aspired[version])
        if not aspired:
            if any(s.state == AVAILABLE for s in entry.versions.values()):
                log.error("Refusing to unload all versions for Servable: %s", entry.config.name)
            return
        self._unload_unaspired(entry, set(aspired))

    def _unload_unaspired(self, entry: ModelEntry, aspired: set[int]) -> None:
        while True:
            with self._lock:
                serving_aspired = any(s.state == AVAILABLE for v, s in entry.versions.items() if v in aspired)
                unaspired = sorted(v for v, s in entry.versions.items() if v not in aspired and s.state == AVAILABLE)
            if not unaspired or not (serving_aspired or len(unaspired) > 1):
                return
            self._unload(entry, unaspired[0])

    def _load(self, entry: ModelEntry, version: int, path: str) -> None:
        name = entry.config.name
        state = VersionState(version, path)
        with self._lock:
            entry.versions[version] = state
        log.info("Loading servable: {name: %s version: %d} from %s", name, version, path)
        state.state = LOADING
        attempts = max(self.options.max_num_load_retries, 0) + 1
        for attempt in range(attempts):
            try:
                servable = Servable(name, version, path, self.options.tags)
                if self.options.prepare is not None:
                    self.options.prepare(servable)
                break
            except Exception as e:  # noqa: BLE001 - a failed load is reported in status, never fatal
                error = e if isinstance(e, ServingError) else _load_error(e)
                log.error("Loading servable: {name: %s version: %d} failed: %s", name, version, error)
                if attempt + 1 == attempts or self._stop.is_set():
                    with self._lock:
                        state.state, state.error = END, error
                    return
                log.info("Retrying load of {name: %s version: %d} (%d of %d)", name, version, attempt + 1,
                         attempts - 1)
                if self._stop.wait(self.options.load_retry_interval_s):
                    with self._lock:
                        state.state, state.error = END, error
                    return
        gc.freeze()  # keep the new model's objects out of future full collections
        with self._lock:
            state.servable = servable
            state.state = AVAILABLE
        log.info("Successfully loaded servable version {name: %s version: %d}", name, version)

    def _unload(self, entry: ModelEntry, version: int) -> None:
        with self._lock:
            state = entry.versions[version]
            state.state = UNLOADING
            servable = state.servable
        log.info("Unloading servable version {name: %s version: %d}", entry.config.name, version)
        if servable is not None:
            servable.wait_idle()
            servable.unload()
        with self._lock:
            state.servable = None
            state.state = END
        del servable
        # Loads freeze the collector's view (see _load); thaw it so the unloaded model's reference
        # cycles, weights included, can be collected, then freeze what remains.
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        log.info("Done unloading servable version {name: %s version: %d}", entry.config.name, version)

    # ------------------------------------------------------------------ polling
    def start_polling(self) -> None:
        if self.options.poll_wait_seconds <= 0:
            return
        self._poller = threading.Thread(target=self._poll_loop, name="fs_poll", daemon=True)
        self._poller.start()

    def _poll_loop(self) -> None:
        while not self._stop.wait(self.options.poll_wait_seconds):
            try:
                self.poll_once()
            except Exception:  # noqa: BLE001 - polling must survive anything on disk
                log.exception("File-system poll failed")

    def stop(self) -> None:
        self._stop.set()
        if self._poller is not None:
            self._poller.join(timeout=30)

    # ------------------------------------------------------------------ serving
    def resolve(self, spec: model_pb2.ModelSpec) -> tuple[str, Optional[int], str]:
        """(name, version or None for latest, request text) from a ModelSpec."""
        if not spec.name:
            raise invalid_argument("ModelSpec has no name specified.")
        choice = spec.WhichOneof("version_choice")
        if choice == "version":
            return spec.name, spec.version.value, f"Specific({spec.name}, {spec.version.value})"
        if choice == "version_label":
            with self._lock:
                if self._labels is None:
                    raise ServingError(Code.UNAVAILABLE, f"Model labels does not init yet.{spec.version_label}")
                version = self._labels.get(spec.name, {}).get(spec.version_label)
            if version is None:
                raise invalid_argument(f"Unrecognized servable version label: {spec.version_label}")
            return spec.name, version, f"Specific({spec.name}, {version})"
        return spec.name, None, f"Latest({spec.name})"

    @contextlib.contextmanager
    def servable(self, spec: model_pb2.ModelSpec) -> Iterator[Servable]:
        """Holds one AVAILABLE version for the duration of a request."""
        name, version, request = self.resolve(spec)
        with self._lock:
            entry = self._models.get(name)
            chosen = None
            if entry is not None and entry.active:
                if version is None:
                    available = [v for v, s in entry.versions.items() if s.state == AVAILABLE]
                    version = max(available) if available else None
                state = entry.versions.get(version) if version is not None else None
                if state is not None and state.state == AVAILABLE:
                    chosen = state.servable
            if chosen is None:
                raise not_found(f"Servable not found for request: {request}")
            chosen.acquire()
        try:
            yield chosen
        finally:
            chosen.release()

    def version_states(self, spec: model_pb2.ModelSpec) -> list[VersionState]:
        """Status of one version (version/label given) or all versions, newest first."""
        name, version, _ = self.resolve(spec)
        with self._lock:
            entry = self._models.get(name)
            states = dict(entry.versions) if entry else {}
        if spec.WhichOneof("version_choice") is not None:
            if version not in states:
                raise not_found(f"Could not find version {version} of model {name}")
            return [states[version]]
        if not states:
            raise not_found(f"Could not find any versions of model {name}")
        return [states[v] for v in sorted(states, reverse=True)]


def _load_error(exc: Exception) -> ServingError:
    error = from_tensorflow(exc)
    if error.code == Code.INTERNAL and not isinstance(exc, ServingError):
        return ServingError(Code.UNKNOWN, str(exc) or type(exc).__name__)
    return error
