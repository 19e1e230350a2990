"""Size limits both ends of the wire agree on."""

from __future__ import annotations

# The largest gRPC message either side accepts (protobuf's own 2 GiB ceiling); servers and clients
# raise gRPC's 4 MB default to it, and no tensor may declare more bytes than one message can carry.
MAX_MESSAGE_BYTES = (1 << 31) - 1
