"""Progress of long work (downloads, conversions, builds, writes, verification) as it happens.

Messages go to the ``export`` logger: silent for Python callers unless they configure logging, and
shown on stderr by ``python -m export`` (``show_on_stderr``), each with the seconds since the start.
A transfer shows a redrawn bar on a terminal and a plain line every tenth otherwise (logs, CI).
"""

from __future__ import annotations

import logging
import sys
import time

LOGGER = logging.getLogger("export")
_START = time.monotonic()


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a message comes (it may be replaced after set-up)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


class _ElapsedFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"[{time.monotonic() - _START:5.0f}s] {record.getMessage()}"


def show_on_stderr() -> None:
    """Print progress messages on stderr (the command line's choice; idempotent)."""
    if not any(getattr(h, "_export_progress", False) for h in LOGGER.handlers):
        handler = _StderrHandler()
        handler.setFormatter(_ElapsedFormatter())
        handler._export_progress = True  # type: ignore[attr-defined]
        LOGGER.addHandler(handler)
    LOGGER.setLevel(logging.INFO)
    LOGGER.propagate = False


def step(message: str) -> None:
    """One line of progress: what starts now."""
    LOGGER.info(message)


def _megabytes(count: int) -> str:
    return f"{count / 1e6:,.1f} MB"


class Meter:
    """Bytes done of a total (None: unknown), reported as the transfer goes."""

    def __init__(self, what: str, total: int | None, done: int = 0) -> None:
        self.what, self.total, self.done = what, total, done
        self._terminal = LOGGER.isEnabledFor(logging.INFO) and sys.stderr.isatty()
        self._next_tenth = self._tenth() + 1
        self._drawn = 0.0

    def _tenth(self) -> int:
        return int(10 * self.done / self.total) if self.total else 0

    def update(self, count: int) -> None:
        self.done += count
        if self._terminal:
            now = time.monotonic()
            if now - self._drawn >= 0.1:
                self._drawn = now
                self._draw()
        elif self.total and self._tenth() >= self._next_tenth:
            self._next_tenth = self._tenth() + 1
            step(f"{self.what}: {100 * self.done // self.total}% ({_megabytes(self.done)} of {_megabytes(self.total)})")

    def _draw(self) -> None:
        if self.total:
            filled = int(30 * self.done / self.total)
            bar = "#" * filled + "-" * (30 - filled)
            text = f"{self.what} [{bar}] {100 * self.done // self.total:3d}% {_megabytes(self.done)}"
        else:
            text = f"{self.what} {_megabytes(self.done)}"
        sys.stderr.write("\r" + text[:120])
        sys.stderr.flush()

    def close(self) -> None:
        if self._terminal:
            self._draw()
            sys.stderr.write("\n")
            sys.stderr.flush()
