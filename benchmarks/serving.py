"""Benchmark `python -m serving`: in-process signature call vs REST and gRPC end to end, and throughput.

For a small model (half_plus_two, batch 1) and EfficientNet-B0 (`predict_pixels`, one 224x224 image):
  - latency p50/p99 of the in-process call (tf.saved_model.load + signature), of REST (JSON encode,
    POST, JSON decode) and of gRPC (make_tensor_proto, Predict, make_ndarray), and served/in-process;
  - gRPC throughput with 1, 8 and 32 concurrent clients, without and with --enable_batching.
Prints markdown tables. Loopback only; every loop is bounded by a count and a time limit.

    python benchmarks/serving.py [--models-dir DIR] [--iterations 200] [--seconds 5]
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import grpc  # noqa: E402
import numpy as np  # noqa: E402
import requests  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc  # noqa: E402

from protocol.layout import parse_version  # noqa: E402
from tests.serving.server_process import ServerProcess, build_half_plus_two, model_config_text  # noqa: E402

LIMIT = 256 * 1024 * 1024


def percentile_ms(samples: list[float], q: float) -> float:
    return float(np.percentile(np.array(samples) * 1e3, q))


def interleaved(calls: dict, iterations: int, max_seconds: float) -> dict[str, list[float]]:
    """Times each call once per round, round after round, so load from other processes hits all alike."""
    for fn in calls.values():
        for _ in range(3):
            fn()
    samples = {name: [] for name in calls}
    deadline = time.monotonic() + max_seconds
    for _ in range(iterations):
        if time.monotonic() > deadline:
            break
        for name, fn in calls.items():
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
    return samples


def ensure_models(models_dir: Path) -> dict:
    small = models_dir / "half_plus_two"
    if not small.exists():
        build_half_plus_two(small)
    b0 = models_dir / "efficientnet_b0"
    if not b0.exists():
        subprocess.run([sys.executable, "-m", "export", "efficientnet", "--variant", "b0", "--weights", "none",
                        "--models-dir", str(models_dir), "--name", "efficientnet_b0"], check=True,
                       cwd=Path(__file__).resolve().parents[1])
    return {
        "half_plus_two": {"path": small, "signature": "serving_default",
                          "inputs": {"x": np.array([1.5], np.float32)}},
        "efficientnet_b0": {"path": b0, "signature": "predict_pixels",
                            "inputs": {"pixels": np.random.default_rng(0).uniform(
                                0, 255, (1, 224, 224, 3)).astype(np.float32)}},
    }


def latest_version(path: Path) -> Path:
    versions = {parse_version(p.name): p for p in path.iterdir()}
    versions.pop(None, None)
    return versions[max(versions)]


class Clients:
    def __init__(self, server: ServerProcess):
        self.server = server
        self.channel = grpc.insecure_channel(server.grpc_address, options=[
            ("grpc.max_send_message_length", LIMIT), ("grpc.max_receive_message_length", LIMIT)])
        self.stub = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.session = requests.Session()

    def grpc_call(self, model: str, spec: dict):
        request = predict_pb2.PredictRequest()
        request.model_spec.name = model
        request.model_spec.signature_name = spec["signature"]
        for name, value in spec["inputs"].items():
            request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
        response = self.stub.Predict(request, timeout=120)
        return {k: tf.make_ndarray(v) for k, v in response.outputs.items()}

    def rest_call(self, model: str, spec: dict):
        body = json.dumps({"signature_name": spec["signature"],
                           "inputs": {k: v.tolist() for k, v in spec["inputs"].items()}})
        reply = self.session.post(f"{self.server.rest_url}/v1/models/{model}:predict", data=body, timeout=120)
        reply.raise_for_status()
        return reply.json()

    def close(self):
        self.channel.close()
        self.session.close()


def throughput(server: ServerProcess, model: str, spec: dict, clients: int, seconds: float) -> float:
    """Completed gRPC requests per second with `clients` threads, each with its own channel.

    Every request started before the deadline is counted and waited for; the rate divides by the
    time until the last one finished.
    """
    done = [0] * clients
    errors: list[str] = []
    window: dict[str, float] = {}

    def open_window() -> None:
        window["start"] = time.monotonic()
        window["stop"] = window["start"] + seconds

    barrier = threading.Barrier(clients + 1, action=open_window)

    def worker(i):
        c = Clients(server)
        try:
            c.grpc_call(model, spec)
            barrier.wait()
            while time.monotonic() < window["stop"]:
                c.grpc_call(model, spec)
                done[i] += 1
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))
        finally:
            c.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    for t in threads:
        t.join()
    if errors:
        print(f"<!-- {model} {clients} clients: {len(errors)} errors, first: {errors[0][:200]} -->")
    return sum(done) / (time.monotonic() - window["start"])


def latency_rows(name: str, spec: dict, clients: Clients, iterations: int, max_seconds: float) -> None:
    """Prints one table row per path for one model."""
    fn = tf.saved_model.load(str(latest_version(spec["path"]))).signatures[spec["signature"]]
    tensors = {k: tf.constant(v) for k, v in spec["inputs"].items()}
    samples = interleaved({
        "in-process": lambda: {k: v.numpy() for k, v in fn(**tensors).items()},
        "gRPC": lambda: clients.grpc_call(name, spec),
        "REST": lambda: clients.rest_call(name, spec),
    }, iterations, max_seconds)
    base_p50 = percentile_ms(samples["in-process"], 50)
    for label, values in samples.items():
        p50 = percentile_ms(values, 50)
        print(f"| {name} | {label} | {len(values)} | {p50:.2f} | {percentile_ms(values, 99):.2f} | "
              f"{p50 / base_p50:.2f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models-dir", type=Path, default=None)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--max-seconds", type=float, default=60.0, help="cap per latency measurement")
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each throughput cell")
    parser.add_argument("--concurrency", default="1,8,32")
    args = parser.parse_args()
    models_dir = args.models_dir or Path(tempfile.mkdtemp(prefix="serving-bench-"))
    models = ensure_models(models_dir)
    gc.freeze()  # as the server does: keep TensorFlow's objects out of the client's collections
    config = models_dir / "bench.config"
    config.write_text(model_config_text([{"name": n, "base_path": s["path"]} for n, s in models.items()]))
    batching = models_dir / "batching.config"
    batching.write_text("max_batch_size { value: 32 }\nbatch_timeout_micros { value: 2000 }\n"
                        "num_batch_threads { value: 2 }\nmax_enqueued_batches { value: 1000 }\n")

    print(f"# python -m serving benchmark\n\nmachine: {os.cpu_count()} CPUs, TensorFlow {tf.__version__}\n")
    print("## Latency at batch 1 (ms)\n")
    print("| model | path | calls | p50 | p99 | p50 ratio to in-process |")
    print("|---|---|---|---|---|---|")
    with ServerProcess(model_config_file=config, args=["--file_system_poll_wait_seconds=0"]) as server:
        clients = Clients(server)
        for name, spec in models.items():
            latency_rows(name, spec, clients, args.iterations, args.max_seconds)
        clients.close()
        levels = [int(c) for c in args.concurrency.split(",")]
        rows = {name: {"off": [throughput(server, name, spec, c, args.seconds) for c in levels]}
                for name, spec in models.items()}
    with ServerProcess(model_config_file=config, args=[
            "--file_system_poll_wait_seconds=0", "--enable_batching", f"--batching_parameters_file={batching}"]) \
            as server:
        for name, spec in models.items():
            rows[name]["on"] = [throughput(server, name, spec, c, args.seconds) for c in levels]
    print("\n## gRPC throughput (requests/s, batch 1 per request)\n")
    print("| model | batching | " + " | ".join(f"{c} clients" for c in levels) + " |")
    print("|---|---|" + "---|" * len(levels))
    for name, modes in rows.items():
        for mode, values in modes.items():
            print(f"| {name} | {mode} | " + " | ".join(f"{v:.1f}" for v in values) + " |")


if __name__ == "__main__":
    main()
