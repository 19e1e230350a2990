"""Object-storage URLs: `s3://bucket/prefix` and `gs://bucket/prefix`, as base paths and as version paths."""

from __future__ import annotations

from dataclasses import dataclass

SCHEMES = ("s3", "gs")


@dataclass(frozen=True)
class ObjectURL:
    """`scheme://bucket/key`; `key` has no leading or trailing slash ("" is the whole bucket)."""

    scheme: str
    bucket: str
    key: str

    def __str__(self) -> str:
        return f"{self.scheme}://{self.bucket}/{self.key}" if self.key else f"{self.scheme}://{self.bucket}"

    @property
    def prefix(self) -> str:
        """The key prefix of everything under this URL, as a directory: "models/m/" ("" for the bucket)."""
        return f"{self.key}/" if self.key else ""

    def child(self, name: str) -> ObjectURL:
        name = name.strip("/")
        return ObjectURL(self.scheme, self.bucket, f"{self.key}/{name}" if self.key else name)


def is_remote(path: str) -> bool:
    """Whether `path` names object storage (s3:// or gs://) rather than a local directory."""
    scheme, sep, _ = str(path).partition("://")
    return bool(sep) and scheme.lower() in SCHEMES


def parse_url(path: str) -> ObjectURL:
    """`s3://bucket/a/b/` -> ObjectURL("s3", "bucket", "a/b"); ValueError with the reason otherwise."""
    scheme, sep, rest = str(path).partition("://")
    if not sep or scheme.lower() not in SCHEMES:
        raise ValueError(f"{path} is not an s3:// or gs:// URL")
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise ValueError(f"{path} names no bucket (expected {scheme}://bucket/prefix)")
    key = key.strip("/")
    if "//" in key or any(part in (".", "..") for part in key.split("/")):
        raise ValueError(f"{path} has an empty, '.' or '..' path segment")
    return ObjectURL(scheme.lower(), bucket, key)
