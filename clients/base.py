"""What both transports share: `with` support and the metadata cache (one read per model address)."""

from __future__ import annotations

from typing import Self

from clients.addressing import ModelRef
from clients.signatures import ModelMetadata


class ServingClient:
    def __init__(self) -> None:
        self._metadata: dict[ModelRef, ModelMetadata] = {}

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def metadata(self, model: str, *, version: int | None = None, label: str | None = None) -> ModelMetadata:
        """Signatures of the addressed version (latest by default). Read once per address, then cached."""
        ref = ModelRef(model, version, label)
        if ref not in self._metadata:
            self._metadata[ref] = self._read_metadata(ref)
        return self._metadata[ref]

    def _read_metadata(self, ref: ModelRef) -> ModelMetadata:
        raise NotImplementedError
