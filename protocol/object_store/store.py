"""The interface the server and the exporter use over a bucket, its errors and its time bounds.

Every call has a connect and a read timeout and a bounded number of attempts, so an endpoint that
accepts connections and never answers costs at most about `attempts x timeout_s` per call, then a
StoreError. Errors carry a canonical code name (protocol.status.CODE_NAMES) and a message that names
the URL and says what went wrong in words; the SDKs' exceptions never leave this package.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from protocol.object_store.url import ObjectURL, parse_url


@dataclass(frozen=True)
class StoreOptions:
    timeout_s: float = 10.0  # connect and read timeout of each request
    attempts: int = 3  # tries of one call, retries included (transient errors and timeouts only)


@dataclass(frozen=True)
class ObjectInfo:
    key: str  # the whole key, e.g. "models/m/3/saved_model.pb"
    size: int
    etag: str  # changes whenever the object is written again (S3 ETag, GCS generation)


class StoreError(Exception):
    """A failed call: `code` is a canonical code name (NOT_FOUND, PERMISSION_DENIED, UNAUTHENTICATED,
    UNAVAILABLE, DEADLINE_EXCEEDED, ...); `message` names the URL and the cause."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class Store(Protocol):
    """One bucket. Keys are whole keys ("models/m/3/saved_model.pb"); `url(key)` writes one back as a URL."""

    scheme: str
    bucket: str

    def list(self, prefix: str, limit: int) -> list[ObjectInfo]:
        """Every object whose key starts with `prefix` (no delimiter: the whole tree), sorted by key;
        RESOURCE_EXHAUSTED when there are more than `limit`. A missing bucket is NOT_FOUND."""
        ...

    def read(self, key: str, limit: int) -> bytes:
        """A small object's bytes; FAILED_PRECONDITION when it is larger than `limit`."""
        ...

    def download(self, key: str, path: str) -> None:
        """The object into the local file `path` (created or replaced), checked against its checksum."""
        ...

    def upload(self, path: str, key: str) -> None: ...

    def put(self, key: str, data: bytes) -> None: ...

    def delete(self, keys: Sequence[str]) -> None:
        """Deletes the objects (missing ones are no error)."""
        ...


def url_of(store: Store, key: str) -> str:
    return str(ObjectURL(store.scheme, store.bucket, key))


_clients: dict[tuple, object] = {}
_clients_lock = threading.Lock()
_ENVIRONMENT = {"s3": ("AWS_",), "gs": ("GOOGLE_", "STORAGE_EMULATOR_HOST", "GCLOUD_", "CLOUDSDK_")}


def _client(scheme: str, options: StoreOptions):
    """One SDK client per scheme, options and environment (both SDKs' clients are safe to share between
    threads, and building one reads the environment and may look up credentials)."""
    environment = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith(_ENVIRONMENT[scheme])))
    key = (scheme, options, environment)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            if scheme == "s3":
                from protocol.object_store import s3

                client = s3.client(options)
            else:
                from protocol.object_store import gcs

                client = gcs.client(options)
            _clients[key] = client
        return client


def open_store(url: str | ObjectURL, options: StoreOptions = StoreOptions()) -> Store:
    """The Store of the bucket `url` names. StoreError UNIMPLEMENTED when the SDK is not installed,
    UNAUTHENTICATED when no credentials can be found."""
    parsed = url if isinstance(url, ObjectURL) else parse_url(url)
    try:
        client = _client(parsed.scheme, options)
    except ImportError as e:
        raise StoreError(
            "UNIMPLEMENTED",
            f"{parsed}: reading {parsed.scheme}:// needs {e.name or 'its SDK'}: "
            "pip install 'keras-to-serving[object-storage]'",
        ) from None
    if parsed.scheme == "s3":
        from protocol.object_store.s3 import S3Store

        return S3Store(client, parsed.bucket, options)
    from protocol.object_store.gcs import GCSStore

    return GCSStore(client, parsed.bucket, options)
