"""Where one `filename_prefix` of request logs goes: rotating TFRecord files written by a thread of their own.

Files are named `{prefix}.{host}-{pid}.{sequence:05d}.tfrecord` (the host and process tell replicas and
restarts apart, as TF Serving's LogCollector id does). A file is closed and the next one started before it
would pass `file_bytes` (a record larger than that gets a file of its own); once more than `max_files` files
of the prefix exist, whoever wrote them, the oldest are removed, so one prefix never holds more than about
`max_files * file_bytes` on disk. The current file is flushed whenever the queue runs empty, so a record is
on disk (as far as a process crash goes) soon after its request is answered.
"""

from __future__ import annotations

import glob
import logging
import os
import socket
from collections.abc import Callable

from serving.logs import tfrecord
from serving.logs.writer import BackgroundWriter

log = logging.getLogger("serving")

SUFFIX = ".tfrecord"


def log_files(prefix: str) -> list[str]:
    """The request log files of `prefix`, oldest first (by modification time, then name)."""

    def age(path: str) -> tuple[float, str]:
        try:
            return os.stat(path).st_mtime, path
        except OSError:
            return 0.0, path

    return sorted(glob.glob(glob.escape(prefix) + ".*" + SUFFIX), key=age)


class RotatingFiles:
    def __init__(self, prefix: str, file_bytes: int, max_files: int):
        self.prefix = prefix
        self.file_bytes = max(file_bytes, 1)
        self.max_files = max(max_files, 1)
        self._identity = f"{socket.gethostname()}-{os.getpid()}"
        self._sequence = 0
        self._file = None
        self._path = ""
        self._size = 0

    @property
    def path(self) -> str:
        """The file being written ("" before the first record)."""
        return self._path

    def write(self, data: bytes) -> None:
        framed = tfrecord.frame(data)
        if self._file is None or (self._size and self._size + len(framed) > self.file_bytes):
            self._next_file()
        self._file.write(framed)
        self._size += len(framed)

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _next_file(self) -> None:
        self.close()
        directory = os.path.dirname(self.prefix)
        if directory:
            os.makedirs(directory, exist_ok=True)
        while True:
            self._sequence += 1
            path = f"{self.prefix}.{self._identity}.{self._sequence:05d}{SUFFIX}"
            try:
                self._file = open(path, "xb")  # noqa: SIM115 - held open across records, closed on rotation
                break
            except FileExistsError:
                continue
        self._path, self._size = path, 0
        self._prune()

    def _prune(self) -> None:
        files = [path for path in log_files(self.prefix) if path != self._path]
        for path in files[: max(len(files) + 1 - self.max_files, 0)]:
            try:
                os.remove(path)
            except FileNotFoundError:
                pass


class Collector:
    """The records of every model whose logging_config names this prefix. `offer` queues an item whose
    `serialize()` gives the record's bytes (called on the collector's thread); `written(item)` and
    `failed(item)` are told the outcome of each."""

    def __init__(
        self,
        prefix: str,
        file_bytes: int,
        max_files: int,
        queue_records: int,
        queue_bytes: int,
        dropped: Callable[[object], None],
        written: Callable[[object], None],
        failed: Callable[[object], None],
    ):
        self.prefix = prefix
        self.files = RotatingFiles(prefix, file_bytes, max_files)
        self._written, self._failed = written, failed
        self.writer = BackgroundWriter(
            f"request_log:{prefix}", self._write, queue_records, queue_bytes, dropped, self.files.flush
        )

    def offer(self, item, size: int) -> bool:
        return self.writer.offer(item, size)

    def _write(self, item) -> None:
        try:
            self.files.write(item.serialize())
        except Exception:
            self._failed(item)
            raise
        self._written(item)

    def flush(self, timeout: float = 10.0) -> bool:
        return self.writer.flush(timeout)

    def close(self) -> None:
        self.writer.close()
        self.files.close()
