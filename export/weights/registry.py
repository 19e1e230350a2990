"""Every model's presets in one list: what ``python -m export weights list|fetch`` reads."""

from __future__ import annotations

import difflib

from export.errors import ExportError
from export.weights.presets import Preset


def all_presets() -> list[Preset]:
    from export.detr.weights.presets import PRESETS as DETR
    from export.efficientnet.weights.presets import PRESETS as EFFICIENTNET
    from export.stylegan.weights.presets import PRESETS as STYLEGAN

    return [*EFFICIENTNET, *DETR, *STYLEGAN]


def find(key: str) -> Preset:
    """The preset named ``architecture:name`` (``detr-r50:coco``); an unknown key says what exists."""
    presets = {p.key: p for p in all_presets()}
    if key in presets:
        return presets[key]
    close = difflib.get_close_matches(key, presets, n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise ExportError(f"no published weights named {key!r}: {hint}see python -m export weights list")
