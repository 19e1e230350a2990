"""Both protocols side by side at batch 1 (EfficientNet-B0): `python -m benchmarks protocols`.

One `python -m serving` (no batching), one client process apart from it that never imports TensorFlow, and
these calls of one JPEG (the bytes signature) or its 224x224 pixels (the float signature), measured in
interleaved rounds (each round calls every path once, in an order that turns each round, so load from other
processes and the position in a round hit every path alike):

    gRPC             `GrpcClient.predict`: TF Serving's PredictionService, the JPEG in tensor_content
    REST b64         `RestClient.predict`: the JPEG as {"b64": ...}
    REST JSON floats `RestClient.predict` on predict_pixels: 150,528 floats as JSON numbers (orjson from numpy)
    v2 REST binary   `V2RestClient.predict`: the Open Inference Protocol, the JPEG after the JSON header
    v2 gRPC          `V2GrpcClient.predict`: inference.GRPCInferenceService, raw contents
    grpcio alone     no project code (benchmarks/grpc_alone.py): a bare grpcio server holding the call as
                     long as gRPC's last Session run, for grpcio's own share of a gRPC call

and, in the benchmark's own process, the floor: the same JPEG through the SavedModel in a Session the way the
server calls it (`serving.servable.Servable`), between the client process's rounds (a pipe says when each may
go, so no two calls overlap). The floor runs as many calls a round as the client does, back to back, so it is
as warm as the served calls (a Session call after ~150 ms idle measured 47-50 ms where back to back it took 31).
Measured this way the served paths still came out under the floor in most runs (docs/performance.md), so the server's
own account is taken too: after every call the client reads the server's `runtime_latency` histogram (the
Session runs the call caused, in the server process) and divides the call's end-to-end time by it. That ratio
is per call, so drift between processes and over time cancels out.

The result gives each path's p50 / p99 / mean and the ratios the work set targets for: gRPC ÷ the floor
(≤ 1.05) and REST b64 ÷ the floor (≤ 1.10) (the Session core), v2 REST binary ÷ gRPC (≤ 1.10) and REST JSON
floats ÷ REST b64 (≤ 2) (the Open Inference Protocol). The client process also times
the float request's JSON body both ways: `json.dumps` of `tolist()` (what RestClient did before) and
`protocol.json_text.dumps` (orjson from numpy, what it does now).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import requests

from benchmarks.grpc_alone import GrpcAlone
from benchmarks.harness import median_ms, percentile
from benchmarks.server_metrics import difference, latency_totals
from benchmarks.workloads import REPO_ROOT, WORKLOADS

FLOOR = "in-process (Session, as served)"
GRPC_ALONE = "grpcio alone (no project code)"  # benchmarks/grpc_alone.py, held as long as gRPC's last run
OVER_SESSION_RUN_TARGETS = {"gRPC": 1.05, "REST b64": 1.10}  # the Session core's targets (issue 19)
PATHS = ("gRPC", "REST b64", "REST JSON floats", "v2 REST binary", "v2 gRPC")
RATIOS = {  # name: (numerator path, denominator path, target)
    "gRPC / in-process": ("gRPC", FLOOR, 1.05),
    "REST b64 / in-process": ("REST b64", FLOOR, 1.10),
    "v2 REST binary / gRPC": ("v2 REST binary", "gRPC", 1.10),
    "v2 gRPC / gRPC": ("v2 gRPC", "gRPC", None),
    "REST JSON floats / REST b64": ("REST JSON floats", "REST b64", 2.0),
    "REST b64 / gRPC": ("REST b64", "gRPC", None),
}


def run_protocols(models_dir: Path, rounds: int, out: Path) -> dict:
    """Exports B0 if missing, serves it, and measures from a client process of its own."""
    workload = WORKLOADS["efficientnet"]
    workload.ensure_export(models_dir)
    with tempfile.TemporaryDirectory(prefix="bench-protocols-") as work:
        with workload.metered_server(models_dir, Path(work)) as server:
            result = _measure_against(server, workload, models_dir, rounds, Path(work) / "spec.json")
    result["ratios"] = _ratios(result["latency"])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(markdown(result))
    return result


def _measure_against(server, workload, models_dir: Path, rounds: int, spec: Path) -> dict:
    """The client process's rounds against `server`, with the floor in this process between them."""
    from serving.testing.server_process import METRICS_PATH

    spec.write_text(
        json.dumps(
            {
                "rest_url": server.rest_url,
                "grpc_address": server.grpc_address,
                "models_dir": str(models_dir),
                "rounds": rounds,
                "metrics_url": server.rest_url + METRICS_PATH,
            }
        )
    )
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    load = os.getloadavg()[0]
    floor = _floor(workload, models_dir)
    child = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.protocols", str(spec)],
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    try:
        floor_ms, floor_run_ms = _alternate(child, floor, rounds)
        output, _ = child.communicate(timeout=600)
    finally:
        if child.poll() is None:
            child.kill()
    if child.returncode != 0:
        raise RuntimeError(f"the client process failed with {child.returncode} (its stderr is above)")
    result = json.loads(output.strip().splitlines()[-1])
    result["latency"] = {FLOOR: _summary(floor_ms), **result["latency"]}
    result["floor_session_run"] = {
        "session_run_p50_ms": percentile(floor_run_ms, 50),
        "ratio_p50": percentile([t / r for t, r in zip(floor_ms, floor_run_ms)], 50),
    }
    result.update(started=started, load_average=round((load + os.getloadavg()[0]) / 2, 2))
    return result


def _floor(workload, models_dir: Path):
    """The in-process call the server makes for one JPEG: the version in a Session, as served. Returns the
    Session run it caused (ms), read from this process's own runtime_latency as the server reads its own.
    This process's allocator is set as `python -m serving` sets its own (serving/core/allocator.py)."""
    from serving.core.allocator import keep_freed_memory_for_reuse
    from serving.metrics import METRICS, RUNTIME_LATENCY
    from serving.servable import Servable

    keep_freed_memory_for_reuse()
    servable = Servable(workload.name, 1, str(workload.version_dir(models_dir)))
    inputs = workload.bytes_inputs(models_dir)
    labels = {"model_name": workload.name, "API": "Predict", "runtime": "TF1"}

    def call() -> float:
        before = METRICS.registry.get_sample_value(RUNTIME_LATENCY + "_sum", labels) or 0.0
        servable.predict(workload.bytes_signature, inputs)
        return (METRICS.registry.get_sample_value(RUNTIME_LATENCY + "_sum", labels) - before) / 1e3

    return call


def _alternate(child: subprocess.Popen, floor, rounds: int) -> list[float]:
    """The floor as a round of its own (one call per client path, back to back, so it is as warm as the
    served calls are), before the client's round on even rounds and after it on odd ones."""
    if child.stdout.readline().strip() != "ready":
        raise RuntimeError("the client process did not start (its stderr is above)")
    for _ in range(4):
        floor()
    samples, runs = [], []

    def floor_round() -> None:
        for _ in PATHS:
            start = time.perf_counter()
            run_ms = floor()
            samples.append((time.perf_counter() - start) * 1e3)
            runs.append(run_ms)

    for r in range(rounds):
        if r % 2 == 0:
            floor_round()
        child.stdin.write("go\n")
        child.stdin.flush()
        if child.stdout.readline().strip() != "done":
            raise RuntimeError(f"the client process stopped in round {r}")
        if r % 2 == 1:
            floor_round()
    return samples, runs  # communicate() closes the client's stdin (it may not be closed before)


def _summary(samples_ms: list[float]) -> dict[str, float]:
    return {
        "p50_ms": percentile(samples_ms, 50),
        "p99_ms": percentile(samples_ms, 99),
        "mean_ms": float(np.mean(samples_ms)),
    }


def _ratios(latency: dict) -> dict:
    return {
        name: {
            "p50": latency[a]["p50_ms"] / latency[b]["p50_ms"],
            "mean": latency[a]["mean_ms"] / latency[b]["mean_ms"],
            "target": target,
        }
        for name, (a, b, target) in RATIOS.items()
    }


def measure(spec: dict) -> dict:
    """The client process: no TensorFlow here, only the project's clients."""
    from clients import GrpcClient, RestClient, V2GrpcClient, V2RestClient
    from protocol.json_text import dumps

    workload = WORKLOADS["efficientnet"]
    models_dir = Path(spec["models_dir"])
    images = workload.bytes_inputs(models_dir)
    pixels = workload.tensor_inputs(models_dir)
    model, jpeg_signature, float_signature = workload.name, workload.bytes_signature, workload.tensor_signature
    clients = {
        "gRPC": GrpcClient(spec["grpc_address"], timeout=120, retries=0),
        "REST b64": RestClient(spec["rest_url"], timeout=120, retries=0),
        "REST JSON floats": RestClient(spec["rest_url"], timeout=120, retries=0),
        "v2 REST binary": V2RestClient(spec["rest_url"], timeout=120, retries=0),
        "v2 gRPC": V2GrpcClient(spec["grpc_address"], timeout=120, retries=0),
    }
    calls = {
        name: (
            lambda c=client, n=name: c.predict(
                model,
                pixels if n == "REST JSON floats" else images,
                signature=float_signature if n == "REST JSON floats" else jpeg_signature,
            )
        )
        for name, client in clients.items()
    }
    answers = {name: call() for name, call in calls.items()}  # warm every path (and read metadata)
    for _ in range(3):
        for call in calls.values():
            call()
    samples: dict[str, list[float]] = {name: [] for name in calls}
    accounts: dict[str, list[dict[str, float]]] = {name: [] for name in calls}
    names = list(calls)
    metrics = requests.Session()
    reading = latency_totals(metrics, spec["metrics_url"], model)
    names.append(GRPC_ALONE)
    samples[GRPC_ALONE], accounts[GRPC_ALONE] = [], []
    with GrpcAlone() as alone:
        calls[GRPC_ALONE] = lambda: alone.call(accounts["gRPC"][-1]["run_ms"] if accounts["gRPC"] else 30.0)
        for _ in range(4):
            calls[GRPC_ALONE]()
        print("ready", flush=True)
        for r in range(spec["rounds"]):
            sys.stdin.readline()  # the benchmark's process says when (its in-process call runs between rounds)
            for name in names[r % len(names) :] + names[: r % len(names)]:
                start = time.perf_counter()
                answer = calls[name]()
                samples[name].append((time.perf_counter() - start) * 1e3)
                if name == GRPC_ALONE:  # no project server: the held time stands for the Session run
                    held_ms, handler_ms = answer
                    accounts[name].append({"run_ms": held_ms, "request_ms": handler_ms, "runs": 1.0})
                    continue
                previous, reading = reading, latency_totals(metrics, spec["metrics_url"], model)  # clock stopped
                accounts[name].append(difference(reading, previous))
            print("done", flush=True)
    for client in clients.values():
        client.close()
    metrics.close()
    array = pixels["pixels"]
    body = {"signature_name": float_signature, "inputs": {"pixels": array}}
    encode = {
        "json.dumps(tolist()) ms (before)": median_ms(
            lambda: json.dumps({"signature_name": float_signature, "inputs": {"pixels": array.tolist()}}).encode(), 20
        ),
        "protocol.json_text.dumps ms (now)": median_ms(lambda: dumps(body), 20),
        "body bytes before": len(json.dumps({"inputs": {"pixels": array.tolist()}}).encode()),
        "body bytes now": len(dumps(body)),
    }
    same = answers["v2 REST binary"]["scores"].tolist() == answers["gRPC"]["scores"].tolist()
    return {
        "rounds": spec["rounds"],
        "latency": {name: _summary(v) for name, v in samples.items()},
        "over_session_run": {name: _over_session_run(samples[name], accounts[name]) for name in names},
        "float_body": encode,
        "v2_and_grpc_answer_the_same_scores": same,
    }


def _over_session_run(latency_ms: list[float], accounts: list[dict[str, float]]) -> dict[str, float]:
    """Each call's end-to-end time over the Session run it caused in the server; where the rest went."""
    run_ms = [a["run_ms"] for a in accounts]
    request_ms = [a["request_ms"] for a in accounts]
    if min(a["runs"] for a in accounts) < 1:
        raise RuntimeError("a call caused no Session run in the server's runtime_latency")
    ratios = [t / r for t, r in zip(latency_ms, run_ms)]
    return {
        "session_run_p50_ms": percentile(run_ms, 50),
        "ratio_p50": percentile(ratios, 50),
        "ratio_mean": float(np.mean(ratios)),
        "server_outside_run_p50_ms": percentile([q - r for q, r in zip(request_ms, run_ms)], 50),
        "client_and_transport_p50_ms": percentile([t - q for t, q in zip(latency_ms, request_ms)], 50),
    }


def markdown(result: dict) -> str:
    lines = [
        f"EfficientNet-B0, batch 1, {result['rounds']} interleaved rounds from a client process of its own "
        f"(load average {result.get('load_average', '?')})\n",
        "| path | p50 ms | p99 ms | mean ms |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {name} | {v['p50_ms']:.2f} | {v['p99_ms']:.2f} | {v['mean_ms']:.2f} |"
        for name, v in result["latency"].items()
    ]
    lines += ["", "| ratio | p50 | mean | target |", "|---|---|---|---|"]
    for name, r in result["ratios"].items():
        target = f"≤ {r['target']:.2f}" if r["target"] else "–"
        lines.append(f"| {name} | {r['p50']:.3f} | {r['mean']:.3f} | {target} |")
    lines += [
        "",
        "| each call ÷ the Session run it caused (the server's runtime_latency) | Session run p50 ms | p50 | mean "
        "| in the server, outside the run, p50 ms | client and transport, p50 ms | target |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in result["over_session_run"].items():
        target = f"≤ {OVER_SESSION_RUN_TARGETS[name]:.2f}" if name in OVER_SESSION_RUN_TARGETS else "–"
        lines.append(
            f"| {name} | {r['session_run_p50_ms']:.2f} | {r['ratio_p50']:.3f} | {r['ratio_mean']:.3f} "
            f"| {r['server_outside_run_p50_ms']:.2f} | {r['client_and_transport_p50_ms']:.2f} | {target} |"
        )
    floor = result.get("floor_session_run")
    if floor:  # the same ratio in this process: the in-process call over its own Session run
        lines.append(f"| {FLOOR} | {floor['session_run_p50_ms']:.2f} | {floor['ratio_p50']:.3f} | | | | – |")
    lines += ["", "| the float request's JSON body | |", "|---|---|"]
    lines += [
        f"| {k} | {v:.1f} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in result["float_body"].items()
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # the client process
    print(json.dumps(measure(json.loads(Path(sys.argv[1]).read_text()))))
