"""The publish stage for object storage (`--models-dir s3://bucket/prefix` or `gs://bucket/prefix`).

An object store has no rename, so a version cannot appear at once as it does on disk. The version is
written, verified and given its warmup records in a local staging directory as for a local export,
then uploaded so that a polling server never sees it incomplete:

1. the files, variables first and `saved_model.pb` last (so even a server that reads the bucket in
   place, as the official one reads gs://, finds no graph before its weights);
2. the upload is checked: every file is listed with its size (each SDK also checks every object's
   checksum as it uploads);
3. `<version>/_SUCCESS` last, holding the manifest (protocol.object_store.marker): the project's
   server counts the version from then on, once the listing matches the manifest.

`--force` over an existing version deletes its marker first (servers stop counting it, and fall back
to another version), then its files, then uploads as above. An upload that fails removes what it
uploaded; one that is killed leaves files without a marker, which no server serves and which the
next export counts as taken (`--force` replaces it). Two exports of one model to one bucket at once
must not pick the same version: give them distinct `--version`s.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

from export.errors import ExportError
from protocol.layout import parse_version
from protocol.object_store import Store, StoreError, open_store, parse_url
from protocol.object_store.marker import MARKER, manifest

MAX_OBJECTS = 1_000_000  # objects under one model in a listing; more is an error, not an endless listing


def _store(url: str) -> Store:
    try:
        return open_store(url)
    except (StoreError, ValueError) as e:
        raise ExportError(str(e.message if isinstance(e, StoreError) else e)) from None


@contextlib.contextmanager
def _errors(what: str) -> Iterator[None]:
    try:
        yield
    except StoreError as e:
        raise ExportError(f"{what}: {e.message}") from None


def model_url(models_dir: str, name: str) -> str:
    """`<models_dir>/<name>` for an object-storage models dir (the name checked by the caller)."""
    try:
        return str(parse_url(models_dir).child(name))
    except ValueError as e:
        raise ExportError(f"--models-dir: {e}") from None


def existing_versions(base: str) -> list[int]:
    """Every version with any object under `base`, complete or not (an unfinished upload takes its number)."""
    url = parse_url(base)
    store = _store(base)
    with _errors(f"listing {base}"):
        objects = store.list(url.prefix, MAX_OBJECTS)
    found = {parse_version(o.key[len(url.prefix) :].partition("/")[0]) for o in objects}
    return sorted(v for v in found if v is not None)


@contextlib.contextmanager
def staging_directory() -> Iterator[Path]:
    """Where the version is written and verified before the upload: a local temporary directory."""
    with tempfile.TemporaryDirectory(prefix="kts-export-") as staging:
        yield Path(staging)


def upload_order(files: list[str]) -> list[str]:
    """Variables first, then the other files, `saved_model.pb`/`.pbtxt` last (the marker comes after)."""

    def rank(path: str) -> tuple[int, str]:
        if path.startswith("variables/"):
            return 0, path
        if path in ("saved_model.pb", "saved_model.pbtxt"):
            return 2, path
        return 1, path

    return sorted(files, key=rank)


def publish(source: Path, base: str, version: int | None, force: bool) -> str:
    """Uploads the complete version in `source` to `<base>/<version>` (the next free one if None); returns its URL."""
    existing = existing_versions(base)
    if version is None:
        version = max([0, *existing]) + 1
    target = parse_url(base).child(str(version))
    store = _store(base)
    files = {p.relative_to(source).as_posix(): p.stat().st_size for p in sorted(source.rglob("*")) if p.is_file()}
    with _errors(f"publishing {target}"):
        old = [o.key for o in store.list(target.prefix, MAX_OBJECTS)]
        if old:
            if not force:
                raise ExportError(f"version {version} already exists at {target}; pass --force to replace it")
            marker = f"{target.prefix}{MARKER}"
            store.delete([k for k in old if k == marker])  # servers stop counting it first
            store.delete([k for k in old if k != marker])
        uploaded: list[str] = []
        try:
            for path in upload_order(list(files)):
                store.upload(str(source / path), target.prefix + path)
                uploaded.append(target.prefix + path)
            listed = {o.key[len(target.prefix) :]: o.size for o in store.list(target.prefix, MAX_OBJECTS)}
            if listed != files:
                wrong = sorted(set(files.items()) ^ set(listed.items()))
                raise ExportError(f"the upload of {target} does not match the export (first difference: {wrong[0]})")
            store.put(target.prefix + MARKER, manifest(files))
        except BaseException:
            with contextlib.suppress(StoreError):
                store.delete(uploaded)
            raise
    return str(target)
