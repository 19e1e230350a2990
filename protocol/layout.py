"""The model directory layout a server reads: which children of a base path are versions, and the
files inside a SavedModel version directory besides the SavedModel itself."""

from __future__ import annotations

from protocol.numbers import simple_atoi

ASSETS_EXTRA = "assets.extra"  # files for the server, not for the graph
WARMUP_FILE = f"{ASSETS_EXTRA}/tf_serving_warmup_requests"  # TFRecord of PredictionLog, replayed before serving
MAX_WARMUP_RECORDS = 1000  # more than this fails the load
# text BatchingParameters of this version, read with --enable_per_model_batching_parameters (the queue
# settings; the batch threads stay the server's); a version without it is not batched then
BATCHING_PARAMS_FILE = "batching_params.pbtxt"


def parse_version(name: str) -> int | None:
    """The version a child of a model's base path stands for, or None when it is not a version.

    As the official file-system source reads it (absl::SimpleAtoi into an int64): ASCII
    whitespace around it is ignored, one leading `+` or `-` is allowed, then ASCII digits only. So
    `0001` is 1 and ` 7` is 7, while `v1`, `1.0`, `0x10`, `²` or `١` (non-ASCII digits, which
    str.isdigit() accepts and int() may not) are not versions.
    """
    return simple_atoi(name, 64)
