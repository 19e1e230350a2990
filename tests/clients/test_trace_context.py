"""The clients send the caller's trace context when the caller traces, and need nothing when it does not."""

from __future__ import annotations

import subprocess
import sys

import pytest

from clients import trace_context
from serving.testing.server_process import REPO_ROOT


def test_nothing_is_sent_or_imported_for_an_application_that_does_not_trace():
    script = (
        "import sys\n"
        "from clients import trace_context\n"
        "assert trace_context.headers() is None and trace_context.metadata() is None\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_current_span_goes_out_as_traceparent():
    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry.sdk.trace import TracerProvider

    tracer = TracerProvider().get_tracer("test")
    assert trace_context.headers() is None  # no current span: nothing to send
    with tracer.start_as_current_span("caller") as span:
        headers = trace_context.headers()
        metadata = dict(trace_context.metadata())
    context = span.get_span_context()
    assert headers["traceparent"].startswith(f"00-{context.trace_id:032x}-{context.span_id:016x}-")
    assert metadata["traceparent"] == headers["traceparent"]
