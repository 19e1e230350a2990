"""S3 and S3-compatible stores (MinIO, Ceph, R2, moto) through boto3: the SDK signs, retries and reads the
standard environment (AWS_ACCESS_KEY_ID/SECRET/SESSION_TOKEN, AWS_REGION, AWS_ENDPOINT_URL, AWS_PROFILE and the
shared config files, web identity tokens, instance roles)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import boto3
import botocore.config
import botocore.exceptions
from boto3.s3.transfer import TransferConfig

from protocol.object_store.store import ObjectInfo, StoreError, StoreOptions, url_of

_CODES = {  # S3 error codes -> canonical code names
    "NoSuchBucket": "NOT_FOUND",
    "NoSuchKey": "NOT_FOUND",
    "404": "NOT_FOUND",
    "NotFound": "NOT_FOUND",
    "AccessDenied": "PERMISSION_DENIED",
    "AllAccessDisabled": "PERMISSION_DENIED",
    "403": "PERMISSION_DENIED",
    "InvalidAccessKeyId": "UNAUTHENTICATED",
    "SignatureDoesNotMatch": "UNAUTHENTICATED",
    "ExpiredToken": "UNAUTHENTICATED",
    "InvalidToken": "UNAUTHENTICATED",
    "TokenRefreshRequired": "UNAUTHENTICATED",
    "SlowDown": "UNAVAILABLE",
    "ServiceUnavailable": "UNAVAILABLE",
    "InternalError": "UNAVAILABLE",
    "RequestTimeout": "DEADLINE_EXCEEDED",
    "PreconditionFailed": "ALREADY_EXISTS",
}


def client(options: StoreOptions):
    config = botocore.config.Config(
        connect_timeout=options.timeout_s,
        read_timeout=options.timeout_s,
        retries={"total_max_attempts": max(options.attempts, 1), "mode": "standard"},
    )
    return boto3.session.Session().client("s3", config=config)


@contextlib.contextmanager
def _errors(url: str, options: StoreOptions) -> Iterator[None]:
    """The SDK's exceptions as StoreErrors that say what happened to `url`."""
    try:
        yield
    except StoreError:
        raise
    except botocore.exceptions.ClientError as e:
        error = e.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        name = _CODES.get(code) or ("UNAVAILABLE" if status >= 500 else "UNKNOWN")
        what = {
            "NOT_FOUND": "not found",
            "PERMISSION_DENIED": "access denied",
            "UNAUTHENTICATED": "the credentials were refused",
        }.get(name, "the request failed")
        detail = f"{code}: {error.get('Message')}" if error.get("Message") else code or f"HTTP {status}"
        raise StoreError(name, f"{url}: {what} ({detail})") from None
    except (botocore.exceptions.NoCredentialsError, botocore.exceptions.PartialCredentialsError) as e:
        raise StoreError(
            "UNAUTHENTICATED",
            f"{url}: no usable AWS credentials ({e}); set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
            "AWS_PROFILE or a role",
        ) from None
    except (botocore.exceptions.ConnectTimeoutError, botocore.exceptions.ReadTimeoutError):
        raise StoreError(
            "DEADLINE_EXCEEDED",
            f"{url}: the endpoint did not answer within {options.timeout_s:g} s ({options.attempts} attempts)",
        ) from None
    except (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectionError) as e:
        raise StoreError("UNAVAILABLE", f"{url}: cannot reach the endpoint ({e})") from None
    except botocore.exceptions.BotoCoreError as e:
        raise StoreError("UNAVAILABLE", f"{url}: {e}") from None
    except OSError as e:  # writing the downloaded file
        raise StoreError("INTERNAL", f"{url}: {e.strerror or e}") from None


class S3Store:
    scheme = "s3"

    def __init__(self, client, bucket: str, options: StoreOptions):
        self._client = client
        self.bucket = bucket
        self._options = options
        self._transfer = TransferConfig(max_concurrency=4, num_download_attempts=max(options.attempts, 1))

    def list(self, prefix: str, limit: int) -> list[ObjectInfo]:
        found: list[ObjectInfo] = []
        with _errors(url_of(self, prefix), self._options):
            pages = self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
            for page in pages:
                for item in page.get("Contents", []):
                    found.append(ObjectInfo(item["Key"], int(item["Size"]), str(item.get("ETag", "")).strip('"')))
                if len(found) > limit:
                    raise StoreError("RESOURCE_EXHAUSTED", f"{url_of(self, prefix)}: more than {limit} objects")
        return sorted(found, key=lambda o: o.key)

    def read(self, key: str, limit: int) -> bytes:
        with _errors(url_of(self, key), self._options):
            reply = self._client.get_object(Bucket=self.bucket, Key=key)
            with contextlib.closing(reply["Body"]) as body:
                data = body.read(limit + 1) if int(reply.get("ContentLength", 0)) <= limit else b""
        if len(data) > limit or int(reply.get("ContentLength", 0)) > limit:
            raise StoreError("FAILED_PRECONDITION", f"{url_of(self, key)}: larger than {limit} bytes")
        return data

    def download(self, key: str, path: str) -> None:
        with _errors(url_of(self, key), self._options):
            self._client.download_file(self.bucket, key, path, Config=self._transfer)

    def upload(self, path: str, key: str) -> None:
        with _errors(url_of(self, key), self._options):
            self._client.upload_file(path, self.bucket, key, Config=self._transfer)

    def put(self, key: str, data: bytes) -> None:
        with _errors(url_of(self, key), self._options):
            self._client.put_object(Bucket=self.bucket, Key=key, Body=data)

    def delete(self, keys: Sequence[str]) -> None:
        keys = list(keys)
        for start in range(0, len(keys), 1000):  # DeleteObjects takes at most 1000 keys
            batch = keys[start : start + 1000]
            with _errors(url_of(self, batch[0]), self._options):
                reply = self._client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True}
                )
            failed = [e for e in reply.get("Errors", []) if e.get("Code") != "NoSuchKey"]
            if failed:
                first = failed[0]
                name = _CODES.get(str(first.get("Code")), "UNKNOWN")
                where = url_of(self, first.get("Key", ""))
                raise StoreError(name, f"{where}: not deleted ({first.get('Code')}: {first.get('Message')})")
