"""Every client call, on both transports, against a real `python -m serving` on 127.0.0.1."""

from __future__ import annotations

import numpy as np
import pytest

from clients.errors import ServingError
from clients.tfs_grpc import GrpcClient
from clients.tfs_rest import RestClient
from serving.testing.models import build_half_plus_two
from serving.testing.server_process import ServerProcess, model_config_text, wait_for
from tests.clients.conftest import make_client


def test_status_lists_versions_and_follows_labels(client):
    states = {s.version: s.state for s in client.status("hpt")}
    assert states == {1: "AVAILABLE", 2: "AVAILABLE"}
    (stable,) = client.status("hpt", label="stable")
    assert (stable.version, stable.state, stable.error_code) == (1, "AVAILABLE", "OK")
    (second,) = client.status("hpt", version=2)
    assert second.version == 2


def test_metadata_describes_signatures(client):
    meta = client.metadata("multi_io")
    assert meta.model == "multi_io" and meta.version == 1
    sig = meta.signatures["serving_default"]
    assert {k: (t.dtype, t.shape) for k, t in sig.inputs.items()} == {
        "a": ("DT_FLOAT", (-1, 2)),
        "b": ("DT_INT64", (-1,)),
    }
    assert {k: t.dtype for k, t in sig.outputs.items()} == {
        "total": "DT_FLOAT",
        "doubled": "DT_FLOAT",
        "flag": "DT_BOOL",
    }
    assert client.metadata("hpt", version=2).version == 2
    assert client.metadata("hpt", label="stable").version == 1


def test_predict_numpy_in_numpy_out(client):
    a = np.array([[1.5, 2.0], [-3.0, 0.25], [0.0, 0.0]], dtype=np.float32)
    b = np.array([4, -7, 0], dtype=np.int64)
    out = client.predict("multi_io", {"a": a, "b": b})
    np.testing.assert_allclose(out["total"], a.sum(axis=1) + b)
    np.testing.assert_allclose(out["doubled"], 2 * a)
    np.testing.assert_array_equal(out["flag"], b > 0)
    assert out["total"].dtype == np.float32 and out["flag"].dtype == np.bool_


def test_predict_addresses_versions_and_labels(client):
    x = np.array([2.0, 10.0], dtype=np.float32)
    np.testing.assert_allclose(client.predict("hpt", x)["y"], x / 2 + 3)  # latest: version 2
    np.testing.assert_allclose(client.predict("hpt", x, version=1)["y"], x / 2 + 2)
    np.testing.assert_allclose(client.predict("hpt", x, label="stable")["y"], x / 2 + 2)


def test_predict_output_filter(client):
    out = client.predict("multi_io", {"a": [[1.0, 2.0]], "b": [1]}, output_filter=["flag"])
    assert list(out) == ["flag"] and out["flag"].tolist() == [True]


def test_rest_row_format_matches_columnar(tiny_server):
    with RestClient(tiny_server.rest_url) as rest:
        a = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
        b = np.array([1, 2], dtype=np.int64)
        rows = rest.predict("multi_io", {"a": a, "b": b}, row=True)
        columns = rest.predict("multi_io", {"a": a, "b": b})
        for name in columns:
            np.testing.assert_array_equal(rows[name], columns[name])
        np.testing.assert_allclose(rest.predict("hpt", [1.0, 3.0], row=True)["y"], [3.5, 4.5])


def test_string_inputs_round_trip_arbitrary_bytes(client):
    payload = [bytes(range(256)), b"\xff\xd8\xff\xe0 jpeg-ish", "plain text"]
    out = client.predict("strings", np.array(payload, dtype=object))
    assert out["text_bytes"].tolist() == [bytes(range(256)), b"\xff\xd8\xff\xe0 jpeg-ish", b"plain text"]
    assert out["length"].tolist() == [len(p.encode() if isinstance(p, str) else p) for p in payload]
    assert out["upper"].tolist() == [p.upper() if isinstance(p, bytes) else p.upper().encode() for p in payload]


def test_classify_and_regress(client):
    examples = [{"x": 1.0}, {"x": 6.0}]
    assert client.classify("hpt", examples, signature="classify_x_to_y", version=1) == [[("", 2.5)], [("", 5.0)]]
    assert client.regress("hpt", examples, signature="regress_x_to_y", version=1) == [2.5, 5.0]
    assert client.regress("hpt", examples, signature="regress_x_to_y") == [3.5, 6.0]


def test_grpc_multi_inference(tiny_server):
    with GrpcClient(tiny_server.grpc_address) as grpc_client:
        classified, regressed = grpc_client.multi_inference(
            "hpt", [{"x": 4.0}], [("classify_x_to_y", "classify"), ("regress_x_to_y", "regress")], version=1
        )
    assert classified == [[("", 4.0)]] and regressed == [4.0]


@pytest.mark.slow
def test_grpc_tensors_larger_than_4_megabytes(tiny_server):
    x = np.random.default_rng(0).standard_normal(3_000_000).astype(np.float32)  # 12 MB each way
    with GrpcClient(tiny_server.grpc_address) as grpc_client:
        y = grpc_client.predict("hpt", x, version=1)["y"]
    np.testing.assert_allclose(y, x * np.float32(0.5) + np.float32(2.0), rtol=1e-6)
    with GrpcClient(tiny_server.grpc_address, max_message_bytes=4 * 1024 * 1024) as limited:
        with pytest.raises(ServingError) as err:
            limited.predict("hpt", x, version=1)
    assert err.value.code == "RESOURCE_EXHAUSTED"


@pytest.mark.slow
def test_grpc_reload_config_replaces_the_model_list(tmp_path):
    build_half_plus_two(tmp_path / "a")
    build_half_plus_two(tmp_path / "b", offset=10.0)
    config = tmp_path / "models.config"
    config.write_text(model_config_text([{"name": "a", "base_path": str(tmp_path / "a")}]))
    with ServerProcess(model_config_file=config, rest=False) as server, make_client("grpc", server) as grpc_client:
        grpc_client.reload_config(model_config_text([{"name": "b", "base_path": str(tmp_path / "b")}]))
        np.testing.assert_allclose(grpc_client.predict("b", [0.0])["y"], [10.0])

        def dropped() -> bool:
            try:
                grpc_client.predict("a", [0.0])
            except ServingError as err:
                assert err.code == "NOT_FOUND"
                return True
            return False

        # unloading the dropped model is asynchronous
        wait_for(dropped, 30, "model a to be dropped by the reload", interval=0.2)
