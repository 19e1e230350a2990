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

The result gives each path's p50 / p99 / mean and the ratios the Open Inference Protocol work set targets
for: v2 REST binary ÷ gRPC (≤ 1.10) and REST JSON floats ÷ REST b64 (≤ 2). The client process also times
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

from benchmarks.harness import percentile
from benchmarks.workloads import REPO_ROOT, WORKLOADS

PATHS = ("gRPC", "REST b64", "REST JSON floats", "v2 REST binary", "v2 gRPC")
RATIOS = {  # name: (numerator path, denominator path, target)
    "v2 REST binary / gRPC": ("v2 REST binary", "gRPC", 1.10),
    "v2 gRPC / gRPC": ("v2 gRPC", "gRPC", None),
    "REST JSON floats / REST b64": ("REST JSON floats", "REST b64", 2.0),
    "REST b64 / gRPC": ("REST b64", "gRPC", None),
}


def run_protocols(models_dir: Path, rounds: int, out: Path) -> dict:
    """Exports B0 if missing, serves it, and measures from a client process of its own."""
    from serving.testing.server_process import ServerProcess

    workload = WORKLOADS["efficientnet"]
    workload.ensure_export(models_dir)
    server = ServerProcess(
        model_name=workload.name,
        model_base_path=models_dir / workload.name,
        args=["--file_system_poll_wait_seconds=0"],
        startup_timeout=600,
    )
    with server, tempfile.TemporaryDirectory(prefix="bench-protocols-") as work:
        spec = Path(work) / "spec.json"
        spec.write_text(
            json.dumps(
                {
                    "rest_url": server.rest_url,
                    "grpc_address": server.grpc_address,
                    "models_dir": str(models_dir),
                    "rounds": rounds,
                }
            )
        )
        started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        load = os.getloadavg()[0]
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.protocols", str(spec)],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=3600,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        )
        if done.returncode != 0:
            raise RuntimeError(f"the client process failed:\n{done.stderr[-3000:]}")
        result = json.loads(done.stdout)
    result.update(started=started, load_average=round((load + os.getloadavg()[0]) / 2, 2))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(markdown(result))
    return result


def _median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return float(np.median(times))


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
    names = list(calls)
    for r in range(spec["rounds"]):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            start = time.perf_counter()
            calls[name]()
            samples[name].append((time.perf_counter() - start) * 1e3)
    for client in clients.values():
        client.close()
    array = pixels["pixels"]
    body = {"signature_name": float_signature, "inputs": {"pixels": array}}
    encode = {
        "json.dumps(tolist()) ms (before)": _median_ms(
            lambda: json.dumps({"signature_name": float_signature, "inputs": {"pixels": array.tolist()}}).encode(), 20
        ),
        "protocol.json_text.dumps ms (now)": _median_ms(lambda: dumps(body), 20),
        "body bytes before": len(json.dumps({"inputs": {"pixels": array.tolist()}}).encode()),
        "body bytes now": len(dumps(body)),
    }
    same = answers["v2 REST binary"]["scores"].tolist() == answers["gRPC"]["scores"].tolist()
    latency = {
        name: {"p50_ms": percentile(v, 50), "p99_ms": percentile(v, 99), "mean_ms": float(np.mean(v))}
        for name, v in samples.items()
    }
    ratios = {
        name: {
            "p50": latency[a]["p50_ms"] / latency[b]["p50_ms"],
            "mean": latency[a]["mean_ms"] / latency[b]["mean_ms"],
            "target": target,
        }
        for name, (a, b, target) in RATIOS.items()
    }
    return {
        "rounds": spec["rounds"],
        "latency": latency,
        "ratios": ratios,
        "float_body": encode,
        "v2_and_grpc_answer_the_same_scores": same,
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
    lines += ["", "| the float request's JSON body | |", "|---|---|"]
    lines += [
        f"| {k} | {v:.1f} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in result["float_body"].items()
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # the client process
    print(json.dumps(measure(json.loads(Path(sys.argv[1]).read_text()))))
