"""Versions in object storage, and when one is complete enough to copy and load.

A base path `s3://bucket/models/m` is listed whole (every object under `models/m/`, one paginated call)
and its objects are grouped by the first path segment, named as `protocol.layout.parse_version` reads
it. An object store has no rename, so a version appears file by file while it is uploaded; a version
counts (for the version policy, and so for loading) only once it is complete:

- with the marker `<version>/_SUCCESS` (protocol.object_store.marker; the exporter writes it last):
  complete at once, or, when the marker holds a manifest, once every file it lists is listed with its
  size;
- without it (versions uploaded by `gsutil cp -r`, `aws s3 sync`, ...): once it looks like a whole
  SavedModel (`saved_model.pb` or `.pbtxt`; with any `variables/`, the index and every data shard its
  name counts) and its listing (names, sizes, etags) has not changed for `quiet_seconds`, seen over
  at least two polls. A negative `quiet_seconds` serves marked versions only.

Incomplete versions are invisible, as the exporter's staging directories are on disk. A version that
stops being complete (its marker deleted, a file removed) stops being aspired, like one deleted.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from protocol.layout import parse_version
from protocol.object_store import ObjectInfo, ObjectURL, StoreError, StoreOptions
from protocol.object_store.marker import MARKER, MAX_MARKER_BYTES, read_manifest
from serving.errors import Code, ServingError

log = logging.getLogger("serving")

MAX_OBJECTS = 100_000  # objects under one base path; more is an error, not an endless listing


@dataclass(frozen=True)
class ObjectStorageOptions:
    cache_dir: str = ""  # parent of the local copies' cache; "" = the system temporary directory
    cache_bytes: int = 8 << 30  # the most all local copies together may hold
    quiet_seconds: float = 30.0  # unmarked versions: how long their listing must stay the same (< 0: never)
    store: StoreOptions = field(default_factory=StoreOptions)


SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")
VARIABLES_INDEX = "variables/variables.index"
_SHARD = re.compile(r"^variables/variables\.data-(\d+)-of-(\d+)$")


@dataclass
class RemoteVersion:
    """One version directory in the bucket: its URL and its objects by path relative to it."""

    version: int
    url: ObjectURL
    files: dict[str, ObjectInfo] = field(default_factory=dict)

    @property
    def marker(self) -> ObjectInfo | None:
        return self.files.get(MARKER)

    @property
    def payload(self) -> dict[str, ObjectInfo]:
        """The files to copy: everything but the marker."""
        return {path: info for path, info in self.files.items() if path != MARKER}

    def signature(self) -> tuple:
        return tuple(sorted((path, info.size, info.etag) for path, info in self.files.items()))


def group_versions(objects: list[ObjectInfo], base: ObjectURL, model_name: str) -> dict[int, RemoteVersion]:
    """The version directories under `base` (objects whose first segment below it names a version). Two
    directories naming one version (`1`, `0001`): the later one by name is taken, as on disk."""
    by_child: dict[str, list[tuple[str, ObjectInfo]]] = {}
    for info in objects:
        child, _, path = info.key[len(base.prefix) :].partition("/")
        if path and not path.endswith("/"):  # "directory" placeholder objects hold nothing
            by_child.setdefault(child, []).append((path, info))
    chosen: dict[int, str] = {}
    for child in sorted(by_child):
        version = parse_version(child)
        if version is None:
            continue
        if version in chosen:
            log.warning(
                "Duplicate version directories detected. Version %d of %s will be loaded from %s, %s will be ignored.",
                version,
                model_name,
                child,
                chosen[version],
            )
        chosen[version] = child
    return {
        version: RemoteVersion(version, base.child(child), dict(by_child[child])) for version, child in chosen.items()
    }


def copy_plan(version: RemoteVersion, manifest: Mapping[str, int] | None) -> dict[str, ObjectInfo]:
    """The files to copy for a complete version; UNAVAILABLE when the listing does not match the manifest."""
    payload = version.payload
    if manifest is None:
        return payload
    missing = [path for path, size in manifest.items() if path not in payload or payload[path].size != size]
    if missing:
        raise ServingError(
            Code.UNAVAILABLE,
            f"{version.url} is not complete: {len(missing)} of the {len(manifest)} files its {MARKER} lists are "
            f"missing or of another size (first: {sorted(missing)[0]})",
        )
    return {path: payload[path] for path in manifest}


def looks_whole(files: Mapping[str, ObjectInfo]) -> str | None:
    """None when the files hold a whole SavedModel as far as names tell; else what is missing."""
    if not any(name in files for name in SAVED_MODEL_FILES):
        return "no saved_model.pb yet"
    variables = [path for path in files if path.startswith("variables/")]
    if not variables:
        return None
    if VARIABLES_INDEX not in files:
        return f"no {VARIABLES_INDEX} yet"
    shards = [m for m in (_SHARD.match(path) for path in variables) if m]
    if not shards:
        return "no variables data shard yet"
    counts = {int(m.group(2)) for m in shards}
    present = {int(m.group(1)) for m in shards}
    if len(counts) != 1 or present != set(range(counts.pop())):
        return "not every variables data shard yet"
    return None


MarkerReader = Callable[[str], bytes]  # key -> the marker's bytes (StoreError on failure)


def marker_manifest(version: RemoteVersion, read: MarkerReader) -> dict[str, int] | None:
    """The manifest in the version's marker; None for a plain (or oversized) marker."""
    marker = version.marker
    if marker is None or marker.size > MAX_MARKER_BYTES or marker.size == 0:
        return None
    return read_manifest(read(marker.key))


class Completion:
    """When each version of one model is complete (see the module's rules). It remembers, across polls,
    the manifests it read (by the marker's etag) and since when each unmarked version's listing is the same."""

    def __init__(self, model_name: str, quiet_seconds: float, clock: Callable[[], float] = time.monotonic):
        self.model_name = model_name
        self.quiet_seconds = quiet_seconds
        self._clock = clock
        self._manifests: dict[tuple[int, str], dict[str, int] | None] = {}  # (version, marker etag) -> manifest
        self._unchanged_since: dict[int, tuple[tuple, float, int]] = {}  # version -> (signature, since, polls)
        self._told: dict[int, str] = {}  # version -> the last reason logged for waiting

    def manifest(self, version: RemoteVersion, read: MarkerReader) -> dict[str, int] | None:
        """The marker's manifest (None for a plain marker), read once per marker etag."""
        key = (version.version, version.marker.etag)
        if key not in self._manifests:
            self._manifests[key] = marker_manifest(version, read)
        return self._manifests[key]

    def complete(self, versions: Mapping[int, RemoteVersion], read: MarkerReader) -> dict[int, RemoteVersion]:
        """The complete ones of `versions`. StoreError when a marker cannot be read."""
        now = self._clock()
        complete: dict[int, RemoteVersion] = {}
        for number, version in versions.items():
            waiting = self._waiting(version, read, now)
            if waiting is None:
                complete[number] = version
                self._told.pop(number, None)
            elif self._told.get(number) != waiting:
                self._told[number] = waiting
                log.info(
                    "Version %d of servable %s at %s is not complete: %s", number, self.model_name, version.url, waiting
                )
        for gone in set(self._unchanged_since) - set(versions):
            del self._unchanged_since[gone]
        for gone in set(self._told) - set(versions):
            del self._told[gone]
        self._manifests = {k: v for k, v in self._manifests.items() if k[0] in versions}
        return complete

    def _waiting(self, version: RemoteVersion, read: MarkerReader, now: float) -> str | None:
        if version.marker is not None:
            self._unchanged_since.pop(version.version, None)
            try:
                copy_plan(version, self.manifest(version, read))
            except ServingError as e:
                return e.message.split(" is not complete: ", 1)[-1]
            return None
        if self.quiet_seconds < 0:
            return f"no {MARKER} marker (unmarked versions are not served: --object_storage_quiet_seconds < 0)"
        missing = looks_whole(version.files)
        signature = version.signature()
        seen = self._unchanged_since.get(version.version)
        if seen is None or seen[0] != signature:
            seen = (signature, now, 1)
        else:
            seen = (signature, seen[1], seen[2] + 1)
        self._unchanged_since[version.version] = seen
        if missing is not None:
            return f"no {MARKER} marker, and {missing}"
        if seen[2] < 2 or now - seen[1] < self.quiet_seconds:
            return (
                f"no {MARKER} marker: served once its listing has not changed for "
                f"{self.quiet_seconds:g} s (--object_storage_quiet_seconds)"
            )
        return None


def store_error(error: StoreError) -> ServingError:
    """A StoreError as the ServingError with the same canonical code."""
    return ServingError(getattr(Code, error.code, Code.UNKNOWN), error.message)
