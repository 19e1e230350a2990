"""A real HTTP proxy on 127.0.0.1 that records requests and can misbehave on purpose.

It forwards each request to an upstream server, except that the first `fail_with_503` requests get a
503 and the next `reset` requests get their connection reset (RST) without an answer; with `delay`,
every request waits that many seconds before it is handled. Recorded requests let tests check what a
client really put on the wire. It also serves as a forward proxy (HTTP_PROXY): a request in absolute form
(`POST http://host/path`) goes to the same path upstream and is recorded as sent.

`MisbehavingGrpcProxy` does the same for gRPC: it forwards every method's raw bytes upstream,
except that the first `fail_with_unavailable` calls end with UNAVAILABLE.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from concurrent import futures
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import grpc
import requests


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


_HOP_BY_HOP = {"host", "content-length", "connection", "keep-alive", "proxy-connection", "transfer-encoding", "date"}
_HOP_BY_HOP |= {"server", "content-encoding"}  # set by each side itself (requests has inflated the body)


def _end_to_end(headers) -> dict[str, str]:
    """The headers a proxy passes on (the v2 binary framing's Inference-Header-Content-Length among them)."""
    return {name: value for name, value in headers.items() if name.lower() not in _HOP_BY_HOP}


class MisbehavingProxy:
    def __init__(
        self, upstream: str, *, fail_with_503: int = 0, reset: int = 0, delay: float = 0.0, listen: bool = True
    ):
        self.upstream = upstream.rstrip("/")
        self.fail_with_503 = fail_with_503
        self.reset = reset
        self.delay = delay
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with proxy._lock:
                    proxy.requests.append(Recorded(self.command, self.path, dict(self.headers), body))
                    action = "forward"
                    if proxy.fail_with_503 > 0:
                        proxy.fail_with_503 -= 1
                        action = "503"
                    elif proxy.reset > 0:
                        proxy.reset -= 1
                        action = "reset"
                time.sleep(proxy.delay)
                if action == "503":
                    payload = b'{"error": "proxy: try again"}'
                    self.send_response(503)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                if action == "reset":
                    # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()
                    self.close_connection = True
                    return
                target = urlsplit(self.path)  # absolute form when used as a forward proxy
                path = target.path + (f"?{target.query}" if target.query else "") if target.scheme else self.path
                with requests.Session() as upstream:
                    upstream.trust_env = False  # never through a proxy the environment names (this one)
                    answer = upstream.request(
                        self.command,
                        proxy.upstream + path,
                        data=body or None,
                        headers=_end_to_end(self.headers),
                        timeout=120,
                    )
                self.send_response(answer.status_code)
                for name, value in _end_to_end(answer.headers).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler, bind_and_activate=False)
        self.server.daemon_threads = True
        self.server.server_bind()  # bound, so the port is ours; not yet accepting connections
        self.port = self.server.server_address[1]
        self._thread: threading.Thread | None = None
        if listen:
            self.listen()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def listen(self) -> None:
        """Start accepting connections (until then, connecting is refused)."""
        self.server.server_activate()
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        if self._thread is not None:
            self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> MisbehavingProxy:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class MisbehavingGrpcProxy:
    """A gRPC server on 127.0.0.1 relaying every call (as raw bytes) to `upstream`; the first
    `fail_with_unavailable` calls end with UNAVAILABLE instead. `calls` lists the methods called."""

    def __init__(self, upstream: str, *, fail_with_unavailable: int = 0):
        self.fail_with_unavailable = fail_with_unavailable
        self.calls: list[str] = []
        self._lock = threading.Lock()
        self._upstream = grpc.insecure_channel(
            upstream, options=[("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]
        )
        proxy = self

        class Relay(grpc.GenericRpcHandler):
            def service(self, details):
                method = details.method

                def relay(request: bytes, context: grpc.ServicerContext) -> bytes:
                    with proxy._lock:
                        proxy.calls.append(method)
                        fail = proxy.fail_with_unavailable > 0
                        proxy.fail_with_unavailable -= fail
                    if fail:
                        context.abort(grpc.StatusCode.UNAVAILABLE, "proxy: try again")
                    try:
                        return proxy._upstream.unary_unary(method)(request, timeout=120)
                    except grpc.RpcError as e:
                        context.abort(e.code(), e.details())

                return grpc.unary_unary_rpc_method_handler(relay)  # no (de)serializers: bytes pass through

        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), handlers=[Relay()])
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def close(self) -> None:
        self.server.stop(grace=None)
        self._upstream.close()

    def __enter__(self) -> MisbehavingGrpcProxy:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
