"""The reliability suite: hostile and faulty traffic against real `python -m serving` processes on 127.0.0.1.

    python benchmarks/reliability.py [--fuzz 10000] [--seconds 20] [--out results.json]

Every scenario is bounded (counts and seconds), talks to loopback only and stops by itself:

    fuzz         fuzzed bad REST bodies and gRPC requests: every answer must be 4xx (or 501 for what
                 REST cannot carry) / an INVALID_ARGUMENT-class code, the server alive, RSS growth reported
    swaps        versions published and retired under REST + gRPC load: 0 failed requests
    corrupt      a corrupt newest version beside a good one under load: 0 failed requests, the good version
                 keeps serving, a good newer version is served again after it (time to recover)
    sigterm      SIGTERM under load: requests in flight finish, the process exits 0 (time to exit)
    slow         stalled, trickling and non-reading clients beside a normal one: the normal one is served
    gzip_bomb    a 1 MB body inflating to 1 GB: 413 and bounded RSS
    image_bomb   (with --efficientnet) a PNG of 64 MP sent to the bytes signature: 400, refused in the
                 graph before decoding (the export's --max-image-pixels), bounded RSS
    undeclared   one ~3 KB Predict with 100 undeclared inputs declaring 16 M floats each: refused by name, no memory
    fill_flood   40 concurrent ~31-byte Predicts each filling 16 M floats: answered, peak RSS within 1 GB
    context_bomb a regress with a 512 KiB context and 2,000 examples, REST and gRPC: 400, no memory
    http_edges   Content-Length with Transfer-Encoding then a pipelined request (400, nothing after it); a
                 half-close after a request (answered); 5,000-digit numbers in a URL and in JSON (400, no traceback)
    idle_grpc    4,200 sockets on the gRPC port that never send the HTTP/2 preface (or send it and stop):
                 Predict and grpc.health.v1 still answer
    drain        SIGTERM while clients read 8.4 MB REST answers at 6 MB/s: every answer arrives whole
    failing      3,000 empty version directories added by ReloadConfig: threads bounded, a healthy model answers
    keras_bomb   `python -m export keras` on a 1.5 MB archive whose config.json inflates to 1.5 GB: refused cheaply

The CI part (tests/benchmarks/test_reliability.py) runs the same scenarios with small counts.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import numpy as np
import requests

from protocol import tensors
from protocol.generated.tensorflow.core.framework import tensor_pb2, types_pb2
from protocol.generated.tensorflow_serving.apis import (
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)
from serving.testing.models import build_half_plus_two
from serving.testing.server_process import ServerProcess, wait_for

# Answers a hostile request may get: the client's fault, or something REST cannot carry (501).
ACCEPTED_GRPC = {"OK", "INVALID_ARGUMENT", "NOT_FOUND", "FAILED_PRECONDITION", "OUT_OF_RANGE", "UNIMPLEMENTED"}
MIB = 2**20


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def rss(server: ServerProcess) -> int:
    return _status_kib(server.process.pid, "VmRSS") * 1024


def peak_rss(server: ServerProcess) -> int:
    return _status_kib(server.process.pid, "VmHWM") * 1024


# ------------------------------------------------------------------ fuzzed requests

PATHS = [
    "/v1/models/half_plus_two:predict",
    "/v1/models/half_plus_two/versions/1:predict",
    "/v1/models/half_plus_two:classify",
    "/v1/models/half_plus_two:regress",
    "/v1/models/nope:predict",
    "/v1/models/half_plus_two/labels/x:predict",
    "/v1/models/half_plus_two/versions/99999999999999999999:predict",
]
KEYS = ["instances", "inputs", "signature_name", "examples", "context", "x", "b64", ""]


def _json_value(rng: random.Random, depth: int = 0):
    kind = rng.randrange(10 if depth < 5 else 6)
    if kind == 0:
        return rng.choice([None, True, False])
    if kind == 1:
        return rng.choice([0, -1, 1.5, 1e308, -1e-320, 2**63, -(2**64), 16777217, float("nan"), float("inf")])
    if kind == 2:
        return rng.choice(["", "x", "é", "\u0000", "a" * rng.randrange(1, 300)])
    if kind == 3:
        return {"b64": rng.choice(["aGVsbG8=", "%%%", "", "aGVsbG8", 5])}
    if kind in (4, 5):
        return rng.random() * 10
    if kind in (6, 7):
        return [_json_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {rng.choice(KEYS): _json_value(rng, depth + 1) for _ in range(rng.randrange(4))}


def _mutate(rng: random.Random, body: bytes) -> bytes:
    data = bytearray(body)
    for _ in range(rng.randrange(1, 6)):
        op = rng.randrange(3)
        at = rng.randrange(len(data) + 1)
        if op == 0 and data:
            data[min(at, len(data) - 1)] = rng.randrange(256)
        elif op == 1:
            data[at:at] = bytes([rng.choice(b'[]{}",:0e-.\\ ntfb')])
        elif data:
            del data[min(at, len(data) - 1)]
    return bytes(data)


def bad_rest_bodies(rng: random.Random, count: int) -> Iterator[tuple[str, bytes, dict]]:
    """(path, body, headers): broken syntax, wrong types and shapes, junk b64, deep nesting, gzip junk."""
    valid = [
        b'{"instances": [1.0, 2.0]}',
        b'{"inputs": {"x": [1.0]}}',
        b'{"signature_name": "regress_x_to_y", "examples": [{"x": 1.0}]}',
    ]
    for _ in range(count):
        kind = rng.randrange(8)
        headers = {"Content-Type": "application/json"}
        if kind == 0:
            body = bytes(rng.randrange(256) for _ in range(rng.randrange(64)))
        elif kind in (1, 2):
            body = _mutate(rng, rng.choice(valid))
        elif kind in (3, 4):
            doc = {rng.choice(KEYS): _json_value(rng) for _ in range(rng.randrange(1, 4))}
            body = json.dumps(doc, allow_nan=True).encode()
        elif kind == 5:
            depth = rng.choice([2_000, 20_000, 200_000])
            body = b'{"instances": ' + b"[" * depth + b"1" + b"]" * rng.choice([depth, depth - 1, 0]) + b"}"
        elif kind == 6:
            body = rng.choice(valid)[: rng.randrange(1, 20)]
        else:
            body = rng.choice([gzip.compress(rng.choice(valid))[:-4], b"\x1f\x8b junk", gzip.compress(b"[1,")])
            headers["Content-Encoding"] = "gzip"
        yield rng.choice(PATHS), body, headers


def bad_grpc_requests(rng: random.Random, count: int) -> Iterator[predict_pb2.PredictRequest]:
    """Predict requests with hostile tensors: odd dtypes, negative and huge dims, value counts that disagree."""
    sizes = [-7, -1, 0, 1, 2, 3, 1 << 31, 1 << 40, 1 << 62]
    for _ in range(count):
        request = predict_pb2.PredictRequest()
        request.model_spec.name = rng.choice(["half_plus_two", "half_plus_two", "nope", ""])
        if rng.random() < 0.2:
            request.model_spec.version.value = rng.choice([1, 2, 99, -1])
        if rng.random() < 0.1:
            request.model_spec.signature_name = rng.choice(["nope", "classify_x_to_y", ""])
        for _ in range(rng.randrange(1, 3)):
            tensor: tensor_pb2.TensorProto = request.inputs[rng.choice(["x", "x", "y", ""])]
            tensor.dtype = rng.choice([1, 1, 2, 3, 7, 9, 10, 19, 20, 21, 0, 101, 999])
            for _ in range(rng.randrange(4)):
                tensor.tensor_shape.dim.add(size=rng.choice(sizes))
            if rng.random() < 0.05:
                tensor.tensor_shape.unknown_rank = True
            field = rng.randrange(5)
            if field == 0:
                tensor.float_val.extend(rng.random() for _ in range(rng.randrange(6)))
            elif field == 1:
                tensor.int_val.extend(rng.randrange(-9, 9) for _ in range(rng.randrange(6)))
            elif field == 2:
                tensor.string_val.extend(b"s" * rng.randrange(4) for _ in range(rng.randrange(4)))
            elif field == 3:
                tensor.tensor_content = bytes(rng.randrange(256) for _ in range(rng.randrange(24)))
        if rng.random() < 0.1:
            request.output_filter.append(rng.choice(["y", "nope", "y"]))
        yield request


def run_fuzz(server: ServerProcess, count: int, seed: int = 0) -> dict:
    """`count` REST bodies and `count` gRPC requests; answers counted by status / code."""
    rng = random.Random(seed)
    before = rss(server)
    rest_answers, grpc_answers = Counter(), Counter()
    failures: list[str] = []
    started = time.monotonic()
    with requests.Session() as session:
        for path, body, headers in bad_rest_bodies(rng, count):
            try:
                reply = session.post(server.rest_url + path, data=body, headers=headers, timeout=60)
                rest_answers[reply.status_code] += 1
                if reply.status_code >= 500 and reply.status_code != 501:
                    failures.append(f"REST {reply.status_code} {path} {body[:80]!r}: {reply.text[:200]}")
            except requests.RequestException as e:
                rest_answers["connection error"] += 1
                failures.append(f"REST {path} {body[:80]!r}: {e}")
    with grpc.insecure_channel(server.grpc_address) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        for request in bad_grpc_requests(rng, count):
            try:
                stub.Predict(request, timeout=60)
                grpc_answers["OK"] += 1
            except grpc.RpcError as e:
                code = e.code().name
                grpc_answers[code] += 1
                if code not in ACCEPTED_GRPC:
                    failures.append(f"gRPC {code}: {e.details()[:200]} for {request}"[:600])
    alive = server.process.poll() is None and _predict_ok(server)
    return {
        "rest_requests": count,
        "grpc_requests": count,
        "rest_answers": dict(rest_answers),
        "grpc_answers": dict(grpc_answers),
        "failures": failures[:20],
        "failure_count": len(failures),
        "alive": alive,
        "seconds": round(time.monotonic() - started, 1),
        "rss_growth_mib": round((rss(server) - before) / MIB, 1),
        "peak_rss_mib": round(peak_rss(server) / MIB),
    }


def _predict_ok(server: ServerProcess, model: str = "half_plus_two") -> bool:
    try:
        reply = requests.post(f"{server.rest_url}/v1/models/{model}:predict", json={"instances": [1.0]}, timeout=30)
        return reply.status_code == 200
    except requests.RequestException:
        return False


# ------------------------------------------------------------------ load


class Load:
    """REST and gRPC clients predicting in a loop until stopped; outcomes counted."""

    def __init__(self, server: ServerProcess, model: str = "half_plus_two", clients: int = 2):
        self.server, self.model, self.clients = server, model, clients
        self.outcomes: Counter = Counter()
        self.answers: Counter = Counter()
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._rest, daemon=True) for _ in range(clients)] + [
            threading.Thread(target=self._grpc, daemon=True) for _ in range(clients)
        ]
        self._lock = threading.Lock()

    def _count(self, outcome: str, answer=None, error: str | None = None) -> None:
        with self._lock:
            self.outcomes[outcome] += 1
            if answer is not None:
                self.answers[answer] += 1
            if error is not None and len(self.errors) < 20:
                self.errors.append(error)
        if outcome != "ok":
            time.sleep(0.05)  # a refused client retries at a human pace, not in a tight loop

    def _rest(self) -> None:
        with requests.Session() as session:
            while not self._stop.is_set():
                try:
                    reply = session.post(
                        f"{self.server.rest_url}/v1/models/{self.model}:predict", json={"instances": [2.0]}, timeout=60
                    )
                    if reply.status_code == 200:
                        self._count("ok", reply.json()["predictions"][0])
                    else:
                        self._count(f"REST {reply.status_code}", error=reply.text[:200])
                except requests.RequestException as e:
                    self._count("REST connection error", error=str(e)[:200])

    def _grpc(self) -> None:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = self.model
        request.inputs["x"].CopyFrom(tensors.to_proto(np.array([2.0], np.float32)))
        with grpc.insecure_channel(self.server.grpc_address) as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            while not self._stop.is_set():
                try:
                    response = stub.Predict(request, timeout=60)
                    self._count("ok", float(tensors.to_numpy(response.outputs["y"])[0]))
                except grpc.RpcError as e:
                    self._count(f"gRPC {e.code().name}", error=e.details())

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=90)

    @property
    def failed(self) -> int:
        return sum(n for outcome, n in self.outcomes.items() if outcome != "ok")


def _publish(base: Path, version: int, offset: float, staging: Path) -> None:
    """Builds a version elsewhere and renames it into place, as exporters must."""
    build_half_plus_two(staging, version=version, offset=offset)
    os.rename(staging / str(version), base / str(version))


def _seconds_until(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """How long `condition` took to hold (polled every 0.1 s by wait_for)."""
    start = time.monotonic()
    wait_for(condition, timeout, what, interval=0.1)
    return time.monotonic() - start


def _serves(server: ServerProcess, offset: float) -> Callable[[], bool]:
    def check() -> bool:
        try:
            reply = requests.post(
                f"{server.rest_url}/v1/models/half_plus_two:predict", json={"instances": [2.0]}, timeout=30
            )
            return reply.status_code == 200 and reply.json()["predictions"][0] == 1.0 + offset
        except requests.RequestException:
            return False

    return check


def run_swaps(workdir: Path, swaps: int = 3) -> dict:
    base, staging = workdir / "swaps", workdir / "swaps-staging"
    build_half_plus_two(base, version=1, offset=2.0)
    with (
        ServerProcess(
            model_name="half_plus_two", model_base_path=base, args=["--file_system_poll_wait_seconds=1"]
        ) as server,
        Load(server) as load,
    ):
        times = []
        for version in range(2, 2 + swaps):
            _publish(base, version, float(version + 1), staging)
            times.append(_seconds_until(_serves(server, version + 1.0), 120, f"version {version} to serve"))
            shutil.rmtree(base / str(version - 1))  # the old one leaves; the server unloads it
            time.sleep(1.5)
    return {
        "swaps": swaps,
        "requests": sum(load.outcomes.values()),
        "failed": load.failed,
        "outcomes": dict(load.outcomes),
        "answers_by_value": {str(k): v for k, v in load.answers.items()},
        "errors": load.errors,
        "seconds_to_serve_new_version": [round(t, 1) for t in times],
    }


def run_corrupt(workdir: Path) -> dict:
    base, staging = workdir / "corrupt", workdir / "corrupt-staging"
    build_half_plus_two(base, version=1, offset=2.0)
    with (
        ServerProcess(
            model_name="half_plus_two",
            model_base_path=base,
            args=["--file_system_poll_wait_seconds=1", "--max_num_load_retries=0"],
        ) as server,
        Load(server) as load,
    ):
        broken = staging / "2"
        broken.mkdir(parents=True)
        (broken / "saved_model.pb").write_bytes(b"\x08\x01 this is not a SavedModel")
        os.rename(broken, base / "2")
        time.sleep(4)  # a few polls: the load fails, version 1 keeps serving
        status = requests.get(f"{server.rest_url}/v1/models/half_plus_two", timeout=30).json()
        _publish(base, 3, 4.0, staging)
        recover = _seconds_until(_serves(server, 4.0), 120, "the good version after the corrupt one")
    return {
        "requests": sum(load.outcomes.values()),
        "failed": load.failed,
        "outcomes": dict(load.outcomes),
        "errors": load.errors,
        "status_with_corrupt_version": status,
        "seconds_to_serve_good_version_after_corrupt": round(recover, 1),
    }


def run_sigterm(workdir: Path) -> dict:
    from serving.testing.models import build_slow

    base = workdir / "sigterm"
    build_half_plus_two(base / "half_plus_two")
    build_slow(base / "slow")
    config = workdir / "sigterm.config"
    entries = "".join(
        f'  config {{ name: "{name}" base_path: "{base / name}" model_platform: "tensorflow" }}\n'
        for name in ("half_plus_two", "slow")
    )
    config.write_text(f"model_config_list {{\n{entries}}}\n")
    server = ServerProcess(model_config_file=config, args=["--file_system_poll_wait_seconds=0"]).start()
    in_flight = []
    with Load(server) as load, ThreadPoolExecutor(4) as pool:
        time.sleep(2)
        for _ in range(3):  # slow requests in flight when the signal arrives
            in_flight.append(
                pool.submit(
                    requests.post, f"{server.rest_url}/v1/models/slow:predict", json={"instances": [2.0]}, timeout=60
                )
            )
        time.sleep(0.5)
        sent = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        code = server.process.wait(timeout=120)
        exit_seconds = time.monotonic() - sent
        slow = [f.result().status_code for f in in_flight]
    server.stop()
    refused = sum(
        n for outcome, n in load.outcomes.items() if "connection error" in outcome or "UNAVAILABLE" in outcome
    )
    other = load.failed - refused
    return {
        "requests": sum(load.outcomes.values()),
        "outcomes": dict(load.outcomes),
        "refused_after_shutdown_began": refused,
        "failed_otherwise": other,
        "in_flight_slow_requests": slow,
        "exit_code": code,
        "seconds_to_exit": round(exit_seconds, 1),
    }


def run_sigterm_drain(workdir: Path, readers: int = 3, values: int = 2_100_000, rate: float = 6e6) -> dict:
    """SIGTERM while `readers` REST clients each read an ~8.4 MB answer at `rate` bytes/s: every answer must
    arrive whole (as many body bytes as Content-Length says, valid JSON) before the server exits."""
    from serving.testing.models import build_fill

    build_fill(workdir / "drain" / "fill")
    server = ServerProcess(
        model_name="fill", model_base_path=workdir / "drain" / "fill", args=["--file_system_poll_wait_seconds=0"]
    ).start()
    body = json.dumps({"inputs": [values]}).encode()
    request = b"POST /v1/models/fill:predict HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    reading = threading.Barrier(readers + 1, timeout=120)

    def read_slowly() -> dict:
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
            sock.settimeout(60)
            sock.connect(("127.0.0.1", server.rest_port))
            sock.sendall(request)
            received = bytearray()
            waited = False
            while chunk := sock.recv(1 << 16):
                received += chunk
                if not waited and len(received) > 1 << 20:  # an eighth of the answer is in: the signal comes now
                    waited = True
                    reading.wait()
                time.sleep(len(chunk) / rate)
        head, _, payload = bytes(received).partition(b"\r\n\r\n")
        declared = next(
            (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")),
            -1,
        )
        try:
            complete = declared == len(payload) and len(json.loads(payload)["outputs"]) == values
        except ValueError:
            complete = False
        return {"received_bytes": len(received), "declared_body_bytes": declared, "complete": complete}

    with ThreadPoolExecutor(readers) as pool:
        answers = [pool.submit(read_slowly) for _ in range(readers)]
        reading.wait()
        sent = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        results = [answer.result() for answer in answers]
        code = server.process.wait(timeout=120)
        exit_seconds = time.monotonic() - sent
    server.stop()
    return {
        "readers": readers,
        "answer_bytes": results[0]["declared_body_bytes"],
        "read_rate_mb_s": rate / 1e6,
        "complete_answers": sum(r["complete"] for r in results),
        "received_bytes": [r["received_bytes"] for r in results],
        "exit_code": code,
        "seconds_to_exit": round(exit_seconds, 1),
    }


def threads(server: ServerProcess) -> int:
    return _status_kib(server.process.pid, "Threads")


def run_failing_versions(workdir: Path, versions: int = 3000, seconds: float = 20.0) -> dict:
    """A ReloadConfig adds a model whose base path holds `versions` empty version directories under policy
    `all` (every load fails, and is retried every 2 s, 5 times) while REST and gRPC clients use a healthy model:
    the server's thread count is sampled throughout and the healthy model must keep answering."""
    from google.protobuf import text_format

    from protocol.generated.tensorflow_serving.apis import model_management_pb2, model_service_pb2_grpc
    from protocol.generated.tensorflow_serving.config import model_server_config_pb2
    from serving.testing.server_process import model_config_text

    healthy, broken = workdir / "failing" / "half_plus_two", workdir / "failing" / "broken"
    build_half_plus_two(healthy)
    for version in range(1, versions + 1):
        (broken / str(version)).mkdir(parents=True)
    config = [{"name": "half_plus_two", "base_path": healthy}]
    server = ServerProcess(
        model_name="half_plus_two",
        model_base_path=healthy,
        args=["--file_system_poll_wait_seconds=1", "--load_retry_interval_micros=2000000"],
    ).start()
    text = model_config_text([*config, {"name": "broken", "base_path": broken, "policy": "all {}"}])
    reload = model_management_pb2.ReloadConfigRequest(
        config=text_format.Parse(text, model_server_config_pb2.ModelServerConfig())
    )
    idle_threads, samples = threads(server), []
    with Load(server) as load, grpc.insecure_channel(server.grpc_address) as channel:
        stub = model_service_pb2_grpc.ModelServiceStub(channel)
        reloaded = ThreadPoolExecutor(1).submit(_grpc_code, stub.HandleReloadConfigRequest, reload, timeout=seconds)
        end = time.monotonic() + seconds
        while time.monotonic() < end and server.process.poll() is None:
            samples.append(threads(server))
            time.sleep(0.2)
        outcomes_during = dict(load.outcomes)
    alive = server.process.poll() is None
    status = requests.get(f"{server.rest_url}/v1/models/broken", timeout=60).json() if alive else {}
    states = Counter(s["state"] for s in status.get("model_version_status", []))
    server.stop()
    return {
        "failing_versions": versions,
        "threads_before": idle_threads,
        "threads_max": max(samples, default=0),
        "reload": reloaded.result(),
        "healthy_model_answers": outcomes_during,
        "healthy_model_failed": sum(n for k, n in outcomes_during.items() if k != "ok"),
        "broken_version_states": dict(states),
        "alive": alive,
    }


HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"  # + empty SETTINGS


def run_idle_grpc(server: ServerProcess, sockets: int = 4200, preface: bool = False, checks: int = 3) -> dict:
    """`sockets` TCP connections to the gRPC port that never send the HTTP/2 preface (or, with `preface`, send it
    and then nothing): Predict and grpc.health.v1 Check on a new channel must still answer (server started with
    --enable_grpc_healthcheck_service). Each check is 2 s apart; answers and RSS reported."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "half_plus_two"
    request.inputs["x"].CopyFrom(tensors.to_proto(np.array([2.0], np.float32)))
    before = rss(server)
    opened: list[socket.socket] = []
    answers: Counter = Counter()
    try:
        for _ in range(sockets):
            sock = socket.create_connection(("127.0.0.1", server.grpc_port), timeout=10)
            if preface:
                sock.sendall(HTTP2_PREFACE)
            opened.append(sock)
        time.sleep(1)
        for _ in range(checks):
            with grpc.insecure_channel(server.grpc_address) as channel:
                predict = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict
                answers["Predict " + _grpc_code(predict, request, timeout=5)] += 1
                check = health_pb2_grpc.HealthStub(channel).Check
                answers["Health " + _grpc_code(check, health_pb2.HealthCheckRequest(), timeout=5)] += 1
            time.sleep(2)
        with_sockets = rss(server)
    finally:
        for sock in opened:
            sock.close()
    return {
        "idle_sockets": len(opened),
        "sent_preface": preface,
        "answers": dict(answers),
        "rss_before_mib": round(before / MIB),
        "rss_with_sockets_mib": round(with_sockets / MIB),
    }


def run_keras_archive_bomb(workdir: Path, inflated_mib: int = 1500) -> dict:
    """`python -m export keras` on a ~1.5 MB .keras whose config.json inflates to `inflated_mib` MiB: exit code,
    its one-line error and the exporter's peak RSS."""
    import subprocess
    import zipfile

    bomb = workdir / "bomb.keras"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("config.json", "w", force_zip64=True) as config:
            for _ in range(inflated_mib):
                config.write(b" " * MIB)
    process = subprocess.Popen(
        [sys.executable, "-m", "export", "keras", str(bomb), "--models-dir", str(workdir / "models")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    peak = 0

    def watch() -> None:  # VmHWM of the exporter itself (getrusage would count the fork of this big process too)
        nonlocal peak
        while process.poll() is None:
            try:
                peak = max(peak, _status_kib(process.pid, "VmHWM") * 1024)
            except (FileNotFoundError, ProcessLookupError):
                return
            time.sleep(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    stderr = process.stderr.read().decode(errors="replace")
    code = process.wait()
    watcher.join()
    return {
        "archive_bytes": bomb.stat().st_size,
        "inflates_to_mib": inflated_mib,
        "exit_code": code,
        "error": (stderr.strip().splitlines() or [""])[-1][:200],
        "peak_rss_mib": round(peak / MIB),
    }


def run_slow_clients(server: ServerProcess, stalled: int = 100, requests_count: int = 200) -> dict:
    sockets = []
    try:
        for i in range(stalled):
            sock = socket.create_connection(("127.0.0.1", server.rest_port), timeout=10)
            kind = i % 3
            if kind == 0:  # half a request line
                sock.send(b"POST /v1/models/half_plus_two:pre")
            elif kind == 1:  # headers, then a trickle of body
                sock.send(b"POST /v1/models/half_plus_two:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
            else:  # a request whose answer is never read
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                sock.send(b"GET /v1/models/half_plus_two HTTP/1.1\r\nHost: x\r\n\r\n" * 50)
            sockets.append(sock)
        latencies, failed = [], 0
        with requests.Session() as session:
            for _ in range(requests_count):
                start = time.perf_counter()
                reply = session.post(
                    f"{server.rest_url}/v1/models/half_plus_two:predict", json={"instances": [1.0]}, timeout=60
                )
                latencies.append(time.perf_counter() - start)
                failed += reply.status_code != 200
    finally:
        for sock in sockets:
            sock.close()
    return {
        "slow_sockets": stalled,
        "requests": requests_count,
        "failed": failed,
        "p50_ms": round(1000 * float(np.percentile(latencies, 50)), 2),
        "p99_ms": round(1000 * float(np.percentile(latencies, 99)), 2),
    }


def run_gzip_bomb(server: ServerProcess, inflated: int = 1 << 30) -> dict:
    bomb = gzip.compress(b'{"instances": [1.0], "pad": "' + b" " * inflated + b'"}', compresslevel=9)
    before = rss(server)
    Path(f"/proc/{server.process.pid}/clear_refs").write_text("5")
    start = time.monotonic()
    reply = requests.post(
        f"{server.rest_url}/v1/models/half_plus_two:predict",
        data=bomb,
        timeout=120,
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    return {
        "compressed_bytes": len(bomb),
        "inflates_to": inflated,
        "status": reply.status_code,
        "seconds": round(time.monotonic() - start, 2),
        "peak_rss_growth_mib": round((peak_rss(server) - before) / MIB, 1),
    }


def image_bomb(side: int) -> bytes:
    """A PNG of side x side black pixels: a few hundred KB that decode to side*side*3 bytes (and more as floats)."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (side, side)).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def run_image_bomb(server: ServerProcess, model: str = "efficientnet", side: int = 8000) -> dict:
    """An encoded image over the export's pixel limit (50 MP by default) sent as b64 to the bytes signature."""
    import base64

    bomb = image_bomb(side)
    before = rss(server)
    Path(f"/proc/{server.process.pid}/clear_refs").write_text("5")
    reply = requests.post(
        f"{server.rest_url}/v1/models/{model}:predict",
        timeout=300,
        json={"instances": [{"b64": base64.b64encode(bomb).decode()}]},
    )
    return {
        "png_bytes": len(bomb),
        "pixels": side * side,
        "status": reply.status_code,
        "error": reply.json().get("error", "")[:200] if reply.status_code != 200 else "",
        "peak_rss_growth_mib": round((peak_rss(server) - before) / MIB, 1),
    }


# ------------------------------------------------------------------ small requests that ask for a lot of memory


def memory_figures(server: ServerProcess, before: int) -> dict:
    """RSS before a probe, the peak since (VmHWM after clear_refs) and now, in MiB; growth = peak - before."""
    return {
        "rss_before_mib": round(before / MIB),
        "peak_rss_mib": round(peak_rss(server) / MIB),
        "rss_after_mib": round(rss(server) / MIB),
        "peak_growth_mib": round((peak_rss(server) - before) / MIB),
    }


def _start_measuring(server: ServerProcess) -> int:
    Path(f"/proc/{server.process.pid}/clear_refs").write_text("5")
    return rss(server)


def declared_fill(model: str, name: str, elements: int) -> predict_pb2.PredictRequest:
    """A Predict whose tensor `name` declares `elements` floats and carries one: ~30 bytes that TensorFlow fills up."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    tensor = request.inputs[name]
    tensor.dtype = types_pb2.DT_FLOAT
    tensor.tensor_shape.dim.add(size=elements)
    tensor.float_val.append(1.0)
    return request


def _grpc_code(call: Callable[..., object], *args, **kwargs) -> str:
    """The status code name of one gRPC call."""
    try:
        call(*args, **kwargs)
        return "OK"
    except grpc.RpcError as e:
        return e.code().name


def run_undeclared_inputs(server: ServerProcess, inputs: int = 100, elements: int = 16_000_000) -> dict:
    """One Predict (~3 KB) naming `inputs` inputs the signature does not have, each declaring `elements` floats
    and carrying one: refused by name before any is built."""
    request = declared_fill("half_plus_two", "x", elements)
    for i in range(inputs):
        request.inputs[f"undeclared_{i}"].CopyFrom(request.inputs["x"])
    del request.inputs["x"]
    before = _start_measuring(server)
    with grpc.insecure_channel(server.grpc_address) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        try:
            stub.Predict(request, timeout=120)
            code, details = "OK", ""
        except grpc.RpcError as e:
            code, details = e.code().name, e.details()
    return {
        "request_bytes": request.ByteSize(),
        "code": code,
        "details": details[:160],
        **memory_figures(server, before),
    }


def run_fill_flood(server: ServerProcess, model: str = "half_plus_two", clients: int = 40, elements: int = 16_000_000):
    """`clients` concurrent ~31-byte Predicts, each declaring `elements` floats (64 MB filled) and carrying one."""
    request = declared_fill(model, "x", elements)
    before = _start_measuring(server)
    options = [("grpc.max_receive_message_length", -1)]
    with grpc.insecure_channel(server.grpc_address, options=options) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)

        def one(_):
            return _grpc_code(stub.Predict, request, timeout=300)

        with ThreadPoolExecutor(clients) as pool:
            codes = Counter(pool.map(one, range(clients)))
    return {
        "request_bytes": request.ByteSize(),
        "clients": clients,
        "codes": dict(codes),
        **memory_figures(server, before),
    }


def run_context_bomb(
    server: ServerProcess, transport: str = "rest", context_bytes: int = 512 << 10, examples: int = 2000
) -> dict:
    """A regress request with a `context_bytes` context and `examples` examples: merged into every example, the
    context alone would take context_bytes x examples."""
    before = _start_measuring(server)
    padding = "p" * context_bytes
    if transport == "rest":
        body = json.dumps(
            {"signature_name": "regress_x_to_y", "context": {"pad": padding}, "examples": [{"x": 1.0}] * examples}
        ).encode()
        reply = requests.post(f"{server.rest_url}/v1/models/half_plus_two:regress", data=body, timeout=300)
        answer = {"status": reply.status_code, "error": reply.json().get("error", "")[:200]}
        size = len(body)
    else:
        request = regression_pb2.RegressionRequest()
        request.model_spec.name, request.model_spec.signature_name = "half_plus_two", "regress_x_to_y"
        with_context = request.input.example_list_with_context
        with_context.context.features.feature["pad"].bytes_list.value.append(padding.encode())
        for _ in range(examples):
            with_context.examples.add().features.feature["x"].float_list.value.append(1.0)
        size = request.ByteSize()
        with grpc.insecure_channel(server.grpc_address) as channel:
            try:
                prediction_service_pb2_grpc.PredictionServiceStub(channel).Regress(request, timeout=300)
                answer = {"code": "OK", "error": ""}
            except grpc.RpcError as e:
                answer = {"code": e.code().name, "error": e.details()[:200]}
    return {"transport": transport, "request_bytes": size, **answer, **memory_figures(server, before)}


# ------------------------------------------------------------------ HTTP framing, half-closes, huge numbers


def _exchange(server: ServerProcess, data: bytes, half_close: bool = False, timeout: float = 10.0) -> bytes:
    """Sends raw bytes to the REST port and reads until the server closes (or `timeout` passes)."""
    with socket.create_connection(("127.0.0.1", server.rest_port), timeout=timeout) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        received = bytearray()
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except TimeoutError:
            pass
    return bytes(received)


def _statuses(reply: bytes) -> list[int]:
    """The status of every response in a raw reply (a response may follow a body without a line break)."""
    return [int(status) for status in re.findall(rb"HTTP/1\.1 (\d{3}) ", reply)]


def run_http_edges(server: ServerProcess) -> dict:
    """Content-Length with Transfer-Encoding followed by a pipelined request (RFC 9112 section 6.1: refuse or
    close); a half-close after a complete request; a 5,000-digit version in a URL and in JSON. Status codes of
    each, and the tracebacks the server logged meanwhile."""
    tracebacks = server.log().count("Traceback")
    body = b'{"instances": [1.0]}'
    predict = b"POST /v1/models/half_plus_two:predict HTTP/1.1\r\nHost: x\r\n"
    smuggled = (
        predict
        + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
        + b"GET /v1/models/half_plus_two HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    half_closed = _exchange(server, predict + b"Content-Length: %d\r\n\r\n" % len(body) + body, half_close=True)
    huge = "9" * 5000
    version = requests.post(f"{server.rest_url}/v1/models/half_plus_two/versions/{huge}:predict", data=body, timeout=30)
    number = requests.post(
        f"{server.rest_url}/v1/models/half_plus_two:predict", data=f'{{"instances": [{huge}]}}', timeout=30
    )
    time.sleep(0.2)  # let the log catch up
    return {
        "cl_te_then_pipelined": _statuses(_exchange(server, smuggled)),
        "half_close": _statuses(half_closed),
        "half_close_answer": half_closed.partition(b"\r\n\r\n")[2].decode(errors="replace"),
        "version_5000_digits": [version.status_code, version.json()["error"][:40]],
        "json_number_5000_digits": [number.status_code, number.json()["error"]],
        "date_header": number.headers.get("Date"),
        "tracebacks_logged": server.log().count("Traceback") - tracebacks,
    }


# ------------------------------------------------------------------ the run


def run(fuzz: int, workdir: Path, efficientnet: Path | None = None) -> dict:
    results: dict = {"machine": {"cpus": os.cpu_count(), "load_average_before": os.getloadavg()}}
    models = workdir / "models"
    build_half_plus_two(models / "half_plus_two", version=1)
    with ServerProcess(
        model_name="half_plus_two",
        model_base_path=models / "half_plus_two",
        args=[
            "--file_system_poll_wait_seconds=0",
            "--max_request_body_bytes=10000000",
            "--rest_api_read_timeout_in_ms=2000",
            "--enable_grpc_healthcheck_service",
        ],
    ) as server:
        results["start_rss_mib"] = round(rss(server) / MIB)
        results["fuzz"] = run_fuzz(server, fuzz)
        results["slow"] = run_slow_clients(server)
        results["gzip_bomb"] = run_gzip_bomb(server)
        results["undeclared"] = run_undeclared_inputs(server)
        results["fill_flood"] = run_fill_flood(server)
        results["context_bomb"] = [run_context_bomb(server, transport) for transport in ("rest", "grpc")]
        results["http_edges"] = run_http_edges(server)
        results["idle_grpc"] = [run_idle_grpc(server, preface=preface) for preface in (False, True)]
        results["alive_after_all"] = server.process.poll() is None and _predict_ok(server)
        results["peak_rss_mib"] = round(peak_rss(server) / MIB)
    if efficientnet is not None:
        with ServerProcess(
            model_name="efficientnet", model_base_path=efficientnet, args=["--file_system_poll_wait_seconds=0"]
        ) as server:
            results["image_bomb"] = run_image_bomb(server)
    results["swaps"] = run_swaps(workdir)
    results["corrupt"] = run_corrupt(workdir)
    results["sigterm"] = run_sigterm(workdir)
    results["drain"] = run_sigterm_drain(workdir)
    results["failing"] = run_failing_versions(workdir)
    results["keras_bomb"] = run_keras_archive_bomb(workdir)
    results["machine"]["load_average_after"] = os.getloadavg()
    return results


def _raise_open_file_limit(wanted: int) -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fuzz", type=int, default=10_000, help="fuzzed REST bodies, and as many gRPC requests")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    parser.add_argument(
        "--efficientnet", type=Path, help="an EfficientNet base path (models/efficientnet) for the image-bomb scenario"
    )
    args = parser.parse_args(argv)
    _raise_open_file_limit(10_000)  # idle_grpc opens 4,200 sockets
    with tempfile.TemporaryDirectory(prefix="reliability-") as tmp:
        results = run(args.fuzz, Path(tmp), args.efficientnet.resolve() if args.efficientnet else None)
    text = json.dumps(results, indent=1, default=str)
    print(text)
    if args.out:
        args.out.write_text(text)
    ok = (
        results["fuzz"]["failure_count"] == 0
        and results["fuzz"]["alive"]
        and results["alive_after_all"]
        and results["swaps"]["failed"] == 0
        and results["corrupt"]["failed"] == 0
        and results["sigterm"]["exit_code"] == 0
        and results["sigterm"]["failed_otherwise"] == 0
        and results["slow"]["failed"] == 0
        and results["gzip_bomb"]["status"] == 413
        and results.get("image_bomb", {"status": 400})["status"] == 400
        and results["undeclared"]["code"] == "INVALID_ARGUMENT"
        and results["undeclared"]["peak_growth_mib"] < 1024
        and set(results["fill_flood"]["codes"]) <= ACCEPTED_GRPC
        and results["fill_flood"]["peak_growth_mib"] < 1024
        and all(
            r.get("status", 400) == 400 and r.get("code", "INVALID_ARGUMENT") == "INVALID_ARGUMENT"
            for r in results["context_bomb"]
        )
        and all(r["peak_growth_mib"] < 1024 for r in results["context_bomb"])
        and results["http_edges"]["cl_te_then_pipelined"] == [400]
        and results["http_edges"]["half_close"] == [200]
        and results["http_edges"]["tracebacks_logged"] == 0
        and all(r["answers"] == {"Predict OK": 3, "Health OK": 3} for r in results["idle_grpc"])
        and results["drain"]["complete_answers"] == results["drain"]["readers"]
        and results["failing"]["threads_max"] <= 300
        and results["failing"]["healthy_model_failed"] == 0
        and results["keras_bomb"]["exit_code"] == 2
        and results["keras_bomb"]["peak_rss_mib"] < 1024
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
