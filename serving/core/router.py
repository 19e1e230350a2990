"""From a ModelSpec to one AVAILABLE servable (ServerCore::ServableRequestFromModelSpec and the label map).

The label map is replaced whole by the config layer; a request reads it once and then asks the
lifecycle for a READY version, which it holds until the request is answered.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

from serving.core.lifecycle import Lifecycle, VersionStatus
from serving.errors import Code, ServingError, invalid_argument, not_found


class Router:
    def __init__(self, lifecycle: Lifecycle):
        self._lifecycle = lifecycle
        self._labels: dict[str, dict[str, int]] | None = None  # None until the first config

    @property
    def labels(self) -> Mapping[str, Mapping[str, int]] | None:
        return self._labels

    def set_labels(self, labels: dict[str, dict[str, int]]) -> None:
        self._labels = labels  # one reference swap: readers see the old map or the new one

    def resolve(self, spec) -> tuple[str, int | None, str]:
        """(name, version or None for the latest, the request as the official messages write it)."""
        if not spec.name:
            raise invalid_argument("ModelSpec has no name specified.")
        choice = spec.WhichOneof("version_choice")
        if choice == "version":
            return spec.name, spec.version.value, f"Specific({spec.name}, {spec.version.value})"
        if choice == "version_label":
            labels = self._labels
            if labels is None:
                raise ServingError(Code.UNAVAILABLE, f"Model labels does not init yet.{spec.version_label}")
            version = labels.get(spec.name, {}).get(spec.version_label)
            if version is None:
                raise invalid_argument(f"Unrecognized servable version label: {spec.version_label}")
            return spec.name, version, f"Specific({spec.name}, {version})"
        return spec.name, None, f"Latest({spec.name})"

    @contextlib.contextmanager
    def servable(self, spec) -> Iterator:
        """Holds one AVAILABLE version for the duration of a request."""
        name, version, request = self.resolve(spec)
        chosen = self._lifecycle.acquire(name, version)
        if chosen is None:
            raise not_found(f"Servable not found for request: {request}")
        try:
            yield chosen
        finally:
            chosen.release()

    def version_states(self, spec) -> list[VersionStatus]:
        """Status of one version (version or label given) or of all versions, newest first."""
        name, version, _ = self.resolve(spec)
        states = self._lifecycle.statuses(name)
        if spec.WhichOneof("version_choice") is not None:
            chosen = [s for s in states if s.version == version]
            if not chosen:
                raise not_found(f"Could not find version {version} of model {name}")
            return chosen
        if not states:
            raise not_found(f"Could not find any versions of model {name}")
        return states
