"""The v2 REST URL grammar, built (clients) and parsed (server) by the same rules.

    GET  /v2                                             server metadata
    GET  /v2/health/live | /v2/health/ready              server liveness, readiness
    GET  /v2/models/{name}[/versions/{version}]          model metadata
    GET  /v2/models/{name}[/versions/{version}]/ready    model readiness
    POST /v2/models/{name}[/versions/{version}]/infer    inference
    POST /v2/repository/index                            model repository extension: what can be served
    POST /v2/repository/models/{name}/load | /unload     ... and loading or unloading it

A v2 version is a string: one of digits is a TF Serving version number, anything else a version label
("stable"), as `version_or_label` reads it, so labels address versions here as they do under /v1.
Names and versions are percent-encoded in the path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote

from protocol.rest_paths import MAX_VERSION

PREFIX = "/v2"
SERVER_METADATA, SERVER_LIVE, SERVER_READY = "server_metadata", "server_live", "server_ready"
MODEL_METADATA, MODEL_READY, INFER = "model_metadata", "model_ready", "infer"
REPOSITORY_INDEX, REPOSITORY_LOAD, REPOSITORY_UNLOAD = "repository_index", "repository_load", "repository_unload"

METHODS = {
    SERVER_METADATA: "GET",
    SERVER_LIVE: "GET",
    SERVER_READY: "GET",
    MODEL_METADATA: "GET",
    MODEL_READY: "GET",
    INFER: "POST",
    REPOSITORY_INDEX: "POST",
    REPOSITORY_LOAD: "POST",
    REPOSITORY_UNLOAD: "POST",
}
_FIXED = {
    "/v2": SERVER_METADATA,
    "/v2/": SERVER_METADATA,
    "/v2/health/live": SERVER_LIVE,
    "/v2/health/ready": SERVER_READY,
    "/v2/repository/index": REPOSITORY_INDEX,
}
_MODEL = re.compile(r"/v2/models/([^/]+)(?:/versions/([^/]+))?(?:/(ready|infer))?")
_REPOSITORY = re.compile(r"/v2/repository/models/([^/]+)/(load|unload)")
_DIGITS = re.compile(r"\d+")


class PathError(ValueError):
    """A path under /v2 that is no v2 call (`code` NOT_FOUND), or a call with the wrong method
    (INVALID_ARGUMENT)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class V2Call:
    """What a v2 path addresses: `kind` is one of the names above; `version` as written ("" for none)."""

    kind: str
    model: str = ""
    version: str = ""


def is_v2_path(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def parse(http_method: str, path: str) -> V2Call:
    """The call a request names (`path` without its query, still percent-encoded), or PathError."""
    call = _match(path)
    if call is None:
        raise PathError("NOT_FOUND", f"Not found: {path} is no Open Inference Protocol path")
    if http_method != METHODS[call.kind]:
        raise PathError("INVALID_ARGUMENT", f"Malformed request: {http_method} {path} (expected {METHODS[call.kind]})")
    return call


def _match(path: str) -> V2Call | None:
    if path in _FIXED:
        return V2Call(_FIXED[path])
    match = _MODEL.fullmatch(path)
    if match:
        name, version, verb = match.groups()
        kind = {None: MODEL_METADATA, "ready": MODEL_READY, "infer": INFER}[verb]
        return V2Call(kind, unquote(name), unquote(version or ""))
    match = _REPOSITORY.fullmatch(path)
    if match:
        name, verb = match.groups()
        return V2Call(REPOSITORY_LOAD if verb == "load" else REPOSITORY_UNLOAD, unquote(name))
    return None


def model_path(model: str, version: str = "", kind: str = MODEL_METADATA) -> str:
    """The path of a model call: metadata, ready or infer, of a version (or label) if given."""
    if not model:
        raise ValueError("a model name is required")
    path = f"{PREFIX}/models/{quote(model, safe='')}"
    if version:
        path += f"/versions/{quote(str(version), safe='')}"
    return path + {MODEL_METADATA: "", MODEL_READY: "/ready", INFER: "/infer"}[kind]


def repository_path(model: str, kind: str) -> str:
    verb = {REPOSITORY_LOAD: "load", REPOSITORY_UNLOAD: "unload"}[kind]
    return f"{PREFIX}/repository/models/{quote(model, safe='')}/{verb}"


def version_or_label(version: str) -> tuple[int | None, str | None]:
    """(version, label) a v2 version string addresses: "" neither (the latest), digits a version number
    (ValueError past int64), anything else a label."""
    if not version:
        return None, None
    if _DIGITS.fullmatch(version):
        significant = version.lstrip("0")
        if len(significant) > len(str(MAX_VERSION)) or int(significant or "0") > MAX_VERSION:
            raise ValueError(f"version {version} is larger than any int64")
        return int(significant or "0"), None
    return None, version


def version_string(version: int | None = None, label: str | None = None) -> str:
    """The v2 version string of a TF Serving address (at most one of the two)."""
    if version is not None and label is not None:
        raise ValueError("give a version or a label, not both")
    return str(int(version)) if version is not None else (label or "")
