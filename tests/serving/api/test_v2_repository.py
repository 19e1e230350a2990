"""The model repository extension (index, load, unload) over REST and gRPC: mapped onto the model config the
server reloads, refused with --model_management=off; and the v2 API under the server's request limits and
in its metrics."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
import requests

from clients.v2_grpc import V2GrpcClient
from clients.v2_rest import V2RestClient
from protocol.generated.inference import open_inference_pb2 as pb
from protocol.generated.inference.open_inference_pb2_grpc import GRPCInferenceServiceStub
from serving.testing.models import build_half_plus_two, build_strings
from serving.testing.server_process import MONITORING_CONFIG, ServerProcess, model_config_text


@pytest.fixture(scope="module")
def repository(tmp_path_factory):
    root = tmp_path_factory.mktemp("v2-repository")
    build_half_plus_two(root / "hpt")
    build_strings(root / "strings")
    config = root / "models.config"
    config.write_text(
        model_config_text(
            [{"name": "hpt", "base_path": root / "hpt"}, {"name": "strings", "base_path": root / "strings"}]
        )
    )
    monitoring = root / "monitoring.config"
    monitoring.write_text(MONITORING_CONFIG)
    return config, monitoring


def _index(url: str) -> dict[str, str]:
    return {e["name"]: e["state"] for e in requests.post(f"{url}/v2/repository/index", timeout=30).json()}


def test_unload_and_load_over_rest_and_grpc(repository):
    config, _ = repository
    with ServerProcess(model_config_file=config, args=["--file_system_poll_wait_seconds=0"]) as server:
        url = server.rest_url
        assert _index(url) == {"hpt": "READY", "strings": "READY"}
        assert requests.post(f"{url}/v2/repository/models/strings/unload", timeout=60).status_code == 200
        entries = requests.post(f"{url}/v2/repository/index", json={"ready": False}, timeout=30).json()
        assert {"name": "strings", "version": "", "state": "UNAVAILABLE", "reason": "unloaded"} in entries
        assert [e["name"] for e in requests.post(f"{url}/v2/repository/index", json={"ready": True}).json()] == ["hpt"]
        assert requests.get(f"{url}/v2/models/strings/ready", timeout=10).status_code == 404
        with V2RestClient(url) as client:
            assert not client.server_ready() or client.ready("hpt")  # strings left the config: hpt is all there is
        with grpc.insecure_channel(server.grpc_address) as channel:
            stub = GRPCInferenceServiceStub(channel)
            stub.RepositoryModelLoad(pb.RepositoryModelLoadRequest(model_name="strings"), timeout=120)
            assert [(m.name, m.state) for m in stub.RepositoryIndex(pb.RepositoryIndexRequest()).models] == [
                ("hpt", "READY"),
                ("strings", "READY"),
            ]
            with pytest.raises(grpc.RpcError) as unknown:
                stub.RepositoryModelLoad(pb.RepositoryModelLoadRequest(model_name="nope"))
            assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
        with V2GrpcClient(server.grpc_address) as client:
            assert client.predict("strings", np.array([b"ok"], dtype=object))["length"].tolist() == [2]
        refused = requests.post(
            f"{url}/v2/repository/models/hpt/load", json={"parameters": {"config": "{}"}}, timeout=10
        )
        assert refused.status_code == 400 and "config" in refused.json()["error"]


def test_model_management_off_refuses_load_and_unload(repository):
    config, _ = repository
    with ServerProcess(model_config_file=config, args=["--model_management=off"]) as server:
        response = requests.post(f"{server.rest_url}/v2/repository/models/hpt/unload", timeout=10)
        assert response.status_code == 403 and "--model_management=off" in response.json()["error"]
        with grpc.insecure_channel(server.grpc_address) as channel, pytest.raises(grpc.RpcError) as error:
            GRPCInferenceServiceStub(channel).RepositoryModelUnload(pb.RepositoryModelUnloadRequest(model_name="hpt"))
        assert error.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert _index(server.rest_url) == {"hpt": "READY", "strings": "READY"}  # the index stays readable


def test_limits_and_metrics_apply_to_v2(repository):
    config, monitoring = repository
    args = ["--max_tensor_elements=1000", f"--monitoring_config_file={monitoring}"]
    with ServerProcess(model_config_file=config, args=args) as server:
        header = {
            "inputs": [{"name": "x", "shape": [1000, 1000], "datatype": "FP32", "parameters": {"binary_data_size": 4}}]
        }
        response = requests.post(f"{server.rest_url}/v2/models/hpt/infer", json=header, timeout=10)
        assert response.status_code == 400 and "--max_tensor_elements=1000" in response.json()["error"]
        flood = (
            b'{"inputs": [{"name": "x", "shape": [3000000], "datatype": "FP32", "data": ['
            + b"0," * 3_000_000
            + b"0]}]}"
        )
        response = requests.post(f"{server.rest_url}/v2/models/hpt/infer", data=flood, timeout=60)
        assert response.status_code == 400 and "values" in response.json()["error"]
        with grpc.insecure_channel(server.grpc_address) as channel, pytest.raises(grpc.RpcError) as error:
            request = pb.ModelInferRequest(model_name="hpt")
            request.inputs.add(name="x", datatype="FP32", shape=[1 << 40])
            request.raw_input_contents.append(b"")
            GRPCInferenceServiceStub(channel).ModelInfer(request)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "max_tensor_elements" in error.value.details()
        with V2RestClient(server.rest_url) as rest, V2GrpcClient(server.grpc_address) as client:
            rest.predict("hpt", np.array([1.0], np.float32))
            client.predict("hpt", np.array([1.0], np.float32))
        page = requests.get(f"{server.rest_url}/monitoring/prometheus/metrics", timeout=10).text
        assert 'API="infer",entrypoint="REST",model_name="hpt"' in page.replace(" ", "")
        assert 'API="ModelInfer",entrypoint="GRPC",model_name="hpt"' in page.replace(" ", "")
