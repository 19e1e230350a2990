"""The server's own account of the requests a benchmark sent: its latency histograms' sums and counts, read
from the Prometheus page of a server started by `Workload.metered_server`. Differences of two readings give
what the requests between them cost inside the server, apart from the client and the transport."""

from __future__ import annotations

import requests
from prometheus_client.parser import text_string_to_metric_families

from serving.metrics import REQUEST_LATENCY, RUNTIME_LATENCY


def latency_totals(session: requests.Session, metrics_url: str, model: str, entrypoint: str = "") -> dict[str, float]:
    """For `model`: `request_ms` / `requests` (request_latency, only `entrypoint`'s, REST or GRPC, when given)
    and `run_ms` / `runs` (runtime_latency: every Session run, every signature), totals since the server began."""
    page = session.get(metrics_url, timeout=30)
    page.raise_for_status()
    totals = {"request_ms": 0.0, "requests": 0.0, "run_ms": 0.0, "runs": 0.0}
    keys = {REQUEST_LATENCY: ("request_ms", "requests"), RUNTIME_LATENCY: ("run_ms", "runs")}
    for family in text_string_to_metric_families(page.text):
        if family.name not in keys:
            continue
        ms, count = keys[family.name]
        for sample in family.samples:
            labels = sample.labels
            if labels.get("model_name") != model or (entrypoint and labels.get("entrypoint", entrypoint) != entrypoint):
                continue
            if sample.name == family.name + "_sum":
                totals[ms] += sample.value / 1e3
            elif sample.name == family.name + "_count":
                totals[count] += sample.value
    return totals


def difference(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    """What the requests between two readings cost."""
    return {key: after[key] - before[key] for key in after}
