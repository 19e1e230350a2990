"""Request loggers follow the model config as TF Serving's ServerRequestLogger does; collectors rotate files."""

from __future__ import annotations

import os

import pytest

from protocol.generated.tensorflow_serving.config import logging_config_pb2, model_server_config_pb2
from serving.errors import ServingError
from serving.logs.collector import RotatingFiles, log_files
from serving.logs.request_logger import RequestLogOptions, ServerRequestLogger, sampling_rate


def _model(name: str, prefix, rate: float = 1.0) -> model_server_config_pb2.ModelConfig:
    model = model_server_config_pb2.ModelConfig(name=name, base_path="/models/" + name, model_platform="tensorflow")
    model.logging_config.log_collector_config.filename_prefix = str(prefix)
    model.logging_config.sampling_config.sampling_rate = rate
    return model


def test_loggers_follow_the_config(tmp_path):
    logs = ServerRequestLogger(RequestLogOptions())
    try:
        logs.update([_model("a", tmp_path / "a"), _model("b", tmp_path / "shared"), _model("c", tmp_path / "shared")])
        a, b, c = logs.logger("a"), logs.logger("b"), logs.logger("c")
        assert b.collector is c.collector and a.collector is not b.collector  # one writer per prefix
        plain = model_server_config_pb2.ModelConfig(name="d", base_path="/models/d", model_platform="tensorflow")
        logs.update([_model("a", tmp_path / "a"), _model("b", tmp_path / "shared", 0.5), plain])
        assert logs.logger("a") is a  # an unchanged config keeps its logger
        assert logs.logger("b") is not b and logs.logger("b").rate == 0.5
        assert logs.logger("c") is None and logs.logger("d") is None
        with pytest.raises(ServingError, match="absolute"):
            logs.update([_model("a", "relative")])
        assert logs.logger("a") is a  # a config that cannot apply changes nothing
    finally:
        logs.close()


def test_per_task_sampling_picks_the_first_match():
    config = logging_config_pb2.SamplingConfig(sampling_rate=0.1)
    config.per_task_sampling_configs.add(dc="aa", task_index=0, sampling_rate=1.0)
    config.per_task_sampling_configs.add(dc="aa", sampling_rate=0.0)
    assert sampling_rate(config) == 0.1  # this server: no datacenter, no task index
    assert sampling_rate(config, "aa", 0) == 1.0
    assert sampling_rate(config, "aa", 3) == 0.0
    config.per_task_sampling_configs.add(sampling_rate=0.7)
    assert sampling_rate(config) == 0.7


def test_files_rotate_before_passing_their_size_and_the_oldest_go(tmp_path):
    files = RotatingFiles(str(tmp_path / "deep" / "m"), file_bytes=100, max_files=2)
    try:
        for i in range(10):
            files.write(bytes([i]) * 30)  # 46 bytes framed: two a file
        files.flush()
    finally:
        files.close()
    kept = log_files(str(tmp_path / "deep" / "m"))
    assert len(kept) == 2 and kept[-1] == files.path
    assert all(os.path.getsize(path) == 92 for path in kept)
    big = RotatingFiles(str(tmp_path / "big"), file_bytes=10, max_files=3)
    big.write(b"x" * 50)  # larger than a file: a file of its own, never refused
    big.close()
    assert os.path.getsize(log_files(str(tmp_path / "big"))[0]) == 66
