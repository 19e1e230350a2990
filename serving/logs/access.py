"""The access log (--access_log): one JSON line per request, off by default.

Each line: time (UTC, ISO 8601, milliseconds), api (tfs_rest, tfs_grpc, ...), method, model, version,
signature, status (the canonical code), http_status (REST), latency_ms, bytes_in, bytes_out (the body or
message as sent, after decompression for REST), trace_id (the request span's, else the one the client's W3C
`traceparent` carried, else null) and peer. Lines are written by a thread of their own
(serving/logs/writer.py): a request only queues its fields; past ACCESS_QUEUE_ITEMS waiting, lines are dropped
and counted. To a file, the log rotates at ACCESS_FILE_BYTES, keeping ACCESS_FILE_BACKUPS old files.
"""

from __future__ import annotations

import logging
import logging.handlers
import re
import sys
import time
from datetime import UTC, datetime
from typing import Any

import orjson

from serving.logs.writer import BackgroundWriter

ACCESS_QUEUE_ITEMS = 10_000
ACCESS_FILE_BYTES = 64 << 20
ACCESS_FILE_BACKUPS = 4
STDERR = "stderr"
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")


def trace_id_of(traceparent: str) -> str:
    """The trace id of a W3C traceparent header value ("" when there is none or it is malformed)."""
    match = _TRACEPARENT.match(traceparent.strip().lower())
    return match.group(1) if match and match.group(1) != "0" * 32 else ""


class AccessLog:
    def __init__(self) -> None:
        self.on = False
        self.target = ""
        self._writer: BackgroundWriter[dict[str, Any]] | None = None
        self._handler: logging.Handler | None = None

    def open(self, target: str) -> None:
        """Starts writing to `target`: "stderr" or a file path ("" leaves it off)."""
        self.close()
        if not target:
            return
        if target == STDERR:
            handler: logging.Handler = logging.StreamHandler(sys.stderr)
        else:
            handler = logging.handlers.RotatingFileHandler(
                target, maxBytes=ACCESS_FILE_BYTES, backupCount=ACCESS_FILE_BACKUPS, encoding="utf-8"
            )
        handler.setFormatter(logging.Formatter("%(message)s"))
        self._handler, self.target = handler, target
        self._writer = BackgroundWriter("access_log", self._emit, ACCESS_QUEUE_ITEMS, 1 << 62, on_idle=handler.flush)
        self.on = True

    def write(self, fields: dict[str, Any]) -> None:
        """Queues one request's line (the time is taken now)."""
        writer = self._writer
        if writer is not None:
            fields["time"] = time.time()
            writer.offer(fields)

    def _emit(self, fields: dict[str, Any]) -> None:
        stamp = datetime.fromtimestamp(fields.pop("time"), UTC).isoformat(timespec="milliseconds")
        line = orjson.dumps({"time": stamp.replace("+00:00", "Z"), **fields}).decode()
        handler = self._handler
        with handler.lock:  # written here and flushed once the queue runs empty, not flushed line by line
            if isinstance(handler, logging.handlers.RotatingFileHandler):
                if handler.shouldRollover(logging.makeLogRecord({"msg": line})):
                    handler.doRollover()
            handler.stream.write(line + "\n")

    @property
    def dropped(self) -> int:
        return self._writer.dropped if self._writer is not None else 0

    def flush(self, timeout: float = 10.0) -> None:
        if self._writer is not None:
            self._writer.flush(timeout)
            self._handler.flush()

    def close(self) -> None:
        writer, handler = self._writer, self._handler
        self.on, self._writer, self._handler = False, None, None
        if writer is not None:
            writer.close()
        if handler is not None:
            handler.close()


LOG = AccessLog()
