"""Google Cloud Storage through google-cloud-storage: the SDK authenticates, retries and reads the standard
environment (GOOGLE_APPLICATION_CREDENTIALS, gcloud's application-default credentials, workload identity and
the metadata server; STORAGE_EMULATOR_HOST points it at an emulator, without credentials)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import google.auth.exceptions
import requests
from google.api_core import exceptions as api_exceptions
from google.cloud import storage
from google.cloud.storage.retry import DEFAULT_RETRY

from protocol.object_store.store import ObjectInfo, StoreError, StoreOptions, url_of

_CODES = (  # most specific first
    (api_exceptions.NotFound, "NOT_FOUND", "not found"),
    (api_exceptions.Forbidden, "PERMISSION_DENIED", "access denied"),
    (api_exceptions.Unauthorized, "UNAUTHENTICATED", "the credentials were refused"),
    (api_exceptions.PreconditionFailed, "ALREADY_EXISTS", "it changed meanwhile"),
    (api_exceptions.TooManyRequests, "UNAVAILABLE", "the service is busy"),
    (api_exceptions.ServerError, "UNAVAILABLE", "the service failed"),
)


def client(options: StoreOptions):
    try:
        return storage.Client()
    except google.auth.exceptions.DefaultCredentialsError as e:
        raise StoreError(
            "UNAUTHENTICATED", f"gs://: no Google credentials ({e}); set GOOGLE_APPLICATION_CREDENTIALS"
        ) from None


@contextlib.contextmanager
def _errors(url: str, options: StoreOptions) -> Iterator[None]:
    """The SDK's exceptions as StoreErrors that say what happened to `url`."""
    try:
        yield
    except StoreError:
        raise
    except api_exceptions.RetryError as e:  # the attempts ran out: report what the last one met
        cause = e.cause
        if isinstance(cause, requests.exceptions.Timeout) or cause is None:
            raise StoreError(
                "DEADLINE_EXCEEDED",
                f"{url}: the endpoint did not answer within {options.timeout_s:g} s ({options.attempts} attempts)",
            ) from None
        with _errors(url, options):
            raise cause from None
    except requests.exceptions.Timeout:
        raise StoreError(
            "DEADLINE_EXCEEDED", f"{url}: the endpoint did not answer within {options.timeout_s:g} s"
        ) from None
    except requests.exceptions.ConnectionError as e:
        raise StoreError("UNAVAILABLE", f"{url}: cannot reach the endpoint ({type(e).__name__})") from None
    except (google.auth.exceptions.RefreshError, google.auth.exceptions.DefaultCredentialsError) as e:
        raise StoreError("UNAUTHENTICATED", f"{url}: no usable Google credentials ({e})") from None
    except api_exceptions.GoogleAPICallError as e:
        for kind, name, what in _CODES:
            if isinstance(e, kind):
                raise StoreError(name, f"{url}: {what} ({e.code} {e.message})") from None
        raise StoreError("UNKNOWN", f"{url}: the request failed ({e.code} {e.message})") from None
    except OSError as e:  # writing the downloaded file
        raise StoreError("INTERNAL", f"{url}: {e.strerror or e}") from None
    except Exception as e:  # noqa: BLE001 - google-resumable-media's checksum and response errors
        if type(e).__name__ == "DataCorruption":
            raise StoreError("DATA_LOSS", f"{url}: the download did not match its checksum") from None
        raise StoreError("UNKNOWN", f"{url}: {type(e).__name__}: {e}") from None


class GCSStore:
    scheme = "gs"

    def __init__(self, client, bucket: str, options: StoreOptions):
        self._client = client
        self.bucket = bucket
        self._options = options
        self._timeout = (options.timeout_s, options.timeout_s)
        self._retry = DEFAULT_RETRY.with_timeout(options.timeout_s * max(options.attempts, 1))

    def _calls(self, url: str):
        return _errors(url, self._options)

    def list(self, prefix: str, limit: int) -> list[ObjectInfo]:
        found: list[ObjectInfo] = []
        with self._calls(url_of(self, prefix)):
            blobs = self._client.list_blobs(
                self.bucket, prefix=prefix, page_size=1000, timeout=self._timeout, retry=self._retry
            )
            for blob in blobs:
                found.append(ObjectInfo(blob.name, int(blob.size or 0), str(blob.generation)))
                if len(found) > limit:
                    raise StoreError("RESOURCE_EXHAUSTED", f"{url_of(self, prefix)}: more than {limit} objects")
        return sorted(found, key=lambda o: o.key)

    def read(self, key: str, limit: int) -> bytes:
        with self._calls(url_of(self, key)):
            blob = self._client.bucket(self.bucket).blob(key)
            data = blob.download_as_bytes(start=0, end=limit, timeout=self._timeout, retry=self._retry)
        if len(data) > limit:
            raise StoreError("FAILED_PRECONDITION", f"{url_of(self, key)}: larger than {limit} bytes")
        return data

    def download(self, key: str, path: str) -> None:
        with self._calls(url_of(self, key)):
            blob = self._client.bucket(self.bucket).blob(key)
            blob.download_to_filename(path, timeout=self._timeout, retry=self._retry, checksum="auto")

    def upload(self, path: str, key: str) -> None:
        with self._calls(url_of(self, key)):
            blob = self._client.bucket(self.bucket).blob(key)
            blob.upload_from_filename(path, timeout=self._timeout, retry=self._retry, checksum="auto")

    def put(self, key: str, data: bytes) -> None:
        with self._calls(url_of(self, key)):
            blob = self._client.bucket(self.bucket).blob(key)
            blob.upload_from_string(data, timeout=self._timeout, retry=self._retry)

    def delete(self, keys: Sequence[str]) -> None:
        bucket = self._client.bucket(self.bucket)
        for key in keys:
            with self._calls(url_of(self, key)), contextlib.suppress(api_exceptions.NotFound):
                bucket.blob(key).delete(timeout=self._timeout, retry=self._retry)
