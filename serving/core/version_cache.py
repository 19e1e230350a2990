"""Local copies of versions that live in object storage, and the loader hand-off that uses them.

The source aspires to a remote version by its URL; the lifecycle hands that URL to the loader like
any path. `CachingLoader` copies the version into the cache first (on the load worker, so its
status is LOADING meanwhile and a failed copy is a failed load: retried, then END with the reason),
and calls the SavedModel loader on the local copy only once every file is there with its listed size.
The copy is removed when the version is unloaded, or when its load fails.

The cache is bounded: a copy reserves the version's listed size before it starts and is refused
(RESOURCE_EXHAUSTED) when that would take the cache past `max_bytes`, so copies never fill the disk
beyond it; a swap needs room for two versions. The cache lives in a directory of its own under
`parent` (the system temporary directory by default), locked while this process lives; a server that
died leaves its directory unlocked, and the next one removes it.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable
from typing import Any

from protocol.object_store import ObjectURL, StoreError, is_remote, open_store, parse_url
from protocol.object_store.marker import MAX_MARKER_BYTES
from serving.core.remote_versions import (
    MAX_OBJECTS,
    ObjectStorageOptions,
    copy_plan,
    group_versions,
    marker_manifest,
    store_error,
)
from serving.errors import Code, ServingError

log = logging.getLogger("serving")

CACHE_PREFIX = "serving-cache-"
LOCK_NAME = ".lock"


class VersionCache:
    def __init__(self, options: ObjectStorageOptions):
        self.options = options
        parent = options.cache_dir or tempfile.gettempdir()
        os.makedirs(parent, exist_ok=True)
        _remove_stale(parent)
        self.root = tempfile.mkdtemp(prefix=CACHE_PREFIX, dir=parent)
        self._lock_fd = os.open(os.path.join(self.root, LOCK_NAME), os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        self._mutex = threading.Lock()
        self._reserved: dict[str, int] = {}  # local copy -> the bytes it reserved

    @property
    def used_bytes(self) -> int:
        with self._mutex:
            return sum(self._reserved.values())

    def fetch(self, name: str, version: int, url: str) -> str:
        """A complete local copy of the version at `url`; ServingError when it cannot be made."""
        parsed = parse_url(url)
        store = open_store(parsed, self.options.store)
        try:
            listed = store.list(parsed.prefix, MAX_OBJECTS)
            entry = group_versions(listed, _parent(parsed), name).get(version)
            if entry is None:
                raise ServingError(Code.NOT_FOUND, f"{url} holds no files any more")
            manifest = marker_manifest(entry, lambda key: store.read(key, MAX_MARKER_BYTES)) if entry.marker else None
        except StoreError as e:
            raise store_error(e) from None
        plan = copy_plan(entry, manifest)
        for path in plan:
            _check_relative(path, url)
        size = sum(info.size for info in plan.values())
        local = os.path.join(self.root, f"{_safe(name)}-{version}-{os.urandom(4).hex()}")
        self._reserve(local, size, url)
        try:
            for path, info in plan.items():
                target = os.path.join(local, *path.split("/"))
                os.makedirs(os.path.dirname(target), exist_ok=True)
                store.download(info.key, target)
                got = os.path.getsize(target)
                if got != info.size:
                    raise ServingError(
                        Code.UNAVAILABLE, f"{url}/{path} changed while it was copied ({got} bytes, listed {info.size})"
                    )
        except StoreError as e:
            self.release(local)
            raise store_error(e) from None
        except OSError as e:
            self.release(local)
            raise ServingError(Code.INTERNAL, f"copying {url} into {self.root}: {e.strerror or e}") from None
        except BaseException:
            self.release(local)
            raise
        log.info("Copied %s (%d files, %d bytes) to %s", url, len(plan), size, local)
        return local

    def _reserve(self, local: str, size: int, url: str) -> None:
        with self._mutex:
            used = sum(self._reserved.values())
            if used + size > self.options.cache_bytes:
                raise ServingError(
                    Code.RESOURCE_EXHAUSTED,
                    f"{url} needs {size} bytes; the object-storage cache holds {used} of its "
                    f"{self.options.cache_bytes} (--object_storage_cache_bytes)",
                )
            self._reserved[local] = size

    def release(self, local: str) -> None:
        """Removes a copy and gives its bytes back."""
        shutil.rmtree(local, ignore_errors=True)
        with self._mutex:
            self._reserved.pop(local, None)

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        with contextlib.suppress(OSError):
            os.close(self._lock_fd)


def _parent(url: ObjectURL) -> ObjectURL:
    """The base path a version URL sits in (s3://b/models/m/3 -> s3://b/models/m)."""
    return ObjectURL(url.scheme, url.bucket, url.key.rpartition("/")[0])


def _check_relative(path: str, url: str) -> None:
    """An object key that would land outside the copy (`..`, an absolute or empty segment) fails the load."""
    parts = path.split("/")
    if not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ServingError(Code.INVALID_ARGUMENT, f"{url} holds an object that is not a plain relative path: {path!r}")


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:64] or "model"


def _remove_stale(parent: str) -> None:
    """Removes the caches of servers that are gone (their lock is free)."""
    try:
        names = os.listdir(parent)
    except OSError:
        return
    for name in names:
        root = os.path.join(parent, name)
        if not name.startswith(CACHE_PREFIX) or not os.path.isdir(root):
            continue
        try:
            fd = os.open(os.path.join(root, LOCK_NAME), os.O_RDWR)
        except OSError:
            continue  # no lock file: not one of ours, or one being created
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue  # a live server holds it
        shutil.rmtree(root, ignore_errors=True)
        os.close(fd)
        log.info("Removed the object-storage cache %s of a server that is gone", root)


Loader = Callable[[str, int, str], Any]
Unloader = Callable[[Any], None]


class CachingLoader:
    """The loader hand-off: remote versions are copied into the cache and loaded from the copy; local
    ones load as they are. The copy of a loaded version is removed when it is unloaded."""

    def __init__(self, load: Loader, unload: Unloader, cache: Callable[[], VersionCache]):
        self._load = load
        self._unload = unload
        self._cache = cache  # made on first use: a server of local models never creates one
        self._copies: dict[int, str] = {}  # id(servable) -> its local copy
        self._lock = threading.Lock()

    def load(self, name: str, version: int, path: str) -> Any:
        if not is_remote(path):
            return self._load(name, version, path)
        cache = self._cache()
        local = cache.fetch(name, version, path)
        try:
            servable = self._load(name, version, local)
        except BaseException:
            cache.release(local)
            raise
        with self._lock:
            self._copies[id(servable)] = local
        return servable

    def unload(self, servable: Any) -> None:
        try:
            self._unload(servable)
        finally:
            with self._lock:
                local = self._copies.pop(id(servable), None)
            if local is not None:
                self._cache().release(local)
