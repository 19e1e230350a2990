"""Which servable a request is for: a model name plus at most one of a version number or a label."""

from __future__ import annotations

from dataclasses import dataclass

from protocol import rest_paths


@dataclass(frozen=True)
class ModelRef:
    name: str
    version: int | None = None
    label: str | None = None

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a model name is required")
        if self.version is not None and self.label is not None:
            raise ValueError("give a version or a label, not both")

    def rest_path(self, verb: str = rest_paths.STATUS) -> str:
        """`/v1/models/name[/versions/N|/labels/L]` plus `:predict`, `/metadata`, ... for `verb`."""
        return rest_paths.model_path(self.name, self.version, self.label, verb)

    def fill_spec(self, spec, signature_name: str | None = None) -> None:
        """Write this reference into a `tensorflow.serving.ModelSpec`."""
        spec.name = self.name
        if self.version is not None:
            spec.version.value = int(self.version)
        elif self.label is not None:
            spec.version_label = self.label
        if signature_name:
            spec.signature_name = signature_name
