"""What a published weights file is, and what ``--weights`` means for every model.

``--weights`` takes ``none`` (random initialisation, ``NONE``), the name of a published preset of
the chosen architecture (``imagenet``, ``coco``, ``ffhq``…: fetched into the cache), or a file path
(a path has a separator or a suffix, or exists).

A preset's checksum is what its publisher gives: Keras an MD5 (``md5:<32 hex>``), DETR the first 8
hex digits of the SHA-256 in each file name (``sha256:<prefix>``, checked as ``torch.hub`` does),
NVIDIA nothing for the StyleGAN pickles (None: the fetched file's structure is checked instead and
its SHA-256 recorded). Importing this module imports no TensorFlow.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from export.errors import ExportError

NONE = "none"  # --weights none: random initialisation (every model's default)
HTTP, GOOGLE_DRIVE = "http", "google-drive"
_CHECKSUM_RE = re.compile(r"^(md5:[0-9a-f]{32}|sha256:[0-9a-f]{8,64})$")


@dataclass(frozen=True)
class Preset:
    """One published weights file of one architecture.

    ``architecture`` is what the weights fit (``efficientnet-b0``, ``detr-r50-dc5``, ``stylegan``),
    ``name`` what a user types after ``--weights``; ``key`` (``architecture:name``) names it
    everywhere else (``python -m export weights fetch``). ``check`` reads the fetched file enough
    to know it is of the official format (raises ExportError), before it enters the cache.
    """

    architecture: str
    name: str
    file_name: str
    url: str
    checksum: str | None
    size: str
    licence: str
    licence_url: str
    metric: str
    source: str
    check: Callable[[Path], None]
    host: str = HTTP
    description: str = ""

    def __post_init__(self) -> None:
        if self.checksum is not None and not _CHECKSUM_RE.match(self.checksum):
            raise ValueError(f"{self.key}: checksum must be md5:<32 hex> or sha256:<8-64 hex>, got {self.checksum}")

    @property
    def key(self) -> str:
        return f"{self.architecture}:{self.name}"

    @property
    def model(self) -> str:
        """The ``python -m export`` command these weights are for (the cache's sub-directory)."""
        return self.architecture.split("-", 1)[0]

    def record(self, sha256: str) -> dict[str, str]:
        """What export_info.json records of the weights an export used."""
        return {
            "preset": self.key,
            "file": self.file_name,
            "url": self.url,
            "sha256": sha256,
            "published_checksum": self.checksum or "none (checked by structure)",
            "licence": self.licence,
            "licence_url": self.licence_url,
            "paper_metric": self.metric,
            "source": self.source,
        }


def looks_like_path(value: str) -> bool:
    """A file path rather than a preset name: it has a separator or a suffix, or it exists."""
    return "/" in value or "\\" in value or Path(value).suffix != "" or Path(value).exists()


def choose_preset(value: str, presets: Sequence[Preset], architecture: str, hint: str = "") -> Preset | None:
    """The preset ``--weights value`` names for ``architecture``; None for ``none`` or a file path.

    An unknown name is an ExportError listing the names that exist (``hint`` says where others are).
    """
    if value == NONE or looks_like_path(value):
        return None
    for preset in presets:
        if preset.architecture == architecture and preset.name == value:
            return preset
    names = sorted({p.name for p in presets if p.architecture == architecture})
    choices = ", ".join([NONE, *names]) + ", or a file path"
    others = sorted({p.architecture for p in presets if p.name == value})
    where = f"; '{value}' exists for {', '.join(others)}{hint}" if others else ""
    raise ExportError(f"unknown --weights {value!r} for {architecture}: choose {choices}{where}")
