"""Size limits both ends of the wire agree on."""

from __future__ import annotations

# The largest gRPC message either side accepts (protobuf's own 2 GiB ceiling); servers and clients
# raise gRPC's 4 MB default to it, and no tensor may declare more bytes than one message can carry.
MAX_MESSAGE_BYTES = (1 << 31) - 1

# The most one request may make the server build beyond what it carried (a short typed tensor field filled
# up to its shape, a classify/regress context copied into every example): TensorFlow builds any size, so a
# 31-byte message could otherwise cost gigabytes. The server's default; --max_request_expansion_bytes sets it.
MAX_EXPANSION_BYTES = 64 << 20
