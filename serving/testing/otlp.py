"""An OTLP/HTTP trace receiver on loopback, for tests and benchmarks of a tracing server: it accepts the
exporters' protobuf POSTs to /v1/traces (gzip or not), answers as a collector does and keeps the spans."""

from __future__ import annotations

import gzip
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    """`with Receiver() as receiver:` listens on 127.0.0.1 (`receiver.url`); `spans` holds (resource attributes,
    span) pairs, `posts` the number of exports received. With `keep=False` spans are counted, not kept."""

    def __init__(self, keep: bool = True) -> None:
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

        self.spans: list = []
        self.posts = 0
        self.span_count = 0
        self.lock = threading.Lock()
        receiver = self
        answer = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path != "/v1/traces" or self.headers.get("Content-Type") != "application/x-protobuf":
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
                with receiver.lock:
                    receiver.posts += 1
                    for resource_spans in request.resource_spans:
                        resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                        for scope in resource_spans.scope_spans:
                            receiver.span_count += len(scope.spans)
                            if keep:
                                receiver.spans.extend((resource, span) for span in scope.spans)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args) -> None:
                return

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.http.shutdown()
        self.http.server_close()

    def of_trace(self, trace_id: int) -> list:
        """The (resource, span) pairs of one trace."""
        wanted = trace_id.to_bytes(16, "big")
        with self.lock:
            return [(resource, span) for resource, span in self.spans if span.trace_id == wanted]

    def environment(self, **extra: str) -> dict[str, str]:
        """The OTEL_* variables that make a server export its spans here (OTLP over HTTP, short batches)."""
        return {
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_ENDPOINT": self.url,
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            **extra,
        }
