"""REST transport limits on raw sockets: what a client that stalls, lies or floods may cost the server."""

from __future__ import annotations

import gzip
import json
import re
import resource
import socket
import time

import grpc
import numpy as np
import pytest
import requests
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from benchmarks import reliability
from serving.testing.server_process import ServerProcess, wait_for

PREDICT = "/v1/models/half_plus_two:predict"


@pytest.fixture(scope="module")
def strict_server(model_root):
    """Short read timeout (1 s) and a 10 MB body limit."""
    with ServerProcess(
        model_name="half_plus_two",
        model_base_path=model_root / "half_plus_two",
        args=[
            "--rest_api_read_timeout_in_ms=1000",
            "--max_request_body_bytes=10000000",
            "--file_system_poll_wait_seconds=0",
        ],
    ) as process:
        yield process


def _connect(server) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.rest_port), timeout=30)
    return sock


def _read_until_closed(sock: socket.socket, timeout: float = 30.0) -> bytes:
    sock.settimeout(timeout)
    chunks = []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _status_and_body(reply: bytes) -> tuple[int, bytes]:
    head, _, body = reply.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def test_declared_content_length_over_the_limit_is_413_before_the_body_is_sent(server):
    # the shared server allows 5 MB; declare 1 GB and send nothing of it
    with _connect(server) as sock:
        sock.sendall(
            b"POST " + PREDICT.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000000000\r\n\r\n"
        )
        status, body = _status_and_body(_read_until_closed(sock))
    assert status == 413
    assert "--max_request_body_bytes" in json.loads(body)["error"]


def test_expect_100_continue_gets_413_without_continue(server):
    with _connect(server) as sock:
        sock.sendall(
            b"POST " + PREDICT.encode() + b" HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
            b"Content-Length: 6000000\r\n\r\n"
        )
        reply = _read_until_closed(sock)
    assert reply.startswith(b"HTTP/1.1 413"), reply[:100]


def test_half_sent_headers_are_closed_after_the_read_timeout(strict_server):
    with _connect(strict_server) as sock:
        sock.sendall(b"POST " + PREDICT.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-")
        started = time.monotonic()
        assert _read_until_closed(sock) == b""  # closed without an answer
        assert time.monotonic() - started < 25
    assert requests.post(strict_server.rest_url + PREDICT, json={"instances": [2.0]}, timeout=30).status_code == 200


def test_a_connection_that_never_sends_is_closed(strict_server):
    with _connect(strict_server) as sock:
        assert _read_until_closed(sock) == b""


def test_a_stalled_body_is_408_and_closed(strict_server):
    with _connect(strict_server) as sock:
        sock.sendall(b"POST " + PREDICT.encode() + b' HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"instances"')
        status, body = _status_and_body(_read_until_closed(sock))
    assert status == 408 and "error" in json.loads(body)


def test_chunked_body_over_the_limit_is_413(strict_server):
    with _connect(strict_server) as sock:
        sock.sendall(b"POST " + PREDICT.encode() + b" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"1" * 1_000_000
        try:
            for _ in range(12):
                sock.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        reply = _read_until_closed(sock)
    assert reply.startswith(b"HTTP/1.1 413"), reply[:100]


def test_gzip_bomb_is_inflated_only_up_to_the_limit(strict_server):
    # ~1 MB on the wire, 1 GB inflated; the limit is 10 MB
    bomb = gzip.compress(b'{"instances": [1.0], "pad": "' + b" " * (1 << 30) + b'"}', compresslevel=9)
    assert len(bomb) < 2_000_000
    strict_server.reset_peak_rss()
    before = strict_server.rss_bytes()
    reply = requests.post(
        strict_server.rest_url + PREDICT,
        data=bomb,
        timeout=60,
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert reply.status_code == 413 and "--max_request_body_bytes" in reply.json()["error"]
    growth = strict_server.peak_rss_bytes() - before
    assert growth < 80 * 2**20, f"a 1 MB gzip body cost {growth / 2**20:.0f} MiB"
    small = gzip.compress(json.dumps({"instances": [2.0]}).encode())
    reply = requests.post(
        strict_server.rest_url + PREDICT, data=small, headers={"Content-Encoding": "gzip"}, timeout=30
    )
    assert reply.json() == {"predictions": [4.0]}  # the latest version: y = 0.5x + 3


def test_bad_gzip_is_400(strict_server):
    reply = requests.post(
        strict_server.rest_url + PREDICT, data=b"not gzip at all", timeout=30, headers={"Content-Encoding": "gzip"}
    )
    assert reply.status_code == 400 and "gzip" in reply.json()["error"]


def test_keep_alive_connection_serves_many_requests(strict_server):
    with requests.Session() as session:
        for value in range(20):
            reply = session.post(strict_server.rest_url + PREDICT, json={"instances": [float(value)]}, timeout=30)
            assert reply.json() == {"predictions": [0.5 * value + 3.0]}


def _grpc_predict(server, timeout: float = 30) -> float:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "half_plus_two"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([4.0], np.float32)))
    with grpc.insecure_channel(server.grpc_address) as channel:
        response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=timeout)
    return float(tf.make_ndarray(response.outputs["y"])[0])


def _stall(port: int, count: int, first_bytes: bytes) -> list[socket.socket]:
    sockets = []
    for _ in range(count):
        sock = socket.socket()
        sock.settimeout(10)
        sock.connect(("127.0.0.1", port))
        sock.send(first_bytes)
        sockets.append(sock)
    return sockets


def test_stalled_sockets_beyond_the_file_limit_leave_rest_and_grpc_answering(model_root):
    """1.5x the open-file limit in sockets that send half a request line: the connection cap keeps
    descriptors for everything else, the oldest stalled sockets make room for new clients, and
    nothing floods the log."""
    limit, stalled_count = 256, 384
    with ServerProcess(
        model_name="half_plus_two",
        model_base_path=model_root / "half_plus_two",
        open_file_limit=limit,
        args=["--file_system_poll_wait_seconds=0"],
    ) as server:
        log_before = server.log_bytes()
        stalled = []
        try:
            stalled = _stall(server.rest_port, stalled_count, b"POST /v1/mod")
            time.sleep(1.0)
            for _ in range(3):
                reply = requests.post(server.rest_url + PREDICT, json={"instances": [2.0]}, timeout=30)
                assert reply.json() == {"predictions": [4.0]}
            assert _grpc_predict(server) == 5.0
            time.sleep(2.0)
            assert server.log_bytes() - log_before < 20_000, server.log()[-2000:]
        finally:
            for sock in stalled:
                sock.close()
        assert server.process.poll() is None


def test_stalled_grpc_sockets_leave_rest_answering_and_are_closed_by_the_handshake_timeout(model_root):
    """Past gRPC's own cap (half the file limit: 128 here) new connections are refused, as grpcio cannot evict:
    stalled connections wait out the 5 s handshake timeout, REST keeps its descriptors meanwhile, then gRPC
    answers again."""
    with ServerProcess(
        model_name="half_plus_two",
        model_base_path=model_root / "half_plus_two",
        open_file_limit=256,
        args=["--file_system_poll_wait_seconds=0"],
    ) as server:
        log_before = server.log_bytes()
        stalled = _stall(server.grpc_port, 384, b"PRI * HTTP/2.0")
        try:
            reply = requests.post(server.rest_url + PREDICT, json={"instances": [2.0]}, timeout=30)
            assert reply.json() == {"predictions": [4.0]}

            def answered() -> bool:  # once the stalled connections are dropped
                try:
                    answer = _grpc_predict(server, timeout=5)
                except grpc.RpcError:
                    return False
                assert answer == 5.0
                return True

            # gRPC's own default handshake timeout (120 s) would not do
            wait_for(answered, 60, "gRPC to answer again", interval=1.0)
            assert server.log_bytes() - log_before < 20_000, server.log()[-2000:]
        finally:
            for sock in stalled:
                sock.close()


def _open_file_limit(wanted: int) -> int:
    """Raises this test process's soft open-file limit to `wanted` (it opens thousands of sockets) and returns
    the limit a server may be given; skips where the hard limit is lower."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"needs {wanted} open files; the hard limit is {hard}")
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return wanted


@pytest.mark.parametrize("preface", [False, True], ids=["silent", "preface-then-silent"])
def test_thousands_of_idle_grpc_sockets_leave_predict_and_health_answering(model_root, preface):
    """4,200 connections that never send the HTTP/2 preface (or send it and nothing more): before, the 4096
    connection cap made Predict and grpc.health.v1 (the liveness probe) UNAVAILABLE until they closed."""
    limit = _open_file_limit(10_000)  # the server's gRPC cap is half of it: 5,000
    with ServerProcess(
        model_name="half_plus_two",
        model_base_path=model_root / "half_plus_two",
        open_file_limit=limit,
        args=["--file_system_poll_wait_seconds=0", "--enable_grpc_healthcheck_service"],
    ) as server:
        result = reliability.run_idle_grpc(server, sockets=4200, preface=preface, checks=2)
    assert result["answers"] == {"Predict OK": 2, "Health OK": 2}, result
    assert result["rss_with_sockets_mib"] - result["rss_before_mib"] < 200, result  # ~15 KB a connection


# ---------------------------------------------------------------------------- framing, half-close, Date, SIGTERM


@pytest.fixture(scope="module")
def edges(server):
    return reliability.run_http_edges(server)


def test_content_length_with_transfer_encoding_is_refused_and_nothing_after_it_answered(edges):
    assert edges["cl_te_then_pipelined"] == [400]  # before: 200, and the pipelined request answered too


def test_a_client_that_half_closes_after_its_request_gets_the_answer(edges):
    assert edges["half_close"] == [200]
    assert json.loads(edges["half_close_answer"]) == {"predictions": [3.5]}  # version 2: 0.5 x 1 + 3


def test_huge_numbers_are_the_official_client_errors_and_log_no_traceback(edges):
    assert edges["version_5000_digits"] == [400, "Failed to convert version: 9999999999999"]
    assert edges["json_number_5000_digits"] == [
        400,
        "JSON Parse error: Number too big to be stored in double. at offset: 15",
    ]
    assert edges["tracebacks_logged"] == 0


def test_every_answer_carries_a_date_header(server, edges):
    assert re.fullmatch(r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT", edges["date_header"])
    with _connect(server) as sock:  # a transport-level error too
        sock.sendall(b"BROKEN\r\n\r\n")
        assert b"\r\nDate: " in _read_until_closed(sock)


def test_sigterm_lets_every_answer_in_flight_be_written_whole(tmp_path):
    result = reliability.run_sigterm_drain(tmp_path, readers=2)
    assert result["complete_answers"] == 2, result  # before: ~3.9 of 8.4 MB, then the connection closed
    assert result["exit_code"] == 0
