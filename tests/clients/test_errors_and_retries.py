"""Errors carry the server's code and message on both transports; REST retries 503s, dropped
connections and read timeouts, gRPC retries UNAVAILABLE; metadata is read once per address; REST puts
string tensors on the wire as b64."""

from __future__ import annotations

import base64
import json
import threading

import numpy as np
import pytest

from clients.errors import ServingError
from clients.tfs_grpc import GrpcClient
from clients.tfs_rest import RestClient
from tests.clients.proxy import MisbehavingGrpcProxy, MisbehavingProxy


@pytest.mark.parametrize(
    "call, code, http_status, message",
    [
        (lambda c: c.status("nope"), "NOT_FOUND", 404, "nope"),
        (lambda c: c.predict("hpt", [1.0], version=99), "NOT_FOUND", 404, "Specific(hpt, 99)"),
        (
            lambda c: c.predict("hpt", [1.0], label="canary"),
            "INVALID_ARGUMENT",
            400,
            "Unrecognized servable version label: canary",
        ),
        (lambda c: c.predict("hpt", [1.0], signature="nope"), "FAILED_PRECONDITION", 400, '"nope" not found'),
        (
            # The graph judges shapes, as TF Serving's does: `a` of rank 1 cannot be summed over axis 1.
            lambda c: c.predict("multi_io", {"a": [1.0, 2.0, 3.0], "b": [1]}),
            "INVALID_ARGUMENT",
            400,
            "Invalid reduction dimension",
        ),
        (lambda c: c.predict("multi_io", {"a": [[1.0, 2.0]]}), "INVALID_ARGUMENT", 400, "Missing"),
    ],
    ids=["unknown-model", "unknown-version", "unknown-label", "unknown-signature", "wrong-shape", "missing-input"],
)
def test_errors_map_to_one_exception(client, call, code, http_status, message):
    with pytest.raises(ServingError) as err:
        call(client)
    assert err.value.code == code
    assert err.value.http_status == http_status
    assert message in err.value.message


def test_integer_input_refuses_floats_before_sending(client):
    with pytest.raises(ValueError, match="floats"):
        client.predict("multi_io", {"a": [[1.0, 2.0]], "b": [1.5]})


def test_rest_retries_503_then_succeeds(tiny_server):
    with (
        MisbehavingProxy(tiny_server.rest_url, fail_with_503=2) as proxy,
        RestClient(proxy.url, retries=3, backoff=0.01) as rest,
    ):
        np.testing.assert_allclose(rest.predict("hpt", [2.0], version=1)["y"], [3.0])
        paths = [r.path for r in proxy.requests]
    # The metadata read (for dtypes) came first and took both 503s; then one predict.
    assert paths == ["/v1/models/hpt/versions/1/metadata"] * 3 + ["/v1/models/hpt/versions/1:predict"]


def test_rest_gives_up_after_retries_with_unavailable(tiny_server):
    with (
        MisbehavingProxy(tiny_server.rest_url, fail_with_503=10) as proxy,
        RestClient(proxy.url, retries=2, backoff=0.01) as rest,
    ):
        with pytest.raises(ServingError) as err:
            rest.status("hpt")
        assert len(proxy.requests) == 3
    assert err.value.code == "UNAVAILABLE" and err.value.http_status == 503
    assert "proxy: try again" in err.value.message


def test_rest_retries_a_reset_connection(tiny_server):
    with (
        MisbehavingProxy(tiny_server.rest_url, reset=2) as proxy,
        RestClient(proxy.url, retries=3, backoff=0.01) as rest,
    ):
        (status,) = rest.status("hpt", version=1)
        assert status.state == "AVAILABLE"
        assert len(proxy.requests) == 3


def test_rest_read_timeout_is_retried_then_deadline_exceeded(tiny_server):
    with (
        MisbehavingProxy(tiny_server.rest_url, delay=1.0) as proxy,
        RestClient(proxy.url, timeout=0.3, retries=1, backoff=0.01) as rest,
    ):
        with pytest.raises(ServingError) as err:
            rest.status("hpt")
        assert len(proxy.requests) == 2
    assert err.value.code == "DEADLINE_EXCEEDED" and "0.3 s" in err.value.message


def test_grpc_retries_unavailable_then_succeeds(tiny_server):
    with (
        MisbehavingGrpcProxy(tiny_server.grpc_address, fail_with_unavailable=2) as proxy,
        GrpcClient(proxy.address, retries=3, backoff=0.01) as grpc_client,
    ):
        (status,) = grpc_client.status("hpt", version=1)
        assert status.state == "AVAILABLE"
        assert proxy.calls == ["/tensorflow.serving.ModelService/GetModelStatus"] * 3


def test_grpc_without_retries_fails_with_unavailable(tiny_server):
    with (
        MisbehavingGrpcProxy(tiny_server.grpc_address, fail_with_unavailable=1) as proxy,
        GrpcClient(proxy.address, retries=0) as grpc_client,
    ):
        with pytest.raises(ServingError) as err:
            grpc_client.status("hpt", version=1)
        assert len(proxy.calls) == 1
    assert err.value.code == "UNAVAILABLE" and err.value.message == "proxy: try again"


@pytest.mark.parametrize("transport", ["rest", "grpc"])
def test_metadata_is_read_once_per_address(tiny_server, transport):
    x = np.array([1.0], dtype=np.float32)
    if transport == "rest":
        proxy = MisbehavingProxy(tiny_server.rest_url)
        client, seen = RestClient(proxy.url), lambda: [r.path for r in proxy.requests]
    else:
        proxy = MisbehavingGrpcProxy(tiny_server.grpc_address)
        client, seen = GrpcClient(proxy.address), lambda: proxy.calls
    with proxy, client:
        for _ in range(3):
            client.predict("hpt", x, version=1)
        client.predict("hpt", x, label="stable")
        reads = [c for c in seen() if "metadata" in c.lower()]
    assert len(reads) == 2  # versions/1 once, labels/stable once


def test_rest_waits_for_a_server_that_is_not_up_yet(tiny_server):
    proxy = MisbehavingProxy(tiny_server.rest_url, listen=False)  # port bound, connections refused
    try:
        timer = threading.Timer(0.5, proxy.listen)
        timer.start()
        with RestClient(proxy.url, retries=6, backoff=0.2) as rest:  # pauses of 0.1-0.2, 0.2-0.4, 0.4-0.8 s, ...
            (status,) = rest.status("hpt", version=2)
        timer.join()
        assert status.state == "AVAILABLE"
    finally:
        proxy.close()


def test_rest_connection_refused_is_unavailable():
    proxy = MisbehavingProxy("http://127.0.0.1:9", listen=False)
    try:
        with RestClient(proxy.url, retries=1, backoff=0.01) as rest, pytest.raises(ServingError) as err:
            rest.status("hpt")
        assert err.value.code == "UNAVAILABLE"
    finally:
        proxy.close()


def test_rest_sends_string_inputs_as_b64(tiny_server):
    jpeg_like = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256))
    with MisbehavingProxy(tiny_server.rest_url) as proxy, RestClient(proxy.url) as rest:
        out = rest.predict("strings", np.array([jpeg_like], dtype=object))
        (predict,) = [r for r in proxy.requests if r.path.endswith(":predict")]
    assert out["text_bytes"][0] == jpeg_like
    body = json.loads(predict.body)
    assert body["inputs"] == {"text": [{"b64": base64.b64encode(jpeg_like).decode("ascii")}]}
