"""The REST API's URL grammar, built (clients) and parsed (server) by the same rules.

    POST /v1/models/{name}[/versions/{N}|/labels/{label}]:(predict|classify|regress)
    GET  /v1/models/{name}[/versions/{N}|/labels/{label}][/metadata]

Only paths under /v1/ belong to the API; the verb and path words match case-insensitively; name and
label are percent-encoded. Parse errors carry the official server's messages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote

INFERENCE_VERBS = ("predict", "classify", "regress")  # POST .../model:verb
STATUS, METADATA = "status", "metadata"  # GET .../model and GET .../model/metadata

_API = re.compile(r"(?i)/v1/.*")
_ADDRESS = r"(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?"
_INFERENCE = re.compile(r"(?i)/v1/models/([^/:]+)" + _ADDRESS + r":(classify|regress|predict)")
_MODEL = re.compile(r"(?i)/v1/models(?:/([^/:]+))?" + _ADDRESS + r"(?:/(metadata))?")
MAX_VERSION = (1 << 63) - 1  # versions are int64


class PathError(ValueError):
    """A path under /v1/ that is not an API call; the message is the one the official server sends."""


@dataclass(frozen=True)
class RestCall:
    """What a REST path addresses: `verb` is predict, classify, regress, status or metadata."""

    verb: str
    model: str
    version: int | None = None
    label: str | None = None


def is_api_path(path: str) -> bool:
    return _API.fullmatch(path) is not None


def model_path(model: str, version: int | None = None, label: str | None = None, verb: str = STATUS) -> str:
    """The path for a call; at most one of version and label."""
    if not model:
        raise ValueError("a model name is required")
    if version is not None and label is not None:
        raise ValueError("give a version or a label, not both")
    path = f"/v1/models/{quote(model, safe='')}"
    if version is not None:
        path += f"/versions/{int(version)}"
    elif label is not None:
        path += f"/labels/{quote(label, safe='')}"
    if verb in INFERENCE_VERBS:
        return f"{path}:{verb}"
    if verb == METADATA:
        return f"{path}/metadata"
    if verb == STATUS:
        return path
    raise ValueError(f"unknown REST verb {verb!r}")


def _fits_int64(digits: str) -> bool:
    """Compared by length first: Python refuses int() of more than 4,300 digits, and a URL may hold any number."""
    significant = digits.lstrip("0")
    return len(significant) <= len(str(MAX_VERSION)) and int(significant or "0") <= MAX_VERSION


def parse(http_method: str, path: str) -> RestCall:
    """The call a request line names (`path` still percent-encoded), or PathError."""
    malformed = PathError(f"Malformed request: {http_method} {path}")
    if http_method == "POST":
        match = _INFERENCE.fullmatch(path)
        if not match:
            raise malformed
        name, version, label, verb = match.groups()
        verb = verb.lower()
    elif http_method == "GET":
        match = _MODEL.fullmatch(path)
        if not match:
            raise malformed
        name, version, label, metadata = match.groups()
        verb = METADATA if metadata else STATUS
    else:
        raise malformed
    if version is not None and not _fits_int64(version):
        raise PathError(f"Failed to convert version: {version} to numeric.")
    if not name:
        raise PathError("Missing model name in request.")
    return RestCall(
        verb,
        unquote(name),
        None if version is None else int(version.lstrip("0") or "0"),
        None if label is None else unquote(label),
    )
