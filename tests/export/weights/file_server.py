"""A loopback HTTP file server for the weights tests: serves files by name, with Range, and misbehaves on request.

Behaviours per file name: ``cut`` (the first answer stops halfway and the connection closes),
``stall`` (headers and a few bytes, then silence until the test ends), ``slow`` (the body in pieces
with pauses, so concurrent fetches overlap). Every request is recorded (path, Range header).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

STALL_LIMIT = 20.0  # seconds a stalled answer waits at most (the test ends it sooner)


class FileServer:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.pages: dict[str, tuple[str, bytes]] = {}  # path -> (content type, body), e.g. Drive's pages
        self.behaviour: dict[str, str] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.release = threading.Event()
        self._cut_done: set[str] = set()
        self._lock = threading.Lock()
        self.base_url = ""

    def bodies_sent_from_zero(self, name: str) -> int:
        """How many answers for ``name`` started at byte 0 (full downloads begun)."""
        return sum(1 for path, byte_range in self.requests if path.lstrip("/") == name and not byte_range)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                byte_range = self.headers.get("Range")
                with server._lock:
                    server.requests.append((self.path, byte_range))
                split = urlsplit(self.path)
                if self.path in server.pages or split.path in server.pages:
                    kind, body = server.pages.get(self.path) or server.pages[split.path]
                    self.send_response(200)
                    self.send_header("Content-Type", kind)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                name = split.path.lstrip("/")
                query = parse_qs(split.query)
                if "file" in query:  # a confirmation form's target names the file it serves
                    name = query["file"][0]
                data = server.files.get(name)
                if data is None:
                    self.send_error(404, "Not Found")
                    return
                start = int(byte_range.removeprefix("bytes=").split("-")[0]) if byte_range else 0
                body = data[start:]
                if start:
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                behaviour = server.behaviour.get(name)
                if behaviour == "cut" and name not in server._cut_done:
                    server._cut_done.add(name)
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                if behaviour == "stall":
                    self.wfile.write(body[:16])
                    self.wfile.flush()
                    server.release.wait(STALL_LIMIT)
                    self.close_connection = True
                    return
                if behaviour == "slow":
                    for i in range(0, len(body), max(1, len(body) // 5)):
                        self.wfile.write(body[i : i + max(1, len(body) // 5)])
                        self.wfile.flush()
                        time.sleep(0.1)
                    return
                self.wfile.write(body)

        return Handler


@contextmanager
def serving() -> Iterator[FileServer]:
    files = FileServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), files.handler())
    httpd.daemon_threads = True
    files.base_url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield files
    finally:
        files.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)
