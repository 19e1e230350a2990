"""The reliability suite in CI: 2,000 fuzzed requests (hypothesis; `python -m benchmarks.reliability --fuzz 10000`
sends 10,000), then the fault scenarios of benchmarks/reliability.py with small counts, each against real
servers on 127.0.0.1."""

from __future__ import annotations

import json

import grpc
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks import reliability
from protocol.generated.tensorflow.core.framework import tensor_pb2
from protocol.generated.tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc
from protocol.limits import MAX_MESSAGE_BYTES
from serving.testing.models import build_half_plus_two
from serving.testing.server_process import ServerProcess

EXAMPLES = 1_000  # REST bodies, and as many gRPC requests (python -m benchmarks.reliability sends 10,000)
FUZZ = settings(
    max_examples=EXAMPLES, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck)
)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = build_half_plus_two(tmp_path_factory.mktemp("reliability") / "half_plus_two")
    with ServerProcess(
        model_name="half_plus_two",
        model_base_path=base,
        args=[
            "--file_system_poll_wait_seconds=0",
            "--max_request_body_bytes=10000000",
            "--rest_api_read_timeout_in_ms=2000",
        ],
    ) as process:
        yield process


@pytest.fixture(scope="module")
def rss_report(server):
    """Reports the server's RSS growth over the fuzzing and bounds it."""
    report = {"before": reliability.rss(server)}
    yield report
    growth = reliability.rss(server) - report["before"]
    print(f"\nfuzzing: RSS growth {growth / 2**20:.1f} MiB, peak {reliability.peak_rss(server) / 2**20:.0f} MiB")
    assert growth < 200 * 2**20


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.fixed_dictionaries({"b64": st.text(max_size=12)}),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(reliability.KEYS) | st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)
documents = st.dictionaries(st.sampled_from(reliability.KEYS), json_values, max_size=4).map(
    lambda doc: json.dumps(doc, allow_nan=True).encode()
)
rest_bodies = (
    documents
    | st.binary(max_size=64)
    | documents.flatmap(lambda body: st.integers(0, max(len(body) - 1, 0)).map(lambda cut: body[:cut]))
)


@FUZZ
@given(path=st.sampled_from(reliability.PATHS), body=rest_bodies)
def test_fuzzed_rest_bodies_get_client_errors(server, rss_report, path, body):
    reply = requests.post(server.rest_url + path, data=body, timeout=60)
    assert reply.status_code < 500 or reply.status_code == 501, (reply.status_code, body, reply.text)
    assert "error" in reply.json() or reply.status_code == 200


sizes = st.sampled_from([-7, -1, 0, 1, 2, 3, 1 << 31, 1 << 40, 1 << 62]) | st.integers(-(1 << 63), (1 << 63) - 1)


@st.composite
def tensor_protos(draw) -> tensor_pb2.TensorProto:
    tensor = tensor_pb2.TensorProto(dtype=draw(st.integers(0, 30) | st.sampled_from([1, 1, 101, 999])))
    for size in draw(st.lists(sizes, max_size=4)):
        tensor.tensor_shape.dim.add(size=size)
    tensor.tensor_shape.unknown_rank = draw(st.booleans()) and draw(st.booleans()) and draw(st.booleans())
    field = draw(st.integers(0, 5))
    if field == 0:
        tensor.float_val.extend(draw(st.lists(st.floats(width=32), max_size=6)))
    elif field == 1:
        tensor.int_val.extend(draw(st.lists(st.integers(-(1 << 31), (1 << 31) - 1), max_size=6)))
    elif field == 2:
        tensor.string_val.extend(draw(st.lists(st.binary(max_size=8), max_size=4)))
    elif field == 3:
        tensor.tensor_content = draw(st.binary(max_size=32))
    elif field == 4:
        tensor.int64_val.extend(draw(st.lists(st.integers(-(1 << 63), (1 << 63) - 1), max_size=4)))
    return tensor


@st.composite
def predict_requests(draw) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = draw(st.sampled_from(["half_plus_two", "half_plus_two", "nope", ""]))
    if draw(st.booleans()):
        request.model_spec.version.value = draw(st.sampled_from([1, 2, 99, -1]))
    request.model_spec.signature_name = draw(st.sampled_from(["", "", "nope", "classify_x_to_y"]))
    for name in draw(st.lists(st.sampled_from(["x", "x", "y", ""]), min_size=1, max_size=2, unique=True)):
        request.inputs[name].CopyFrom(draw(tensor_protos()))
    request.output_filter.extend(draw(st.lists(st.sampled_from(["y", "nope"]), max_size=2)))
    return request


@pytest.fixture(scope="module")
def stub(server):
    # As the project's clients are: an answer as large as the server may send (a fuzzed 1020x1028 input's
    # output is past gRPC's 4 MB default) is read, not refused by the client.
    limits = [(f"grpc.max_{way}_message_length", MAX_MESSAGE_BYTES) for way in ("receive", "send")]
    with grpc.insecure_channel(server.grpc_address, options=limits) as channel:
        yield prediction_service_pb2_grpc.PredictionServiceStub(channel)


@FUZZ
@given(request=predict_requests())
def test_fuzzed_grpc_requests_get_invalid_argument_class_codes(server, rss_report, stub, request):
    try:
        stub.Predict(request, timeout=60)
    except grpc.RpcError as e:
        assert e.code().name in reliability.ACCEPTED_GRPC, (e.code(), e.details(), request)
        assert "Traceback" not in e.details()


def test_server_alive_after_fuzzing(server, rss_report):
    assert server.process.poll() is None
    reply = requests.post(f"{server.rest_url}/v1/models/half_plus_two:predict", json={"instances": [2.0]}, timeout=30)
    assert reply.json() == {"predictions": [3.0]}


def test_seeded_fuzz_of_the_benchmark(server):
    result = reliability.run_fuzz(server, 500, seed=1)
    assert result["failure_count"] == 0, result["failures"]
    assert result["alive"]


def test_slow_clients_leave_others_served(server):
    result = reliability.run_slow_clients(server, stalled=60, requests_count=60)
    assert result["failed"] == 0


def test_gzip_bomb_is_refused_cheaply(server):
    result = reliability.run_gzip_bomb(server, inflated=256 << 20)
    assert result["status"] == 413 and result["peak_rss_growth_mib"] < 80


def test_version_swaps_under_load_fail_no_request(tmp_path):
    result = reliability.run_swaps(tmp_path, swaps=2)
    assert result["failed"] == 0, result["errors"]
    assert result["requests"] > 0 and len(result["answers_by_value"]) >= 2


def test_a_corrupt_version_next_to_good_ones(tmp_path):
    result = reliability.run_corrupt(tmp_path)
    assert result["failed"] == 0, result["errors"]
    states = {s["version"]: s for s in result["status_with_corrupt_version"]["model_version_status"]}
    assert states["1"]["state"] == "AVAILABLE"
    assert states["2"]["status"]["error_code"] != "OK"


def test_sigterm_under_load(tmp_path):
    result = reliability.run_sigterm(tmp_path)
    assert result["exit_code"] == 0
    assert result["failed_otherwise"] == 0, result["outcomes"]
    assert result["in_flight_slow_requests"] == [200, 200, 200]
