"""``python -m export weights list`` and ``python -m export weights fetch KEY…``: every model's presets.

``list`` shows every model's published weights (key, size, checksum, licence, the paper's metric) and
which are in the cache; ``fetch`` puts them there ahead of time: for a Docker image build, or a
machine that will run offline (``KTS_OFFLINE=1``) afterwards. This module is the one place that knows
every model's presets table, beside the command line that knows every model.
"""

from __future__ import annotations

import argparse
import difflib

from export.detr.weights.presets import PRESETS as DETR
from export.efficientnet.weights.presets import PRESETS as EFFICIENTNET
from export.errors import ExportError
from export.stylegan.weights.presets import PRESETS as STYLEGAN
from export.weights import fetch as fetching
from export.weights.presets import Preset


def all_presets() -> list[Preset]:
    return [*EFFICIENTNET, *DETR, *STYLEGAN]


def find(key: str) -> Preset:
    """The preset named ``architecture:name`` (``detr-r50:coco``); an unknown key says what exists."""
    presets = {p.key: p for p in all_presets()}
    if key in presets:
        return presets[key]
    close = difflib.get_close_matches(key, presets, n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise ExportError(f"no published weights named {key!r}: {hint}see python -m export weights list")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="{list,fetch}")
    listing = actions.add_parser("list", help="published weights of every model, and what the cache holds")
    listing.add_argument("--model", default=None, help="only this model's (efficientnet, detr, stylegan)")
    getting = actions.add_parser("fetch", help="download published weights into the cache (checked; reused afterwards)")
    getting.add_argument(
        "keys", nargs="+", metavar="KEY", help="e.g. detr-r50:coco stylegan:ffhq efficientnet-b0:imagenet"
    )


def run(args: argparse.Namespace) -> int:
    if args.action == "list":
        print(listing(args.model))
        return 0
    presets = [find(key) for key in args.keys]  # every key checked before the first download
    for preset in presets:
        print(fetching.fetch(preset).path)
    return 0


def listing(model: str | None = None) -> str:
    rows = [("KEY", "SIZE", "CHECKSUM", "LICENCE", "PAPER", "CACHED")]
    for preset in all_presets():
        if model is not None and preset.model != model:
            continue
        checksum = preset.checksum.split(":")[0] + " " + preset.checksum.split(":")[1][:8] if preset.checksum else "-"
        state = "yes" if fetching.cached(preset) is not None else "-"
        rows.append((preset.key, preset.size, checksum, preset.licence, preset.metric, state))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    lines += [
        "",
        f"cache: {fetching.cache_root()} ({fetching.CACHE_ENV}); mirror: {fetching.MIRROR_ENV}; "
        f"offline: {fetching.OFFLINE_ENV}=1",
        "use: python -m export <model> --weights NAME (NAME after the colon), or python -m export weights fetch KEY",
    ]
    return "\n".join(lines)
