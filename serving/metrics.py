"""Prometheus metrics under the official names (`/tensorflow/serving/...` written as `:tensorflow:serving:...`).

Counters are exposed without the `_total` suffix prometheus_client adds, so scrapers see exactly
the names the official exporter writes.
"""

from __future__ import annotations

import threading
from collections import defaultdict

from prometheus_client import CollectorRegistry, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import Metric

REQUEST_LATENCY = ":tensorflow:serving:request_latency"  # microseconds, request read to answer handed over
RUNTIME_LATENCY = ":tensorflow:serving:runtime_latency"  # microseconds, the Session run alone
# Exponential(10, 1.8, 33) microsecond buckets, like the official request/runtime latency samplers.
LATENCY_BUCKETS = tuple(10 * 1.8**i for i in range(32)) + (float("inf"),)
# Exponential(1, 2, 14) for batch sizes.
BATCH_BUCKETS = tuple(2.0**i for i in range(13)) + (float("inf"),)


class _Counters:
    """A labelled int counter collected as type `counter` with the bare metric name."""

    def __init__(self, name: str, documentation: str, labels: tuple[str, ...]):
        self.name, self.documentation, self.labels = name, documentation, labels
        self._values: dict[tuple[str, ...], int] = defaultdict(int)
        self._lock = threading.Lock()

    def inc(self, *label_values: str) -> None:
        with self._lock:
            self._values[label_values] += 1

    def collect(self):
        metric = Metric(self.name, self.documentation, "counter")
        with self._lock:
            items = list(self._values.items())
        for values, count in items:
            metric.add_sample(self.name, dict(zip(self.labels, values)), count)
        yield metric

    def value(self, *label_values: str) -> int:
        with self._lock:
            return self._values.get(label_values, 0)


class Metrics:
    """The server's metrics. Label values never come from request data unchecked: a request names its model,
    and only names of models this server has loaded become `model_name` values (others are recorded as
    ""), so random names cannot grow the page without bound."""

    def __init__(self) -> None:
        self._models: set[str] = set()
        self.registry = CollectorRegistry(auto_describe=False)
        self.request_count = _Counters(
            ":tensorflow:serving:request_count", "The total number of requests.", ("model_name", "status")
        )
        self.registry.register(self.request_count)
        # request logs (serving/logs): OK written, RESOURCE_EXHAUSTED too large or dropped, INTERNAL failed writes
        self.request_log_count = _Counters(
            ":tensorflow:serving:request_log_count",
            "The total number of requests logged from the model server sliced down by model_name and status code.",
            ("model_name", "status_code"),
        )
        self.registry.register(self.request_log_count)
        self.request_latency = Histogram(
            REQUEST_LATENCY,
            "Distribution of wall time (in microseconds) for Tensorflow Serving request.",
            ("model_name", "API", "entrypoint"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.runtime_latency = Histogram(
            RUNTIME_LATENCY,
            "Distribution of wall time (in microseconds) for Tensorflow runtime.",
            ("model_name", "API", "runtime"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.queuing_latency = Histogram(
            ":tensorflow:serving:batching_session:queuing_latency",
            "Distribution of wall time spent (in microseconds) in queuing",
            ("thread_pool_name",),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.input_batch_size = Histogram(
            ":tensorflow:serving:batching_session:input_batch_size",
            "Tracks the batch size distribution on the inputs.",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.processed_batch_size = Histogram(
            ":tensorflow:serving:batching_session:processed_batch_size",
            "Tracks the batch size distribution on processing.",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.padding_size = Histogram(
            ":tensorflow:serving:batching_session:padding_size",
            "Tracks the padding size distribution on batches.",
            ("execution_batch_size",),
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )

    def register_model(self, name: str) -> None:
        """A model name the server has loaded (from its config, not from a request): a valid label value."""
        self._models.add(name)

    def record_request(self, model_name: str, api: str, entrypoint: str, code_name: str, micros: float) -> None:
        if model_name not in self._models:
            model_name = ""
        if code_name == "OK":
            self.request_latency.labels(model_name, api, entrypoint).observe(micros)
        self.request_count.inc(model_name, code_name)

    def page(self) -> bytes:
        text = generate_latest(self.registry)
        name = self.request_count.name.encode()
        return text.replace(name + b"_total ", name + b" ")


disable_created_metrics()
METRICS = Metrics()
