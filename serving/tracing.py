"""OpenTelemetry spans for requests: on when OTEL_TRACES_EXPORTER names an exporter, off (the default) otherwise.

Off, nothing of OpenTelemetry is imported and every hook below is one check of a module global: `span()` hands
back a shared object whose methods do nothing. On, `configure` builds the SDK's TracerProvider the standard way:
the exporters OTEL_TRACES_EXPORTER names (comma-separated; `otlp` is OTLP over gRPC unless
OTEL_EXPORTER_OTLP_TRACES_PROTOCOL / OTEL_EXPORTER_OTLP_PROTOCOL say `http/protobuf`, as the Python SDK reads
them), each behind a BatchSpanProcessor (OTEL_BSP_*), and everything else from the SDK's own environment
handling: the sampler (OTEL_TRACES_SAMPLER), the resource (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES), the
exporter's endpoint, headers, timeout and certificates (OTEL_EXPORTER_OTLP_*). The incoming trace context is
read with the global propagator (OTEL_PROPAGATORS; W3C traceparent and baggage by default).

A request's server span is made by the front end (serving/ops/observe.py); the layers below add children to
whatever span is current: `span()` only ever makes a child, never a new trace, so a batch thread or a warmup
replay (no request span) records nothing.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from typing import Any

from serving.errors import Code, ServingError

log = logging.getLogger("serving")

SERVICE_NAME = "python-serving"  # the resource's service.name unless OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES say
_tracer = None  # an opentelemetry Tracer while tracing is on
_provider = None


class _NoSpan:
    """What `span()` gives when there is nothing to record: a context manager whose methods do nothing."""

    __slots__ = ()

    def __enter__(self) -> _NoSpan:
        return self

    def __exit__(self, *exc) -> None:
        return None

    def set_attribute(self, key: str, value: Any) -> None:
        return None

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        return None


NO_SPAN = _NoSpan()


def on() -> bool:
    return _tracer is not None


def exporter_names(environ: Mapping[str, str] = os.environ) -> list[str]:
    """The exporters OTEL_TRACES_EXPORTER asks for, as entry-point names; [] when tracing is off."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    names = [name.strip() for name in environ.get("OTEL_TRACES_EXPORTER", "").split(",") if name.strip()]
    if not names or [name.lower() for name in names] == ["none"]:
        return []
    protocol = (
        environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "grpc"
    ).strip()
    by_protocol = {"grpc": "otlp_proto_grpc", "http/protobuf": "otlp_proto_http"}
    chosen = []
    for name in names:
        if name == "otlp":
            if protocol not in by_protocol:
                raise ServingError(
                    Code.INVALID_ARGUMENT,
                    f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol} is not supported: use grpc or http/protobuf",
                )
            name = by_protocol[protocol]
        chosen.append(name)
    return chosen


def configure(environ: Mapping[str, str] = os.environ) -> bool:
    """Turns tracing on when the environment asks for it (see the module docstring); True when it is on."""
    names = exporter_names(environ)
    if not names:
        return False
    try:
        from importlib.metadata import entry_points

        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        raise ServingError(
            Code.FAILED_PRECONDITION,
            f"OTEL_TRACES_EXPORTER={environ.get('OTEL_TRACES_EXPORTER')} asks for tracing, but OpenTelemetry's SDK "
            "is not installed: pip install 'keras-to-serving[tracing]' (or unset OTEL_TRACES_EXPORTER)",
        ) from None
    available = {point.name: point for point in entry_points(group="opentelemetry_traces_exporter")}
    missing = [name for name in names if name not in available]
    if missing:
        raise ServingError(
            Code.FAILED_PRECONDITION,
            f"OTEL_TRACES_EXPORTER: no exporter named {', '.join(missing)} is installed "
            f"(installed: {', '.join(sorted(available)) or 'none'}; pip install 'keras-to-serving[tracing]')",
        )
    named = "OTEL_SERVICE_NAME" in environ or "service.name" in environ.get("OTEL_RESOURCE_ATTRIBUTES", "")
    provider = TracerProvider(resource=Resource.create({} if named else {"service.name": SERVICE_NAME}))
    for name in names:
        provider.add_span_processor(BatchSpanProcessor(available[name].load()()))
    install(provider)
    log.info("Tracing requests: OpenTelemetry spans to %s", ", ".join(names))
    return True


def install(provider) -> None:
    """Traces with `provider` (an SDK TracerProvider); None turns tracing off. `configure` calls it; tests give
    their own provider (e.g. with an in-memory exporter)."""
    global _tracer, _provider
    _provider = provider
    _tracer = provider.get_tracer("serving") if provider is not None else None


def shutdown() -> None:
    """Exports what is still buffered and stops (at server exit)."""
    provider = _provider
    install(None)
    if provider is not None:
        provider.shutdown()


# ---------------------------------------------------------------------------- spans


def server_span(name: str, carrier: Mapping[str, str], attributes: Mapping[str, Any]):
    """A started SERVER span for one request, the child of the trace context `carrier` (HTTP headers or gRPC
    metadata, lower-case keys) holds, if any; None when tracing is off. Made current by `attach`."""
    if _tracer is None:
        return None
    from opentelemetry import propagate, trace

    parent = propagate.extract(carrier)
    return _tracer.start_span(name, context=parent, kind=trace.SpanKind.SERVER, attributes=attributes)


def attach(span) -> object:
    """Makes `span` the current one in this thread or task; returns the token `detach` takes."""
    from opentelemetry import context, trace

    return context.attach(trace.set_span_in_context(span))


def detach(token: object) -> None:
    from opentelemetry import context

    context.detach(token)


def _current_parent():
    from opentelemetry import trace

    current = trace.get_current_span()
    return current if current.is_recording() else None


def span(name: str, attributes: Mapping[str, Any] | None = None):
    """A child of the current span for the duration of a `with` block, or NO_SPAN when tracing is off or no
    request span is current."""
    if _tracer is None or _current_parent() is None:
        return NO_SPAN
    return _tracer.start_as_current_span(name, attributes=attributes, record_exception=False)


def record(name: str, start_ns: int, end_ns: int, attributes: Mapping[str, Any] | None = None) -> None:
    """A finished child of the current span that ran from `start_ns` to `end_ns` (time.time_ns()): what was
    measured elsewhere (a worker's queue, the batch a request joined)."""
    if _tracer is None or _current_parent() is None:
        return
    child = _tracer.start_span(name, start_time=start_ns, attributes=attributes)
    child.end(end_time=max(end_ns, start_ns))


def now_ns() -> int:
    """The clock spans are timed by."""
    return time.time_ns()


def trace_id(span) -> str:
    """The span's trace id as 32 hex digits, "" for none."""
    context = span.get_span_context() if span is not None else None
    return format(context.trace_id, "032x") if context is not None and context.is_valid else ""


def end_server_span(span, error: str | None, attributes: Mapping[str, Any]) -> None:
    """Ends a request's span with its final attributes; `error` (a message) marks it failed."""
    from opentelemetry.trace import Status, StatusCode

    span.set_attributes(attributes)
    if error is not None:
        span.set_status(Status(StatusCode.ERROR, error))
    span.end()
