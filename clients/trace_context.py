"""The caller's trace context, sent with every call, so a server's spans join the caller's trace.

When the application traces with OpenTelemetry, each REST request carries the current context's headers
(W3C `traceparent`, `tracestate`, `baggage`: whatever the global propagator writes) and each gRPC call the same
as metadata. OpenTelemetry is not a dependency: an application that never imported it has no current span,
so nothing is looked up (one dictionary check per call), and nothing is imported here until it has.
"""

from __future__ import annotations

import sys


def headers() -> dict[str, str] | None:
    """The propagation headers for the current context; None when there is nothing to send."""
    if "opentelemetry.context" not in sys.modules:
        return None
    from opentelemetry import propagate

    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier or None


def metadata() -> tuple[tuple[str, str], ...] | None:
    """The same as gRPC metadata."""
    carrier = headers()
    return tuple(carrier.items()) if carrier else None
