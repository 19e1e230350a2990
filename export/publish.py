"""Atomic publication of a model version into a TF Serving model repository.

A server polling ``<models_dir>/<name>/`` loads every child directory whose name is an integer.
So a version is written in a staging directory beside them whose name is not an integer
(``.export-<pid>-<random>``) and renamed into place in one step once it is complete and verified.
An export that dies leaves only a staging directory, which the next export removes.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from export.errors import ExportError
from protocol.layout import parse_version

STAGING_PREFIX = ".export-"
_STAGING_RE = re.compile(rf"^{re.escape(STAGING_PREFIX)}(\d+)-")


def existing_versions(base: Path) -> list[int]:
    """Integer version directories under ``base``, as TF Serving would discover them."""
    if not base.is_dir():
        return []
    found = (parse_version(p.name) for p in base.iterdir() if p.is_dir())
    return sorted(v for v in found if v is not None)


def check_version_free(base: Path, version: int | None, force: bool) -> None:
    """Fail early, before a slow build, when ``version`` exists and ``force`` is not set."""
    if version is not None and version < 0:
        raise ExportError(f"--version must be a non-negative integer, got {version}")
    if version is not None and not force and version in existing_versions(base):
        raise ExportError(f"version {version} already exists at {base / str(version)}; "
                          "pass --force to replace it or omit --version to write the next one")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_staging(base: Path) -> list[Path]:
    """Delete staging directories left by exports that were killed; returns what was removed."""
    removed = []
    if not base.is_dir():
        return removed
    for path in base.iterdir():
        match = _STAGING_RE.match(path.name)
        if match and not _pid_alive(int(match.group(1))):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


@contextlib.contextmanager
def staging_directory(base: Path) -> Iterator[Path]:
    """A fresh staging directory beside the versions, removed unless it was published."""
    base.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(base)
    staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=base))
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def publish(staging: Path, base: Path, version: int | None, force: bool) -> Path:
    """Rename a complete ``staging`` directory to ``base/<version>`` (the next free one if None)."""
    if version is None:
        for _ in range(100):
            target = base / str(max([0, *existing_versions(base)]) + 1)
            try:
                os.rename(staging, target)  # fails if a concurrent export took this number
            except OSError:
                continue
            return target
        raise ExportError(f"could not claim a free version number under {base}")
    target = base / str(version)
    if target.exists():
        if not force:
            raise ExportError(f"version {version} already exists at {target}; pass --force to replace it")
        retired = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-replaced-", dir=base))
        os.rename(target, retired / "old")
        os.rename(staging, target)
        shutil.rmtree(retired, ignore_errors=True)
        return target
    os.rename(staging, target)
    return target
