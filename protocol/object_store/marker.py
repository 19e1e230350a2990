"""How a version in object storage says it is complete.

An object store has no rename: a version is uploaded file by file, and a server polling the bucket could
see it half-written. So the uploader writes `<version>/_SUCCESS` after every other file of the version,
and a server treats the version as complete once the marker is there. (The name is Hadoop's and Spark's
convention for "this directory is complete"; its S3A committers also write a JSON manifest into it.)

The marker this project's exporter writes holds the manifest of the version, {"files": {path: size}};
a server then also waits until the listing matches it (an upload that replaces a version in place, or a
sync that copied an old marker early, is not taken for complete). An empty marker (or one that is not
such a manifest, e.g. `touch _SUCCESS` after `gsutil cp -r`/`aws s3 sync`) marks the version complete as
it is listed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

MARKER = "_SUCCESS"
MAX_MARKER_BYTES = 1 << 20  # a manifest of tens of thousands of files; larger ones are not ours


def manifest(files: Mapping[str, int]) -> bytes:
    """The marker body for a version holding `files` (path relative to the version, '/'-separated -> bytes)."""
    return (json.dumps({"files": dict(sorted(files.items()))}, indent=1) + "\n").encode()


def read_manifest(data: bytes) -> dict[str, int] | None:
    """The files a marker lists, or None when it is a plain marker (empty or not a manifest)."""
    try:
        parsed = json.loads(data.decode("utf-8")) if data.strip() else None
    except (UnicodeDecodeError, ValueError):
        return None
    files = parsed.get("files") if isinstance(parsed, dict) else None
    if not isinstance(files, dict):
        return None
    sizes_ok = all(type(v) is int and v >= 0 for v in files.values())
    if not sizes_ok or not all(isinstance(k, str) for k in files):
        return None
    return dict(files)
