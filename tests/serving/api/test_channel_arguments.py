"""`--grpc_channel_arguments` override the server's built-in channel arguments (a real server)."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from serving.api.tfs_grpc import channel_options, parse_channel_arguments
from serving.testing.server_process import ServerProcess, run_server

LIMIT = 4096


def _predict(server, n):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "half_plus_two"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.ones(n, np.float32)))
    with grpc.insecure_channel(server.grpc_address) as channel:
        return prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=30)


def test_a_lowered_receive_limit_refuses_larger_messages(model_root):
    with ServerProcess(
        model_name="half_plus_two",
        model_base_path=model_root / "half_plus_two",
        rest=False,
        args=[f"--grpc_channel_arguments=grpc.max_receive_message_length={LIMIT}", "--file_system_poll_wait_seconds=0"],
    ) as server:
        assert len(_predict(server, 100).outputs["y"].float_val) == 100  # ~400 bytes: under the limit
        with pytest.raises(grpc.RpcError) as info:
            _predict(server, 10_000)  # ~40 KB
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert str(LIMIT) in info.value.details()


def test_parsing_follows_the_official_server():
    assert parse_channel_arguments("a=1,b= -2 ,c=x,,d=3000000000,e=1=2") == {
        "a": 1,
        "b": -2,
        "c": "x",
        "d": "3000000000",
        "e": 1,
    }  # int32 values become ints, others strings
    options = dict(channel_options("grpc.max_receive_message_length=10"))
    assert options["grpc.max_receive_message_length"] == 10
    assert options["grpc.max_send_message_length"] == (1 << 31) - 1


def test_an_argument_without_a_value_fails_start_up(tmp_path):
    result = run_server(["--grpc_channel_arguments=grpc.max_receive_message_length", f"--model_base_path={tmp_path}"])
    assert result.returncode == 255
    assert "--grpc_channel_arguments: expected key=value, got 'grpc.max_receive_message_length'" in result.stderr
