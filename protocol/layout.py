"""Files a server reads inside a SavedModel version directory, besides the SavedModel itself."""
from __future__ import annotations

ASSETS_EXTRA = "assets.extra"  # files for the server, not for the graph
WARMUP_FILE = f"{ASSETS_EXTRA}/tf_serving_warmup_requests"  # TFRecord of PredictionLog, replayed before serving
MAX_WARMUP_RECORDS = 1000  # more than this fails the load
