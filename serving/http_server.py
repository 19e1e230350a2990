"""HTTP/1.1 for the REST API: h11 parses, this module bounds what a client may cost.

aiohttp (used before) has no header-read timeout, no cap on open connections and reads a body it
will refuse; a few stalled sockets could exhaust file descriptors. Here every connection is in one
of these phases, each bounded:

    idle / head   waiting for a request's headers: at most `read_timeout_s` from the connection's
                  opening or its previous response, then closed. These connections are *evictable*:
                  when `max_connections` are open, a new one closes the oldest evictable one, so
                  stalled sockets cannot lock clients out; with none evictable the new one gets 503.
    body          read only when the handler asks (`Request.body()`): a declared Content-Length over
                  `max_body_bytes` is refused (413) before a byte of it is read, and so is a
                  chunked or gzip body the moment it passes the limit (gzip is inflated as a
                  stream, never past the limit); the whole body must arrive within `read_timeout_s`.
    handling      the handler's own time (the REST API bounds it by --rest_api_timeout_in_ms).
    writing       the answer must drain within `read_timeout_s`, or the connection is dropped.

A body the handler did not read (e.g. an error found from the path) is not drained: the answer says
`Connection: close` and the connection closes. A request that carries both Content-Length and
Transfer-Encoding is refused (400) and the connection closed, so nothing after it is read as a request
(RFC 9112 section 6.1: the two framings could disagree, the request-smuggling pattern). A client that
half-closes after sending its request still gets its answer. Every response carries a `Date` header.

On stop (SIGTERM) the server stops accepting, closes connections that have no request in progress, and
lets each request in progress finish and its answer be written out to the last byte before its
connection closes, within the grace period.
"""

from __future__ import annotations

import asyncio
import email.utils
import errno
import logging
import socket
import ssl
import time
import zlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import h11

from serving.options import ServerOptions

log = logging.getLogger("serving")

_MAX_HEAD_BYTES = 64 * 1024  # request line + headers
_PAUSE_AT = 1 << 20  # stop reading the socket while this much is buffered and unprocessed
_BACKLOG = 1024
_ACCEPTS_PER_TURN = 4  # accepted connections per event-loop turn; evicted ones close in between
_JOIN_BELOW = 64 * 1024  # answers up to this size go out with their head in one write (one copy of a small body)
_LINGER_S = 2.0  # after refusing a body mid-upload, discard input this long so the client can read the answer


class BodyRejected(Exception):
    """The request body was refused: `status` is 400, 408 or 413; the message is for the client."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)


class Request:
    """A request whose headers have arrived; the body is read (and bounded) when asked for."""

    def __init__(self, connection: _Connection, event: h11.Request):
        self._connection = connection
        self.method = event.method.decode("ascii", "replace")
        target = event.target.decode("latin-1")
        self.path, _, self.query = target.partition("?")
        self.headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in event.headers}
        self._body: bytearray | None = None

    @property
    def peer(self) -> str:
        """The client's address as gRPC writes a peer (`ipv4:127.0.0.1:5000`, `ipv6:[::1]:5000`)."""
        address = self._connection.transport.get_extra_info("peername") if self._connection.transport else None
        if not address:
            return "unknown"
        host, port = address[0], address[1]
        return f"ipv6:[{host}]:{port}" if ":" in host else f"ipv4:{host}:{port}"

    @property
    def content_length(self) -> int | None:
        value = self.headers.get("content-length")
        return int(value) if value is not None and value.isdigit() else None

    async def body(self) -> bytearray:
        """The whole body, gzip or deflate decoded; BodyRejected when it is too large, too slow or not valid."""
        if self._body is None:
            self._body = await self._connection.read_body(self)
        return self._body


Handler = Callable[[Request], Awaitable[Response]]


# Content-Encoding -> zlib's window bits: gzip, and "deflate" (which HTTP means as the zlib format; Triton's
# clients send it on request)
_ENCODINGS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


class _Gunzip:
    """Inflates a gzip (or zlib) stream piece by piece, never producing more than `limit` bytes in all."""

    def __init__(self, limit: int, window_bits: int = 16 + zlib.MAX_WBITS, encoding: str = "gzip"):
        self._inflater = zlib.decompressobj(window_bits)
        self._what = f"Failed to decompress the {encoding} request body (Content-Encoding: {encoding})"
        self._limit = limit
        self.size = 0

    def feed(self, data: bytes) -> list[bytes]:
        out = []
        while data:
            try:
                piece = self._inflater.decompress(data, self._limit - self.size + 1)
            except zlib.error as e:
                raise BodyRejected(400, f"{self._what}: {e}") from None
            self.size += len(piece)
            if self.size > self._limit:
                raise BodyRejected(413, "")
            out.append(piece)
            data = self._inflater.unconsumed_tail
        return out

    def finish(self) -> None:
        if not self._inflater.eof:
            raise BodyRejected(400, f"{self._what}: the stream is truncated")


class _Connection(asyncio.Protocol):
    def __init__(self, server: HttpServer):
        self.server = server
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=_MAX_HEAD_BYTES)
        self.transport: asyncio.Transport | None = None
        self.evictable = True  # no request in progress: waiting for (or in the middle of) headers
        self._data = asyncio.Event()
        self._paused_reading = False
        self._writable = asyncio.Event()
        self._writable.set()
        self._task: asyncio.Task | None = None
        self._closed = False
        self._lingering = False

    # ------------------------------------------------------------ asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.server.register(self)
        self._task = asyncio.get_running_loop().create_task(self._serve())

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            return
        try:
            self.h11.receive_data(data)
        except RuntimeError:  # data after we decided to close
            return
        self._data.set()
        if len(self.h11.trailing_data[0]) > _PAUSE_AT and not self._paused_reading:
            self._paused_reading = True
            self.transport.pause_reading()

    def eof_received(self) -> bool | None:
        """The client will send nothing more. It may still be waiting for an answer (a half-close after its
        request), so the connection stays open for writing; `_serve` closes it once nothing is left to answer."""
        if self._lingering:
            self.close()
            return None
        try:
            self.h11.receive_data(b"")
        except RuntimeError:
            pass
        self._data.set()
        return self.transport.get_extra_info("sslcontext") is None  # TLS has no half-close: asyncio closes it

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._data.set()
        self._writable.set()
        self.server.forget(self)
        if self._task is not None and self.evictable:
            self._task.cancel()

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    # ------------------------------------------------------------ reading
    def close(self) -> None:
        if self.transport is not None and not self._closed:
            self._closed = True
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self._closed = True
            self.transport.abort()

    async def _next_event(self, deadline: float):
        """The next h11 event, waiting for data until the monotonic `deadline` (TimeoutError after it)."""
        while True:
            event = self.h11.next_event()
            if event is not h11.NEED_DATA:
                return event
            if self._closed:
                return h11.ConnectionClosed()
            if self._paused_reading:
                self._paused_reading = False
                self.transport.resume_reading()
            self._data.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            try:
                await asyncio.wait_for(self._data.wait(), remaining)
            except TimeoutError:
                raise TimeoutError from None

    async def read_body(self, request: Request) -> bytearray:
        options, read_timeout_s = self.server.options, self.server.read_timeout_s
        declared = request.content_length
        too_large = BodyRejected(
            413, f"Request body exceeds the limit of {options.rest_max_body_bytes} bytes (--max_request_body_bytes)"
        )
        if declared is not None and declared > options.rest_max_body_bytes:
            raise too_large
        encoding = request.headers.get("content-encoding", "").strip().lower()
        window_bits = _ENCODINGS.get(encoding)
        inflater = _Gunzip(options.rest_max_body_bytes, window_bits, encoding) if window_bits is not None else None
        if self.h11.they_are_waiting_for_100_continue:
            self.transport.write(self.h11.send(h11.InformationalResponse(status_code=100, headers=[])))
        deadline = time.monotonic() + read_timeout_s
        body = bytearray()  # one buffer: no list of pieces joined into a second copy
        raw = 0
        while True:
            try:
                event = await self._next_event(deadline)
            except TimeoutError:
                raise BodyRejected(408, f"The request body did not arrive within {read_timeout_s:g} s") from None
            except h11.RemoteProtocolError as e:
                raise BodyRejected(400, f"Malformed request body: {e}") from None
            if isinstance(event, h11.Data):
                raw += len(event.data)
                if raw > options.rest_max_body_bytes:
                    raise too_large
                try:
                    for piece in inflater.feed(event.data) if inflater else [event.data]:
                        body += piece
                except BodyRejected as e:
                    raise (too_large if e.status == 413 else e) from None
            elif isinstance(event, h11.EndOfMessage):
                if inflater is not None:
                    inflater.finish()
                return body
            else:  # the client went away
                raise BodyRejected(400, "The connection closed before the request body was complete")

    # ------------------------------------------------------------ the connection's life
    async def _serve(self) -> None:
        read_timeout_s = self.server.read_timeout_s
        try:
            while not self._closed:
                self.evictable = True
                try:
                    event = await self._next_event(time.monotonic() + read_timeout_s)
                except (TimeoutError, h11.RemoteProtocolError) as e:
                    if isinstance(e, h11.RemoteProtocolError) and self.h11.their_state != h11.CLOSED:
                        await self._send_error(e.error_status_hint, f"Malformed HTTP request: {e}")
                    break
                if not isinstance(event, h11.Request):
                    break  # ConnectionClosed
                self.evictable = False
                if _ambiguous_framing(event):
                    await self._send_error(
                        400,
                        "Malformed HTTP request: both Content-Length and Transfer-Encoding are present "
                        "(RFC 9112 section 6.1); send one of them",
                    )
                    break
                request = Request(self, event)
                response = await self.server.respond(request)
                if not await self._send(request, response):
                    break
                if self.h11.our_state is h11.MUST_CLOSE or self.h11.their_state is not h11.DONE or self.server.stopping:
                    break
                self.h11.start_next_cycle()
        except asyncio.CancelledError:
            pass
        except Exception:  # noqa: BLE001 - one broken connection never takes the server down
            log.exception("HTTP connection failed")
        finally:
            if (
                self.h11.their_state in (h11.SEND_BODY, h11.SEND_RESPONSE)
                and self.h11.our_state in (h11.DONE, h11.MUST_CLOSE)
                and not self._closed
            ):
                self._linger()
            else:
                self.close()

    def _linger(self) -> None:
        """The answer went out before the request body was read: stop sending, discard what still arrives
        for a moment (closing with unread input would reset the connection and lose the answer), then close."""
        self._lingering = True
        self.evictable = True
        if self._paused_reading:
            self._paused_reading = False
            self.transport.resume_reading()
        if self.transport.can_write_eof():
            self.transport.write_eof()
        asyncio.get_running_loop().call_later(_LINGER_S, self.close)

    async def _send(self, request: Request, response: Response) -> bool:
        headers = [("Date", _date()), ("Content-Length", str(len(response.body)))] + response.headers
        if self.h11.their_state is not h11.DONE or self.server.stopping:  # body not (fully) read, or stopping
            headers.append(("Connection", "close"))
        try:
            head = self.h11.send(
                h11.Response(status_code=response.status, headers=headers, reason=_reason(response.status))
            )
        except h11.LocalProtocolError:
            return False
        if self._closed:
            return False
        body = response.body if request.method != "HEAD" else b""
        if len(body) <= _JOIN_BELOW:
            # one write, so one segment: the client reads head and body in one wake-up
            self.transport.write(head + self.h11.send(h11.Data(data=body)) if body else head)
        else:
            self.transport.write(head)
            for piece in self.h11.send_with_data_passthrough(h11.Data(data=body)):
                self.transport.write(piece)  # the body itself: h11 frames it without copying
        self.h11.send(h11.EndOfMessage())
        return await self._drain()

    async def _drain(self) -> bool:
        if self._writable.is_set():  # the socket took it all (the usual case): no timer, no extra loop turn
            return not self._closed
        try:
            await asyncio.wait_for(self._writable.wait(), self.server.read_timeout_s)
        except TimeoutError:
            self.abort()
            return False
        return not self._closed

    async def _send_error(self, status: int, message: str) -> None:
        response = self.server.error_response(status, message)
        try:
            head = self.h11.send(
                h11.Response(
                    status_code=status,
                    reason=_reason(status),
                    headers=[("Date", _date()), ("Content-Length", str(len(response.body))), ("Connection", "close")]
                    + response.headers,
                )
            )
        except h11.LocalProtocolError:
            return
        self.transport.write(head + response.body)


def _ambiguous_framing(event: h11.Request) -> bool:
    names = {name for name, _ in event.headers}  # h11 lower-cases header names
    return b"content-length" in names and b"transfer-encoding" in names


_last_date: tuple[int, str] = (0, "")


def _date() -> str:
    """The `Date` header value (RFC 9110 IMF-fixdate), formatted once a second."""
    global _last_date
    now = int(time.time())
    if _last_date[0] != now:
        _last_date = (now, email.utils.formatdate(now, usegmt=True))
    return _last_date[1]


def _reason(status: int) -> bytes:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:
        return b""


class HttpServer:
    """Serves `handler` on host:port with the limits above; `error_response` builds transport-level errors."""

    def __init__(self, handler: Handler, options: ServerOptions, error_response: Callable[[int, str], Response]):
        self.handler = handler
        self.options = options
        self.read_timeout_s = options.rest_read_timeout_ms / 1000
        self.error_response = error_response
        self._connections: OrderedDict[_Connection, None] = OrderedDict()  # oldest first
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ssl: ssl.SSLContext | None = None
        self._pending = 0  # accepted, not yet wrapped by the event loop
        self._last_descriptor_warning = 0.0
        self._in_flight = 0
        self._no_connections = asyncio.Event()
        self._no_connections.set()
        self.stopping = False

    async def start(self, host: str, port: int, ssl_context: ssl.SSLContext | None = None) -> None:
        """Listens on host:port. Connections are accepted here, a few per event-loop turn, and admitted
        against the cap before the event loop wraps them, so a burst of connections can never hold more
        descriptors than the cap plus that handful (asyncio's own accept loop takes up to its backlog at
        once, and on EMFILE logs a traceback a second)."""
        self._loop = asyncio.get_running_loop()
        self._ssl = ssl_context
        infos = await self._loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(_BACKLOG)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self._sock = sock
        self._loop.add_reader(sock.fileno(), self._accept)

    def _accept(self) -> None:
        for _ in range(_ACCEPTS_PER_TURN):
            try:
                conn, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            except OSError as e:
                if e.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    self._out_of_descriptors(e)
                    return
                raise
            if not self._admit():
                _refuse(conn, self.error_response(503, "Too many open connections (--rest_api_max_connections)"))
                continue
            conn.setblocking(False)
            self._pending += 1
            self._no_connections.clear()
            self._loop.create_task(self._wrap(conn))

    async def _wrap(self, conn: socket.socket) -> None:
        try:
            extra = {"ssl": self._ssl, "ssl_handshake_timeout": self.read_timeout_s} if self._ssl else {}
            await self._loop.connect_accepted_socket(lambda: _Connection(self), conn, **extra)
        except (TimeoutError, OSError, ssl.SSLError):
            conn.close()
        finally:
            self._pending -= 1
            if not self._connections and not self._pending:
                self._no_connections.set()

    def _admit(self) -> bool:
        """Room for one more connection: under the cap, or after closing the oldest one without a request."""
        if len(self._connections) + self._pending < self.options.rest_max_connections:
            return True
        oldest = next((c for c in self._connections if c.evictable), None)
        if oldest is None:
            return False
        self.forget(oldest)
        oldest.abort()
        return True

    def _out_of_descriptors(self, error: OSError) -> None:
        """The process ran out of descriptors (other parts of it use them too): make room, pause, retry."""
        oldest = next((c for c in self._connections if c.evictable), None)
        if oldest is not None:
            self.forget(oldest)
            oldest.abort()
        now = time.monotonic()
        if now - self._last_descriptor_warning > 60:
            self._last_descriptor_warning = now
            log.warning(
                "REST: cannot accept connections: %s; pausing accepts (lower --rest_api_max_connections "
                "or raise the open-file limit)",
                error.strerror,
            )
        self._loop.remove_reader(self._sock.fileno())
        self._loop.call_later(0.1, self._resume_accepting)

    def _resume_accepting(self) -> None:
        if self._sock is not None:
            self._loop.add_reader(self._sock.fileno(), self._accept)

    def register(self, connection: _Connection) -> None:
        """A wrapped connection starts (it was admitted when accepted)."""
        self._connections[connection] = None
        self._no_connections.clear()
        if self.stopping:  # accepted just before the stop: it has no request yet
            connection.close()

    def forget(self, connection: _Connection) -> None:
        self._connections.pop(connection, None)
        if not self._connections and not self._pending:
            self._no_connections.set()

    # ------------------------------------------------------------ requests
    @property
    def in_flight(self) -> int:
        """Requests whose headers arrived and whose answer is not written yet."""
        return self._in_flight

    async def respond(self, request: Request) -> Response:
        self._in_flight += 1
        try:
            return await self.handler(request)
        finally:
            self._in_flight -= 1

    async def stop(self, grace_s: float) -> None:
        """Stops accepting and closes connections without a request in progress; each request in progress
        finishes, its answer is written out whole (the transport flushes before it reports the connection
        lost) and its connection closes. What is still open after `grace_s` is cut."""
        if self._sock is None:
            return
        self.stopping = True
        self._loop.remove_reader(self._sock.fileno())
        self._sock.close()
        self._sock = None
        for connection in list(self._connections):
            if connection.evictable:
                connection.close()
        try:
            await asyncio.wait_for(self._no_connections.wait(), grace_s)
        except TimeoutError:
            log.warning(
                "REST: %d connections still answering or unread after %.0f s; cutting them",
                len(self._connections),
                grace_s,
            )
            for connection in list(self._connections):
                connection.abort()


def _refuse(conn: socket.socket, response: Response) -> None:
    """Answers 503 if the socket takes it at once, and closes it now: its descriptor is needed."""
    head = (
        b"HTTP/1.1 503 Service Unavailable\r\nDate: %s\r\nConnection: close\r\nContent-Length: %d\r\n"
        % (_date().encode(), len(response.body))
        + b"".join(f"{k}: {v}\r\n".encode() for k, v in response.headers)
        + b"\r\n"
    )
    try:
        conn.setblocking(False)
        conn.send(head + response.body)
    except OSError:
        pass
    conn.close()
