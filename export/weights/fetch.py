"""Fetch a preset's file into the cache: once, checked, resumable; the same for every model.

A download streams to ``.partial-<file>`` beside its place in the cache (the suffix kept: the format
checks read it), with progress. An interrupted
transfer resumes from the bytes already there (HTTP Range) on the next try or the next run. The
complete file is hash-checked (MD5 or SHA-256 as published; a mismatch removes it and says so in
one line) and structure-checked (``Preset.check``), its SHA-256 is recorded in ``<file>.json``, and
only then is it renamed into place: a file in the cache with its record is complete and verified,
and is used as it is from then on. A file put there by hand (an air-gapped machine) is verified
once and recorded. Concurrent fetches of one file take turns on ``<file>.lock``: one downloads,
the others find it in the cache.

Environment:

- ``KTS_WEIGHTS_CACHE``: the cache directory (default ``$XDG_CACHE_HOME/keras-to-serving/weights``,
  ``~/.cache/keras-to-serving/weights`` without XDG_CACHE_HOME);
- ``KTS_WEIGHTS_MIRROR``: a base URL serving the files under their published names
  (``<mirror>/detr-r50-e632da11.pth``), used instead of the publishers' hosts;
- ``KTS_OFFLINE=1``: never download; use the cache or say what to fetch and how;
- ``KTS_WEIGHTS_TIMEOUT``: seconds without data before a try is abandoned (default 30);
- ``KTS_WEIGHTS_RETRIES``: further tries after a failed one (default 4), each resuming.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import hashlib
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from export.errors import ExportError
from export.progress import Meter, step
from export.weights import google_drive
from export.weights.presets import GOOGLE_DRIVE, Preset

CACHE_ENV = "KTS_WEIGHTS_CACHE"
MIRROR_ENV = "KTS_WEIGHTS_MIRROR"
OFFLINE_ENV = "KTS_OFFLINE"
TIMEOUT_ENV = "KTS_WEIGHTS_TIMEOUT"
RETRIES_ENV = "KTS_WEIGHTS_RETRIES"
DEFAULT_TIMEOUT = 30.0
DEFAULT_RETRIES = 4
CONNECT_TIMEOUT = 15.0
CHUNK = 1 << 20
MAX_PAGE = 1 << 20  # an HTML answer (Drive's pages) is read up to this many bytes
FINAL_STATUSES = (400, 401, 403, 404, 405, 410, 451)


@dataclass(frozen=True)
class Fetched:
    """A verified file in the cache: where it is, its SHA-256, where it came from, whether it was downloaded now."""

    preset: Preset
    path: Path
    sha256: str
    url: str
    downloaded: bool

    def record(self) -> dict[str, str]:
        """export_info.json's account of the weights: the preset's facts and this file's SHA-256."""
        return {**self.preset.record(self.sha256), "fetched_from": self.url}


class _Retry(Exception):
    """A failure another try may get past (connection, timeout, cut transfer, 5xx)."""


def cache_root() -> Path:
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "keras-to-serving" / "weights"


def cached_path(preset: Preset) -> Path:
    return cache_root() / preset.model / preset.file_name


def partial_path(path: Path) -> Path:
    """Where a download of ``path`` grows until it is verified (kept between runs, for resuming)."""
    return path.with_name(".partial-" + path.name)


def is_offline() -> bool:
    return os.environ.get(OFFLINE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def source_url(preset: Preset) -> str:
    """The mirror's URL for the file when ``KTS_WEIGHTS_MIRROR`` is set, else the official one."""
    mirror = os.environ.get(MIRROR_ENV, "").strip()
    return f"{mirror.rstrip('/')}/{preset.file_name}" if mirror else preset.url


def _number(env: str, default: float, kind: type) -> float:
    text = os.environ.get(env, "").strip()
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        raise ExportError(f"{env} must be a number, got {text!r}") from None
    if value < 0:
        raise ExportError(f"{env} must be >= 0, got {text!r}")
    return value


def _record_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def _read_record(path: Path) -> dict | None:
    try:
        record = json.loads(_record_path(path).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("size") != path.stat().st_size or "sha256" not in record:
        return None
    return record


def cached(preset: Preset) -> Fetched | None:
    """The preset's verified file if the cache has it (a file without its record is not trusted yet)."""
    path = cached_path(preset)
    if not path.is_file():
        return None
    record = _read_record(path)
    if record is None:
        return None
    return Fetched(preset, path, record["sha256"], record.get("url", preset.url), downloaded=False)


def _digests(path: Path) -> dict[str, str]:
    sha256, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            sha256.update(block)
            md5.update(block)
    return {"sha256": sha256.hexdigest(), "md5": md5.hexdigest()}


def verify(preset: Preset, path: Path) -> str:
    """Check ``path`` against the published checksum and the official structure; returns its SHA-256.

    A file that fails is removed and the failure is one ExportError line.
    """
    digests = _digests(path)
    if preset.checksum is not None:
        kind, _, want = preset.checksum.partition(":")
        if not digests[kind].startswith(want):
            path.unlink(missing_ok=True)
            raise ExportError(
                f"{preset.key}: {path.name} has {kind} {digests[kind][: max(len(want), 12)]}…, the publisher's is "
                f"{want}: the file is damaged or not the published one; removed (fetch again)"
            )
    try:
        preset.check(path)
    except ExportError as error:
        path.unlink(missing_ok=True)
        raise ExportError(f"{preset.key}: the fetched file is not the official format ({error}); removed") from None
    return digests["sha256"]


def _write_record(path: Path, sha256: str, url: str) -> None:
    record = {
        "sha256": sha256,
        "size": path.stat().st_size,
        "url": url,
        "fetched": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    temporary = _record_path(path).with_suffix(".json.tmp")
    temporary.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    os.replace(temporary, _record_path(path))


@contextlib.contextmanager
def _turn(path: Path, preset: Preset) -> Iterator[None]:
    """Hold ``<file>.lock``: one process (or thread) at a time fetches or verifies a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_name(path.name + ".lock"), os.O_CREAT | os.O_RDWR, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            step(f"{preset.key}: waiting for another fetch of {path.name} to finish")
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _offline_error(preset: Preset, path: Path) -> ExportError:
    return ExportError(
        f"{preset.key} is not in the cache ({path}) and {OFFLINE_ENV} is set: run `python -m export weights "
        f"fetch {preset.key}` where {preset.url} is reachable and copy the file to {path}, "
        f"or point {MIRROR_ENV} at a server that has {preset.file_name} and unset {OFFLINE_ENV}"
    )


def fetch(preset: Preset, *, offline: bool | None = None) -> Fetched:
    """The preset's file, verified, from the cache or downloaded into it (see the module docstring)."""
    hit = cached(preset)
    if hit is not None:
        return hit
    path = cached_path(preset)
    offline = is_offline() if offline is None else offline
    if offline and not path.is_file():
        raise _offline_error(preset, path)
    with _turn(path, preset):
        hit = cached(preset)
        if hit is not None:  # fetched by another process while this one waited
            return hit
        if path.is_file():  # put there by hand: verify once, then trust
            step(f"{preset.key}: verifying {path} (found in the cache without its record)")
            sha256 = verify(preset, path)
            _write_record(path, sha256, "placed in the cache by hand")
            return Fetched(preset, path, sha256, "placed in the cache by hand", downloaded=False)
        if offline:
            raise _offline_error(preset, path)
        url = source_url(preset)
        part = partial_path(path)
        _download(preset, url, part)
        step(f"{preset.key}: checking {preset.checksum or 'the structure (no published hash)'}")
        sha256 = verify(preset, part)
        os.replace(part, path)
        _write_record(path, sha256, url)
    print(
        f"{preset.key}: {preset.file_name} is licensed under {preset.licence} ({preset.licence_url}); "
        f"source: {preset.source}",
        file=sys.stderr,
    )
    return Fetched(preset, path, sha256, url, downloaded=True)


def _download(preset: Preset, url: str, part: Path) -> None:
    """Download ``url`` to ``part``, resuming what is there; retried on failures that may pass."""
    import requests

    timeout = _number(TIMEOUT_ENV, DEFAULT_TIMEOUT, float)
    retries = int(_number(RETRIES_ENV, DEFAULT_RETRIES, int))
    step(f"{preset.key}: downloading {preset.file_name} ({preset.size}) from {url}")
    with requests.Session() as session:
        session.headers["User-Agent"] = "keras-to-serving (python -m export weights)"
        for attempt in range(retries + 1):
            try:
                _download_once(session, preset, url, part, timeout)
                return
            except (_Retry, requests.RequestException) as error:
                reason = _reason(error)
                if attempt == retries:
                    kept = part.stat().st_size if part.exists() else 0
                    resume = f"; {kept:,} bytes kept in {part}, the next run resumes" if kept else ""
                    raise ExportError(
                        f"cannot download {preset.key} from {url}: {reason} (after {retries + 1} tries{resume})"
                    ) from None
                delay = min(2.0**attempt, 30.0)
                step(f"{preset.key}: {reason}; try {attempt + 2} of {retries + 1} in {delay:g}s, resuming")
                time.sleep(delay)


def _reason(error: Exception) -> str:
    """What went wrong, in words: the cause requests wraps in its long messages."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    name = type(error).__name__
    if isinstance(error, _Retry):
        return text
    if "NameResolution" in text or "Name or service not known" in text or "Temporary failure in name" in text:
        host = text.split("host='", 1)[1].split("'", 1)[0] if "host='" in text else "the host"
        return f"cannot resolve {host} (no network, or no DNS: see {OFFLINE_ENV} and {MIRROR_ENV})"
    if "timed out" in text.lower() or "Timeout" in name:
        return "no data within the timeout (server stalled)"
    if "Connection refused" in text:
        return "connection refused"
    if "IncompleteRead" in text or "ProtocolError" in text or "Connection broken" in text:
        return "the connection broke during the transfer"
    return f"{name}: {text[:200]}"


def _open(session, url: str, offset: int, timeout: float):
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    return session.get(url, headers=headers, stream=True, timeout=(CONNECT_TIMEOUT, timeout), allow_redirects=True)


def _through_drive_page(session, preset: Preset, response, offset: int, timeout: float):
    """Past Google Drive's confirmation page to the file; a quota page is a final one-line error."""
    for _ in range(3):
        if not response.headers.get("Content-Type", "").startswith("text/html"):
            return response
        page = response.raw.read(MAX_PAGE, decode_content=True).decode("utf-8", "replace")
        response.close()
        if google_drive.quota_exceeded(page):
            raise ExportError(
                f"Google Drive refuses {preset.file_name} for now: too many downloads of it recently (its quota "
                f"resets within a day). Try again later, or download it in a browser from {preset.url} and put it "
                f"at {cached_path(preset)}, or set {MIRROR_ENV} to a server that has it"
            )
        target = google_drive.confirmation_url(page, response.url)
        if target is None:
            raise ExportError(
                f"Google Drive answered {preset.file_name} with a web page that leads to no file "
                f"(the file may have moved): download it in a browser from {preset.url} and put it at "
                f"{cached_path(preset)}"
            )
        response = _open(session, target, offset, timeout)
    raise ExportError(f"Google Drive kept answering {preset.file_name} with confirmation pages")


def _download_once(session, preset: Preset, url: str, part: Path, timeout: float) -> None:
    offset = part.stat().st_size if part.exists() else 0
    response = _open(session, url, offset, timeout)
    if preset.host == GOOGLE_DRIVE and response.ok:
        response = _through_drive_page(session, preset, response, offset, timeout)
    with response:
        status = response.status_code
        if status == 416 and offset:  # nothing after what we have: complete already, or a different file
            total = response.headers.get("Content-Range", "").rpartition("/")[2]
            if total.isdigit() and int(total) == offset:
                return
            part.unlink()
            raise _Retry("the server's file is shorter than the partial download; starting over")
        if status in FINAL_STATUSES:
            raise ExportError(f"cannot download {preset.key}: HTTP {status} {response.reason or ''} from {url}".strip())
        if status not in (200, 206):
            raise _Retry(f"HTTP {status} {response.reason or ''}".strip())
        if status == 206 and not response.headers.get("Content-Range", "").startswith(f"bytes {offset}-"):
            part.unlink(missing_ok=True)
            raise _Retry("the server resumed at another offset; starting over")
        if status == 200:
            offset = 0  # the server sends the whole file (no Range support)
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length and length.isdigit() else None
        meter = Meter(f"{preset.file_name}", total, offset)
        try:
            with open(part, "ab" if status == 206 else "wb") as f:
                # read1: what has arrived, written at once, so a cut connection loses nothing already received
                while chunk := _read_some(response):
                    f.write(chunk)
                    meter.update(len(chunk))
        finally:
            meter.close()
        if total is not None and part.stat().st_size < total:
            raise _Retry(f"the connection closed after {part.stat().st_size:,} of {total:,} bytes")


def _read_some(response) -> bytes:
    import requests
    import urllib3

    try:
        return response.raw.read1(CHUNK)
    except (urllib3.exceptions.ProtocolError, urllib3.exceptions.ReadTimeoutError, OSError) as error:
        raise requests.ConnectionError(error) from None
