"""The one export protocol every model follows: options, flags, input files, and a build.

A model module (``export/<model>/exporter.py``) defines a ``ModelExport`` dataclass whose fields are
its options. It adds its flags, names the files it reads and the published weights it uses (a
preset of its ``weights/presets.py``), and builds an ``Exportable``: the model,
its endpoints, example inputs, export_info entries and assets. Everything else — the model name,
version and input-file checks, deriving the expected outputs by tracing the endpoints on the
examples, verifying the reloaded SavedModel, warmup records and atomic publication — is the
pipeline's (``export.pipeline``), written once for every model, and so is fetching published
weights (``export.weights.fetch``).

Importing this module does not import TensorFlow: ``build`` imports what it needs.
"""

from __future__ import annotations

import abc
import argparse
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import numpy as np

    from export.pipeline.endpoint import Endpoint
    from export.weights.fetch import Fetched
    from export.weights.presets import Preset


@dataclass
class Exportable:
    """What a model module hands to the pipeline.

    ``model`` is the Keras model (or a list of trackables) the endpoints use; ``examples`` maps a
    signature name to its example inputs (input name → array). Endpoints without examples here or
    on the ``Endpoint`` get random inputs drawn from their specs. ``atol`` bounds the float
    difference between the reloaded SavedModel and the in-process trace; None (the default) derives
    it from each output's scale (``export.pipeline.tolerance``).
    """

    model: Any
    endpoints: Sequence[Endpoint]
    examples: Mapping[str, Mapping[str, np.ndarray]] = field(default_factory=dict)
    info: Mapping[str, Any] = field(default_factory=dict)
    assets: Sequence[Path] = ()
    atol: float | None = None


class ModelExport(abc.ABC):
    """One model's options (dataclass fields), flags and build.

    Subclasses are dataclasses. ``__post_init__`` rejects impossible options with ``ExportError``
    before anything is built; ``from_arguments`` fills the fields from the parsed flags of the same
    names (``--top-k`` → ``top_k``), so a model module declares each option once as a field and
    once as a flag.
    """

    command: ClassVar[str]
    """The ``python -m export`` sub-command, and the default model name."""

    @classmethod
    @abc.abstractmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """Add the model's own flags (the common ones are added by ``export.cli``)."""

    @classmethod
    def from_arguments(cls, args: argparse.Namespace) -> ModelExport:
        """The options from parsed flags whose ``dest`` equals a field name."""
        values = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)}
        return cls(**values)

    def default_name(self) -> str:
        """The model name used when ``--name`` is not given."""
        return self.command

    def describe(self) -> str:
        """What is being built, for progress messages."""
        return self.default_name()

    def input_files(self) -> Mapping[str, Path]:
        """Files the build will read, by what they are (``{"weights file": path}``); checked first.

        The kinds ``export.pipeline.preflight.FORMAT_CHECKS`` knows (weights file, checkpoint, pickle,
        model file) are also checked to be of that format, before TensorFlow is imported.
        """
        return {}

    def weights_preset(self) -> Preset | None:
        """The published weights ``--weights`` names (None: ``none`` or a file path); an unknown name
        raises ExportError. Cheap: preflight calls it."""
        return None

    def fetch(self) -> Fetched | None:
        """Fetch the preset's file into the cache (a cache hit costs nothing); None without a preset."""
        preset = self.weights_preset()
        if preset is None:
            return None
        from export.weights.fetch import fetch

        return fetch(preset)

    @abc.abstractmethod
    def build(self) -> Exportable:
        """Build the model, load its weights and describe its endpoints (the slow part)."""
