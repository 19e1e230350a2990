"""grpcio with no project code: what the transport itself costs around a call as long as a Session run.

`python -m benchmarks.grpc_alone` serves one generic unary method (raw bytes, no protobuf, no model) on
grpcio's synchronous server with a thread pool, the server serving/ runs. The request names a number of
milliseconds; the handler keeps a core busy that long (a Session run is busy, not asleep), then answers
4 KB (B0's scores are 4 KB), the first 16 bytes of it the held and the handler's own milliseconds. The
protocols benchmark sends it a request the size of the JPEG's PredictRequest, holding it for the gRPC
path's Session run: what its client measures beyond that is grpcio's own cost, thread wake-ups included,
the part of a gRPC call no code in this project can remove.
"""

from __future__ import annotations

import struct
import subprocess
import sys
import time
from concurrent import futures

import grpc

METHOD = "/benchmarks.GrpcAlone/Hold"
ANSWER_BYTES = 4096
REQUEST_BYTES = 106_000  # EfficientNet-B0's PredictRequest for the benchmark's JPEG
MAX_HOLD_MS = 10_000.0  # what one request may ask of the handler


def _hold(request: bytes, context) -> bytes:
    start = time.perf_counter()
    (hold_ms,) = struct.unpack("<d", request[:8])
    hold_ms = min(hold_ms, MAX_HOLD_MS)
    while (time.perf_counter() - start) * 1e3 < hold_ms:
        pass
    held = (time.perf_counter() - start) * 1e3
    return struct.pack("<dd", held, (time.perf_counter() - start) * 1e3).ljust(ANSWER_BYTES, b"\0")


def serve() -> None:
    """Serves on a free loopback port (printed), until stdin closes."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=[("grpc.max_receive_message_length", -1)])
    handler = grpc.unary_unary_rpc_method_handler(_hold)
    service, method = METHOD.strip("/").split("/")
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(service, {method: handler})])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    sys.stdin.read()
    server.stop(0)


class GrpcAlone:
    """The server above in a process of its own, and a channel to it."""

    def __enter__(self) -> GrpcAlone:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.grpc_alone"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        port = int(self.process.stdout.readline())
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self._call = self.channel.unary_unary(METHOD)
        self._padding = b"\0" * (REQUEST_BYTES - 8)
        return self

    def call(self, hold_ms: float) -> tuple[float, float]:
        """One call held `hold_ms` in the server; returns (held ms, handler ms) as the server measured them."""
        answer = self._call(struct.pack("<d", hold_ms) + self._padding, timeout=60)
        return struct.unpack("<dd", answer[:16])

    def __exit__(self, *exc) -> None:
        self.channel.close()
        self.process.stdin.close()
        self.process.wait(timeout=30)


if __name__ == "__main__":
    serve()
