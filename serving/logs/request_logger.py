"""Request logging as the model config declares it: each model's `logging_config` (sampling_config and
log_collector_config) decides which share of its answered requests is kept, and where.

As in TF Serving's ServerRequestLogger, the loggers follow the model config: a reload that keeps a model's
LoggingConfig keeps its logger; a new or changed one gets a new logger; a model left out logs no more. Loggers
whose configs name the same `filename_prefix` share one Collector (one writer, one series of files), which is
closed once no logger names it.

A request is logged only after it was answered; the request thread does no more than draw the sample, size
what the record would hold from the arrays and messages it already has (nothing is serialized) and queue
references to them. A record that would hold more than `max_record_bytes` is not logged; a record that finds
the queue full is dropped. Both are counted under `request_log_count` as RESOURCE_EXHAUSTED, written records as
OK, failed writes as INTERNAL. The queue holds at most `queue_bytes` (the references it holds keep that much
of finished requests alive) and `queue_records` records.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from protocol.generated.tensorflow_serving.config import logging_config_pb2, model_server_config_pb2
from serving.errors import invalid_argument, not_found
from serving.logs.collector import Collector
from serving.metrics import METRICS

COLLECTOR_TYPES = ("", "tfrecord")  # the one collector this server has; "" means it too


@dataclass(frozen=True)
class RequestLogOptions:
    """The bounds of request logging (the --request_log_* flags)."""

    max_record_bytes: int = 8 << 20
    file_bytes: int = 64 << 20
    max_files: int = 16
    queue_records: int = 1024

    @property
    def queue_bytes(self) -> int:
        return 8 * self.max_record_bytes


def check_logging_config(model_name: str, config: logging_config_pb2.LoggingConfig) -> None:
    """A model's logging_config can be applied: a known collector type, an absolute prefix, a rate in [0, 1]."""
    collector = config.log_collector_config
    if collector.type not in COLLECTOR_TYPES:
        raise not_found(
            f"Cannot find LogCollector::Factory for type: {collector.type} (model {model_name}; this server "
            'writes TFRecord files: type "tfrecord" or empty)'
        )
    if not collector.filename_prefix or not os.path.isabs(collector.filename_prefix):
        raise invalid_argument(
            f"Model {model_name}: log_collector_config.filename_prefix must be an absolute path prefix "
            f"(e.g. /var/log/serving/{model_name}); got {collector.filename_prefix!r}"
        )
    for rate in [config.sampling_config.sampling_rate] + [
        c.sampling_rate for c in config.sampling_config.per_task_sampling_configs
    ]:
        if not 0.0 <= rate <= 1.0:
            raise invalid_argument(f"Model {model_name}: sampling_rate must be within [0, 1]; got {rate}")


def sampling_rate(config: logging_config_pb2.SamplingConfig, dc: str = "", task_index: int | None = None) -> float:
    """The rate for this task: the first per-task config matching it, else sampling_rate (RequestLogger's rule;
    this server is one task with no datacenter unless told)."""
    for task in config.per_task_sampling_configs:
        if (not task.dc or task.dc == dc) and (not task.HasField("task_index") or task.task_index == task_index):
            return task.sampling_rate
    return config.sampling_rate


class RequestLogger:
    """One LoggingConfig: draws the sample and hands records to its Collector."""

    def __init__(
        self,
        config: logging_config_pb2.LoggingConfig,
        collector: Collector,
        options: RequestLogOptions,
        saved_model_tags: Sequence[str],
    ):
        self.config = config
        self.collector = collector
        self.options = options
        self.rate = sampling_rate(config.sampling_config)
        self.saved_model_tags = tuple(saved_model_tags)

    def sampled(self) -> bool:
        """Whether this request is one to log (a uniform draw against the rate)."""
        return self.rate > 0.0 and (self.rate >= 1.0 or random.random() < self.rate)

    def log(self, entry) -> bool:
        """Queues an answered request's record (an ops entry: `size`, `model`, `record(logger)`); False when it
        was too large or found the queue full."""
        item = _Pending(self, entry, time.time())
        if entry.size > self.options.max_record_bytes:
            _count(item, "RESOURCE_EXHAUSTED")
            return False
        return self.collector.offer(item, entry.size)


@dataclass
class _Pending:
    logger: RequestLogger
    entry: object
    timestamp: float

    def serialize(self) -> bytes:
        record = self.entry.record()
        metadata = record.log_metadata
        metadata.sampling_config.CopyFrom(self.logger.config.sampling_config)
        metadata.saved_model_tags.extend(self.logger.saved_model_tags)
        metadata.timestamp_secs = int(self.timestamp)
        return record.SerializeToString()


def _count(item: _Pending, code: str) -> None:
    METRICS.request_log_count.inc(item.entry.model, code)


class ServerRequestLogger:
    """Model name -> its RequestLogger, following the model config (`update`)."""

    def __init__(self, options: RequestLogOptions = RequestLogOptions(), saved_model_tags: Sequence[str] = ()):
        self.options = options
        self.saved_model_tags = tuple(saved_model_tags)
        self._by_model: dict[str, RequestLogger] = {}
        self._by_config: dict[bytes, RequestLogger] = {}
        self._collectors: dict[str, Collector] = {}
        self._lock = threading.Lock()

    def logger(self, model_name: str) -> RequestLogger | None:
        """The model's logger; None when it logs nothing (the one check a request pays)."""
        return self._by_model.get(model_name)

    def update(self, models: Iterable[model_server_config_pb2.ModelConfig]) -> None:
        """Applies a model config's logging_configs (checked first: a bad one changes nothing)."""
        configs = {m.name: m.logging_config for m in models if m.HasField("logging_config")}
        for name, config in configs.items():
            check_logging_config(name, config)
        with self._lock:
            by_config: dict[bytes, RequestLogger] = {}
            by_model: dict[str, RequestLogger] = {}
            for name, config in configs.items():
                key = config.SerializeToString(deterministic=True)
                logger = by_config.get(key) or self._by_config.get(key) or self._new_logger(config)
                by_config[key] = by_model[name] = logger
            self._by_model, self._by_config = by_model, by_config  # requests see the old map or the new one
            in_use = {logger.collector.prefix for logger in by_config.values()}
            retired = [prefix for prefix in self._collectors if prefix not in in_use]
            for prefix in retired:
                self._collectors.pop(prefix).close()

    def _new_logger(self, config: logging_config_pb2.LoggingConfig) -> RequestLogger:
        prefix = config.log_collector_config.filename_prefix
        collector = self._collectors.get(prefix)
        if collector is None:
            collector = self._collectors[prefix] = Collector(
                prefix,
                self.options.file_bytes,
                self.options.max_files,
                self.options.queue_records,
                self.options.queue_bytes,
                dropped=lambda item: _count(item, "RESOURCE_EXHAUSTED"),
                written=lambda item: _count(item, "OK"),
                failed=lambda item: _count(item, "INTERNAL"),
            )
        return RequestLogger(config, collector, self.options, self.saved_model_tags)

    def flush(self, timeout: float = 10.0) -> None:
        for collector in list(self._collectors.values()):
            collector.flush(timeout)

    def close(self) -> None:
        """Writes what is queued and closes every file (at server stop)."""
        with self._lock:
            collectors, self._collectors = list(self._collectors.values()), {}
            self._by_model, self._by_config = {}, {}
        for collector in collectors:
            collector.close()
