"""glibc's defaults against the allocator `python -m serving` sets: `python -m benchmarks allocator`.

Two servers of EfficientNet-B0 side by side, one as shipped (serving/core/allocator.py: freed memory kept
for the next Session run) and one left to glibc's defaults (GLIBC_TUNABLES set, which the server takes as
the operator's choice), called in turn over gRPC at batch 1 (the order turns each round). Per call: the
end-to-end time, the Session run it caused (each server's runtime_latency), and the minor page faults it
cost the server (/proc/PID/stat): pages handed back to the system after one run and faulted in on the next.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from pathlib import Path

import requests

from benchmarks.harness import percentile
from benchmarks.server_metrics import difference, latency_totals
from benchmarks.workloads import WORKLOADS

SERVERS = {"as shipped": {}, "glibc defaults": {"GLIBC_TUNABLES": ""}}


def run_allocator(models_dir: Path, rounds: int, out: Path) -> dict:
    from clients import GrpcClient
    from serving.core.allocator import OPERATOR_SETTINGS

    chosen = [name for name in OPERATOR_SETTINGS if name in os.environ]
    if chosen:  # both servers would inherit it: the server "as shipped" would be left alone too
        raise SystemExit(f"unset {', '.join(chosen)} first: the comparison needs the server's own allocator setting")
    from serving.testing.server_process import METRICS_PATH

    workload = WORKLOADS["efficientnet"]
    workload.ensure_export(models_dir)
    images = workload.bytes_inputs(models_dir)
    samples = {name: {"latency_ms": [], "run_ms": [], "faults": []} for name in SERVERS}
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-allocator-") as work, contextlib.ExitStack() as stack:
        servers = {
            name: stack.enter_context(workload.metered_server(models_dir, Path(work), env=env))
            for name, env in SERVERS.items()
        }
        clients = {
            name: stack.enter_context(GrpcClient(s.grpc_address, timeout=120, retries=0)) for name, s in servers.items()
        }
        metrics = stack.enter_context(requests.Session())
        for client in clients.values():
            for _ in range(5):
                client.predict(workload.name, images)
        names = list(SERVERS)
        for r in range(rounds):
            for name in names[r % 2 :] + names[: r % 2]:
                server, record = servers[name], samples[name]
                url = server.rest_url + METRICS_PATH
                before, faults = latency_totals(metrics, url, workload.name), server.minor_faults()
                start = time.perf_counter()
                clients[name].predict(workload.name, images)
                record["latency_ms"].append((time.perf_counter() - start) * 1e3)
                record["faults"].append(server.minor_faults() - faults)
                record["run_ms"].append(difference(latency_totals(metrics, url, workload.name), before)["run_ms"])
        rss_mb = {name: s.rss_bytes() / 2**20 for name, s in servers.items()}
    result = {
        "rounds": rounds,
        "load_average": round((load + os.getloadavg()[0]) / 2, 2),
        "servers": {
            name: {
                "p50_ms": percentile(s["latency_ms"], 50),
                "p99_ms": percentile(s["latency_ms"], 99),
                "session_run_p50_ms": percentile(s["run_ms"], 50),
                "minor_faults_per_call_p50": percentile(s["faults"], 50),
                "rss_mb_after": rss_mb[name],
            }
            for name, s in samples.items()
        },
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(markdown(result))
    return result


def markdown(result: dict) -> str:
    servers = result["servers"]
    shipped, default = servers["as shipped"], servers["glibc defaults"]
    lines = [
        f"EfficientNet-B0 over gRPC, batch 1, {result['rounds']} interleaved rounds "
        f"(load average {result['load_average']})\n",
        "| server | p50 ms | p99 ms | Session run p50 ms | minor faults a call, p50 | RSS after, MB |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {name} | {s['p50_ms']:.2f} | {s['p99_ms']:.2f} | {s['session_run_p50_ms']:.2f} "
        f"| {s['minor_faults_per_call_p50']:.0f} | {s['rss_mb_after']:.0f} |"
        for name, s in servers.items()
    ]
    lines.append(
        f"\nas shipped ÷ glibc defaults, p50: call {shipped['p50_ms'] / default['p50_ms']:.3f}, "
        f"Session run {shipped['session_run_p50_ms'] / default['session_run_p50_ms']:.3f}"
    )
    return "\n".join(lines) + "\n"
