"""What tracing, request logging and the access log cost a request, side by side in one run.

Five `python -m serving` processes serve the same tiny model (half_plus_two: a model run of a few µs, so
what is measured is the server's own per-request work, the worst case for any overhead): everything off
(the default), tracing on (OTLP/HTTP to a receiver in this process, every request sampled), request logging
at sampling rate 1.0, the access log to a file, and all three. One client sends sequential REST and gRPC
predicts (pre-encoded bodies, no client library work), in interleaved rounds so load from other processes
hits every configuration alike. Reported: median and p90 latency per configuration and API, and the ratio of
each median to the off one. Then, in this process, the per-request cost of the hooks while everything is
off (observe.begin/end, the no-op spans, the request-log lookup), in ns, against the bare metrics call the
front ends made before the hooks existed.
"""

from __future__ import annotations

import json
import random
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

CONFIGS = ("off", "tracing", "request log", "access log", "all")


def _servers(root: Path, receiver) -> dict:
    from serving.testing.models import build_half_plus_two
    from serving.testing.server_process import ServerProcess, model_config_text

    base = build_half_plus_two(root / "half_plus_two")
    servers = {}
    for name in CONFIGS:
        logged = name in ("request log", "all")
        config = root / f"{name.replace(' ', '_')}.config"
        model = {"name": "m", "base_path": base}
        if logged:
            model["logging"] = (root / "logs" / name.replace(" ", "_"), 1.0)
        config.write_text(model_config_text([model]))
        args = ["--file_system_poll_wait_seconds=0"]
        if name in ("access log", "all"):
            args.append(f"--access_log={root / (name.replace(' ', '_') + '.access.log')}")
        tracing_env = receiver.environment(OTEL_TRACES_SAMPLER="always_on", OTEL_BSP_SCHEDULE_DELAY="5000")
        env = tracing_env if name in ("tracing", "all") else {}  # the SDK's default batch delay, as deployed
        servers[name] = ServerProcess(model_config_file=config, args=args, env=env)
    for server in servers.values():
        server.start(wait=False)
    for server in servers.values():
        server.wait_ready()
    return servers


def _callers(server):
    import grpc
    import requests

    from protocol import tensors
    from protocol.generated.tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    session = requests.Session()
    url = f"{server.rest_url}/v1/models/m:predict"
    body = json.dumps({"instances": [1.0, 2.0, 3.0]}).encode()
    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(server.grpc_address))
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "m"
    request.inputs["x"].CopyFrom(tensors.to_proto(np.array([1.0, 2.0, 3.0], np.float32)))

    def rest() -> None:
        reply = session.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=30)
        assert reply.status_code == 200, reply.text

    def grpc_call() -> None:
        stub.Predict(request, timeout=30)

    return {"REST": rest, "gRPC": grpc_call}


def _hooks_off_ns(iterations: int = 200_000) -> dict[str, float]:
    """ns per call of each hook a request passes while tracing, request logs and the access log are off."""
    from serving import tracing
    from serving.logs.request_logger import ServerRequestLogger
    from serving.metrics import METRICS
    from serving.ops import observe

    tracing.install(None)
    logs = ServerRequestLogger()

    def timed(function) -> float:
        start = time.perf_counter_ns()
        for _ in range(iterations):
            function()
        return (time.perf_counter_ns() - start) / iterations

    def before() -> None:  # what the front ends did before: time the request, record the metrics
        start = time.perf_counter()
        METRICS.record_request("m", "predict", "REST", "OK", (time.perf_counter() - start) * 1e6)

    def observed() -> None:
        observation = observe.begin("REST", "tfs", "", "predict", "POST", dict, None, None)
        observation.carry(before)
        observe.annotate(1, "serving_default")
        observation.end("OK", 200)

    def spans() -> None:  # the children a predict passes: decode, model.run, encode
        for name in ("decode", "model.run", "encode"):
            with tracing.span(name):
                pass

    results = {}
    for _ in range(2):  # the second pass is the one kept (warm caches)
        results = {
            "metrics call (before)": timed(before),
            "observe.begin/carry/annotate/end": timed(observed),
            "three no-op spans": timed(spans),
            "request-log lookup": timed(lambda: logs.logger("m")),
        }
    return results


def run_observability(requests_per_round: int, rounds: int, out: Path) -> dict:
    from serving.testing.otlp import Receiver

    latencies = {(config, api): [] for config in CONFIGS for api in ("REST", "gRPC")}
    with tempfile.TemporaryDirectory(prefix="observability-") as directory, Receiver(keep=False) as receiver:
        servers = _servers(Path(directory), receiver)
        try:
            callers = {name: _callers(server) for name, server in servers.items()}
            for calls in callers.values():  # warm every path up
                for call in calls.values():
                    for _ in range(20):
                        call()
            order = list(CONFIGS)
            for _ in range(rounds):
                random.shuffle(order)
                for config in order:
                    for api, call in callers[config].items():
                        samples = latencies[(config, api)]
                        for _ in range(requests_per_round):
                            start = time.perf_counter()
                            call()
                            samples.append((time.perf_counter() - start) * 1e3)
        finally:
            for server in servers.values():
                server.stop()  # the last spans are exported as the server stops
        exported = receiver.span_count
        log_bytes = sum(p.stat().st_size for p in Path(directory, "logs").rglob("*.tfrecord"))
    table = {}
    for api in ("REST", "gRPC"):
        off = statistics.median(latencies[("off", api)])
        for config in CONFIGS:
            samples = sorted(latencies[(config, api)])
            median = statistics.median(samples)
            table[f"{config} / {api}"] = {
                "requests": len(samples),
                "median_ms": round(median, 4),
                "p90_ms": round(samples[int(0.9 * (len(samples) - 1))], 4),
                "ratio_to_off": round(median / off, 3),
                "added_us": round((median - off) * 1e3, 1),
            }
    result = {
        "model": "half_plus_two (tiny: the server's own work dominates)",
        "requests_per_round": requests_per_round,
        "rounds": rounds,
        "latency": table,
        "spans_exported": exported,
        "request_log_bytes": log_bytes,
        "hooks_off_ns": {name: round(ns, 1) for name, ns in _hooks_off_ns().items()},
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(markdown(result))
    return result


def markdown(result: dict) -> str:
    lines = ["| configuration / API | median ms | p90 ms | ratio to off | added µs |", "|---|---:|---:|---:|---:|"]
    for name, row in result["latency"].items():
        lines.append(
            f"| {name} | {row['median_ms']:.3f} | {row['p90_ms']:.3f} | {row['ratio_to_off']:.2f} | "
            f"{row['added_us']:+.0f} |"
        )
    lines += ["", "| hook, everything off | ns per request |", "|---|---:|"]
    lines += [f"| {name} | {ns:.0f} |" for name, ns in result["hooks_off_ns"].items()]
    return "\n".join(lines)
