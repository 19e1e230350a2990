"""An export's warmup file read back as the server reads it, for the tests of every model."""

from __future__ import annotations

from pathlib import Path

from export.pipeline.warmup import read_warmup_requests
from protocol.layout import WARMUP_FILE


def warmup_requests(version: Path) -> dict[str, tuple[str, object]]:
    """signature name -> (log kind: predict_log, classify_log..., the request) of each record in `version`'s
    warmup file."""
    records = {}
    for log in read_warmup_requests(version / WARMUP_FILE):
        kind = log.WhichOneof("log_type")
        request = getattr(log, kind).request
        records[request.model_spec.signature_name] = (kind, request)
    return records


def warmup_kinds(version: Path, model: str) -> dict[str, str]:
    """signature name -> log kind of each warmup record, after checking every record names `model`."""
    records = warmup_requests(version)
    assert {request.model_spec.name for _, request in records.values()} == {model}
    return {signature: kind for signature, (kind, _) in records.items()}
