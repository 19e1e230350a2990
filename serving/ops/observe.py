"""What every request leaves behind, whichever front end took it: its request metrics, its server span
(serving/tracing.py) and its access-log line (serving/logs/access.py).

A front end calls `begin` once per request, tells the Observation what it learns (the model named, the bytes
read), runs the request's work on other threads through `carry`, and calls `end` once with the outcome; the
ops below it add the version and signature that answered (`annotate`) and their own child spans. With tracing
and the access log both off (the defaults) an Observation is a timer for the metrics and nothing else: no
context variable is set and `carry` hands the work back unchanged.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from protocol import status
from serving import tracing
from serving.logs import access
from serving.metrics import METRICS

T = TypeVar("T")

_current: contextvars.ContextVar[Observation | None] = contextvars.ContextVar("serving_request", default=None)


class Observation:
    """One request: `entrypoint` is REST or GRPC, `api` the front end (tfs, v2), `method` what was asked
    (predict, Predict, status...). `metrics_api`, when not None, is the API label its request metrics take."""

    __slots__ = (
        "entrypoint",
        "api",
        "method",
        "metrics_api",
        "model",
        "version",
        "signature",
        "bytes_in",
        "bytes_out",
        "peer",
        "trace_id",
        "_start",
        "_span",
        "_tokens",
    )

    def __init__(self, entrypoint: str, api: str, method: str, metrics_api: str | None):
        self.entrypoint, self.api, self.method, self.metrics_api = entrypoint, api, method, metrics_api
        self.model = ""
        self.version: int | None = None
        self.signature = ""
        self.bytes_in = 0
        self.bytes_out = 0
        self.peer = ""
        self.trace_id = ""
        self._start = time.perf_counter()
        self._span = None
        self._tokens: tuple = ()

    @property
    def watched(self) -> bool:
        """Someone reads more than the metrics: a span is recorded or an access-log line written."""
        return self._span is not None or access.LOG.on

    def rename(self, name: str) -> None:
        """The span's name once the route is known (e.g. `POST /v1/models/{model}:predict`)."""
        if self._span is not None:
            self._span.update_name(name)

    def carry(self, work: Callable[[], T]) -> Callable[[], T]:
        """`work`, to run on another thread as part of this request: its spans are this request's children
        and the time it waited to start is a `queue.worker` span. Unchanged when nothing is watched."""
        if not self.watched:
            return work
        context = contextvars.copy_context()
        queued = tracing.now_ns()

        def run() -> T:
            return context.run(_run_carried, work, queued)

        return run

    def end(self, code: str, http_status: int | None = None, write_access_line: bool = True) -> float:
        """The outcome (a canonical code name; the HTTP status on REST): metrics, the span, the access line
        (unless the front end writes it later with `write_access`, once it knows the bytes it sent). Returns
        the request's time in seconds."""
        elapsed = time.perf_counter() - self._start
        if self.metrics_api is not None:
            METRICS.record_request(self.model, self.metrics_api, self.entrypoint, code, elapsed * 1e6)
        for token in reversed(self._tokens):
            token()
        self._tokens = ()
        if self._span is not None:
            failed = (http_status or status.http_status(code)) >= 500
            attributes: dict[str, Any] = {"serving.model.name": self.model, "serving.status": code}
            if self.version is not None:
                attributes["serving.model.version"] = self.version
            if self.signature:
                attributes["serving.model.signature_name"] = self.signature
            if http_status is not None:
                attributes["http.response.status_code"] = http_status
            else:
                attributes["rpc.grpc.status_code"] = status.code_number(code)
            tracing.end_server_span(self._span, code if failed else None, attributes)
        if write_access_line and access.LOG.on:
            self.write_access(code, http_status, elapsed)
        return elapsed

    def elapsed(self) -> float:
        """Seconds since `begin`."""
        return time.perf_counter() - self._start

    def write_access(self, code: str, http_status: int | None, elapsed_s: float) -> None:
        access.LOG.write(
            {
                "api": f"{self.api}_{self.entrypoint.lower()}",
                "method": self.method,
                "model": self.model,
                "version": self.version,
                "signature": self.signature,
                "status": code,
                "http_status": http_status,
                "latency_ms": round(elapsed_s * 1e3, 3),
                "bytes_in": self.bytes_in,
                "bytes_out": self.bytes_out,
                "trace_id": self.trace_id or None,
                "peer": self.peer,
            }
        )


def _run_carried(work: Callable[[], T], queued_ns: int) -> T:
    tracing.record("queue.worker", queued_ns, tracing.now_ns())
    return work()


def begin(
    entrypoint: str,
    api: str,
    method: str,
    metrics_api: str | None,
    span_name: str,
    carrier: Callable[[], Mapping[str, str]],
    attributes: Mapping[str, Any] | None = None,
    peer: Callable[[], str] | None = None,
) -> Observation:
    """Starts observing a request. `carrier()` (read only when watched) gives the headers or metadata that may
    hold a W3C trace context; `attributes` are the span's first ones (the protocol's semantic conventions)."""
    observation = Observation(entrypoint, api, method, metrics_api)
    if not tracing.on() and not access.LOG.on:
        return observation
    headers = carrier()
    span = tracing.server_span(span_name, headers, attributes or {})
    tokens = []
    if span is not None:
        observation._span = span
        observation.trace_id = tracing.trace_id(span)
        detach_token = tracing.attach(span)
        tokens.append(lambda: tracing.detach(detach_token))
    else:
        observation.trace_id = access.trace_id_of(headers.get("traceparent", ""))
    if access.LOG.on and peer is not None:
        observation.peer = peer()
    var_token = _current.set(observation)
    tokens.append(lambda: _current.reset(var_token))
    observation._tokens = tuple(tokens)
    return observation


def annotate(version: int, signature: str) -> None:
    """The version and signature that answer the current request (ops call it once they know)."""
    observation = _current.get()
    if observation is not None:
        observation.version = version
        observation.signature = signature


def current() -> Observation | None:
    return _current.get()
