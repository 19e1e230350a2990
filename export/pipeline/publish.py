"""Atomic publication of a model version into a TF Serving model repository.

On disk (this module): a server polling ``<models_dir>/<name>/`` loads every child directory whose name is an integer.
So a version is written in a staging directory beside them whose name is not an integer
(``.export-<token>``) and renamed into place in one step once it is complete and verified.

The live exporter holds an exclusive ``flock`` on ``.export-<token>.lock`` for as long as its
staging directory exists. An export that dies (even by SIGKILL) releases the lock with its last
file descriptor, so the next export recognises the directory as stale by taking the lock, and
removes it. A process id would not do: exporters in different containers sharing a volume see
different pid namespaces.

In object storage (`s3://`, `gs://` models dirs), where there is no rename, each function here hands
over to ``export.pipeline.upload``: files first, the completion marker last.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

from export.errors import ExportError
from export.pipeline import upload
from protocol.layout import parse_version
from protocol.object_store import is_remote

STAGING_PREFIX = ".export-"
LOCK_SUFFIX = ".lock"
_STAGING_RE = re.compile(rf"^{re.escape(STAGING_PREFIX)}([0-9a-f]{{16}})(?:-replaced)?$")
_MODEL_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


def check_model_name(name: str) -> None:
    """A model name is one plain directory name: no separators, no ``..``, not hidden, not empty."""
    if not isinstance(name, str) or not _MODEL_NAME_RE.match(name):
        raise ExportError(
            f"--name must be a plain model name (letters, digits, '_', '-', '.'; not starting "
            f"with '.' or '-'; at most 128 characters), got {name!r}"
        )


def model_base(models_dir: str | Path, name: str) -> Path | str:
    """``<models_dir>/<name>``, the directory (or object-storage URL) TF Serving's ``base_path`` points at,
    for a checked name."""
    check_model_name(name)
    if is_remote(str(models_dir)):
        return upload.model_url(str(models_dir), name)
    base = Path(models_dir) / name
    for directory in (Path(models_dir), base):
        if directory.exists() and not directory.is_dir():
            raise ExportError(f"{directory} exists and is not a directory")
    return base


def existing_versions(base: Path | str) -> list[int]:
    """Integer version directories under ``base``, as TF Serving would discover them (in object storage:
    complete or not)."""
    if _remote(base):
        return upload.existing_versions(str(base))
    if not base.is_dir():
        return []
    found = (parse_version(p.name) for p in base.iterdir() if p.is_dir())
    return sorted(v for v in found if v is not None)


def _remote(base: Path | str) -> bool:
    return isinstance(base, str) and is_remote(base)


def check_version_free(base: Path | str, version: int | None, force: bool) -> None:
    """Fail early, before a slow build, when ``version`` exists and ``force`` is not set."""
    if version is not None and version < 0:
        raise ExportError(f"--version must be a non-negative integer, got {version}")
    if version is not None and not force and version in existing_versions(base):
        raise ExportError(
            f"version {version} already exists at {base}/{version}; "
            "pass --force to replace it or omit --version to write the next one"
        )


def _lock_path(base: Path, token: str) -> Path:
    return base / f"{STAGING_PREFIX}{token}{LOCK_SUFFIX}"


def _try_lock(path: Path) -> int | None:
    """An fd holding an exclusive flock on ``path``, or None if a live exporter holds it (or it is gone)."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def remove_stale_staging(base: Path) -> list[Path]:
    """Delete staging directories whose exporter is gone (their lock is free); returns what was removed."""
    removed: list[Path] = []
    if not base.is_dir():
        return removed
    for path in sorted(base.iterdir()):
        if not path.name.startswith(STAGING_PREFIX):
            continue
        if path.name.endswith(LOCK_SUFFIX):
            _remove_orphan_lock(path)
            continue
        if not path.is_dir():
            continue
        match = _STAGING_RE.match(path.name)
        lock = _lock_path(base, match.group(1)) if match else None
        fd = None
        if lock is not None and lock.exists():
            fd = _try_lock(lock)
            if fd is None:
                continue  # a live exporter holds it
        # A free lock, or none at all (an older exporter's name, a half-finished clean-up): stale.
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
        if fd is not None:
            lock.unlink(missing_ok=True)
            os.close(fd)
    return removed


def _remove_orphan_lock(lock: Path) -> None:
    """A lock file whose staging directory is gone and whose holder is gone too."""
    if lock.with_name(lock.name[: -len(LOCK_SUFFIX)]).exists():
        return  # its directory is handled (or kept) with it
    fd = _try_lock(lock)
    if fd is not None:
        lock.unlink(missing_ok=True)  # a creator that had not locked it yet sees the inode change and retries
        os.close(fd)


def _acquire_staging_lock(base: Path) -> tuple[str, int]:
    """A fresh token and an fd holding the flock of its lock file (created for it)."""
    for _ in range(100):
        token = secrets.token_hex(8)
        path = _lock_path(base, token)
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644)
        except FileExistsError:
            continue
        fcntl.flock(fd, fcntl.LOCK_EX)
        with contextlib.suppress(FileNotFoundError):
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                return token, fd
        os.close(fd)  # a concurrent clean-up removed the file before we locked it: take another
    raise ExportError(f"could not create a staging lock under {base}")


@contextlib.contextmanager
def staging_directory(base: Path | str) -> Iterator[Path]:
    """A fresh staging directory beside the versions, locked while it lives, removed unless published (for
    object storage: a local temporary directory)."""
    if _remote(base):
        with upload.staging_directory() as staging:
            yield staging
        return
    base.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(base)
    token, fd = _acquire_staging_lock(base)
    staging = base / f"{STAGING_PREFIX}{token}"
    try:
        staging.mkdir()
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(_replaced_path(staging), ignore_errors=True)
        _lock_path(base, token).unlink(missing_ok=True)
        os.close(fd)


def _replaced_path(staging: Path) -> Path:
    """Where a forced export parks the version it replaces (covered by the staging lock)."""
    return staging.with_name(staging.name + "-replaced")


def publish(source: Path, staging: Path, base: Path | str, version: int | None, force: bool) -> Path | str:
    """Rename the complete ``source`` (inside ``staging``) to ``base/<version>`` (the next free one if None);
    in object storage, upload it there (``export.pipeline.upload.publish``)."""
    if _remote(base):
        return upload.publish(source, str(base), version, force)
    if version is None:
        for _ in range(100):
            target = base / str(max([0, *existing_versions(base)]) + 1)
            try:
                os.rename(source, target)  # fails if a concurrent export took this number
            except OSError:
                continue
            return target
        raise ExportError(f"could not claim a free version number under {base}")
    target = base / str(version)
    if target.exists():
        if not force:
            raise ExportError(f"version {version} already exists at {target}; pass --force to replace it")
        retired = _replaced_path(staging)
        retired.mkdir()
        os.rename(target, retired / "old")
        os.rename(source, target)
        shutil.rmtree(retired, ignore_errors=True)
        return target
    os.rename(source, target)
    return target
