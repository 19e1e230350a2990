"""The serving benchmark: every path x concurrency x batching for every model, in one bounded run.

Order of work: export the models (skipped when the models directory already holds them), measure
the machine and count each model's FLOPs, run the in-process cells, then the served cells on a
`python -m serving` without and with `--enable_batching`, then the naive tutorial server, one model
at a time. Everything listens on 127.0.0.1; every cell is bounded by a request count and a time
limit (workloads.py), so the run stops by itself.
"""

from __future__ import annotations

import functools
import gc
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from benchmarks import paths as P
from benchmarks.harness import Cell, run_cell
from benchmarks.roofline import count_flops, machine_limits
from benchmarks.workloads import REPO_ROOT, WORKLOADS, Workload

BATCHING_CONFIG = """max_batch_size { value: 32 }
batch_timeout_micros { value: 2000 }
num_batch_threads { value: 2 }
max_enqueued_batches { value: 1000 }
"""
BATCHED_PATHS = ("grpc", "rest_b64")  # batching is a server-side switch: two transports show it
SERVED_UNBATCHED_PATHS = ("grpc", "rest_b64", "rest_json", "v2_rest", "v2_grpc")


class Run:
    """Collects cells and section timings; prints one line per cell as it goes."""

    def __init__(self, quick: bool, concurrency: Sequence[int]):
        self.quick = quick
        self.concurrency = list(concurrency)
        self.cells: list[Cell] = []
        self.sections: dict[str, float] = {}
        self.payloads: dict[str, dict[str, dict[str, int]]] = {}
        self.skipped: list[dict] = []
        self.server_errors: dict[str, str] = {}

    def levels(self, workload: Workload, path: str) -> list[int]:
        """The concurrency levels a path is measured at; the others are recorded as skipped, with why."""
        cap = workload.tensor_max_concurrency
        if self.quick or cap is None or P.PATHS[path].signature_kind != "tensor":
            return self.concurrency
        for c in self.concurrency:
            if c > cap:
                self.skipped.append(
                    {
                        "model": workload.name,
                        "path": path,
                        "concurrency": c,
                        "reason": f"float-tensor paths of {workload.name} stop at {cap} clients "
                        "(memory: ~200 MB of Python lists and JSON per request and side)",
                    }
                )
        return [c for c in self.concurrency if c <= cap]

    @contextmanager
    def section(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        print(f"# {name} (load average {os.getloadavg()[0]:.1f})", flush=True)
        try:
            yield
        finally:
            self.sections[name] = round(time.perf_counter() - start, 1)

    def cell(
        self,
        workload: Workload,
        path: str,
        concurrency: int,
        batching,
        factory,
        batch: int = 1,
        requests: int | None = None,
    ) -> Cell:
        counts = (
            workload.quick if self.quick else (workload.json_full if path in ("rest_json", "naive") else workload.full)
        )
        total = requests if requests is not None else counts.requests(concurrency)
        cell = Cell(model=workload.name, path=path, concurrency=concurrency, batching=batching, batch=batch)
        load = os.getloadavg()[0]
        run_cell(cell, factory, total, counts.cell_seconds)
        cell.load_average = round((load + os.getloadavg()[0]) / 2, 2)
        payload = self.payloads.get(workload.name, {}).get(path)
        if payload:
            cell.request_bytes, cell.response_bytes = payload["request"], payload["response"]
        self.cells.append(cell)
        mode = "" if batching is None else (" batching" if batching else " no-batching")
        error = f" ERRORS {cell.errors}: {cell.first_error[:160]}" if cell.errors else ""
        print(
            f"  {workload.name:12s} {path:16s}{mode:12s} c={concurrency:<3d} b={batch:<3d} n={cell.requests:<4d} "
            f"p50 {cell.p50_ms:9.1f} ms  p99 {cell.p99_ms:9.1f} ms  {cell.throughput:7.2f} img/s{error}",
            flush=True,
        )
        return cell

    def payload(self, workload: Workload, path: str, sizes: tuple[int, int]) -> None:
        self.payloads.setdefault(workload.name, {})[path] = {"request": sizes[0], "response": sizes[1]}


def _loaded(workload: Workload, models_dir: Path):
    import tensorflow as tf

    return tf.saved_model.load(str(workload.version_dir(models_dir)))


def run_inprocess(run: Run, workloads: Sequence[Workload], models_dir: Path) -> None:
    for workload in workloads:
        loaded = _loaded(workload, models_dir)
        sets = {
            "inprocess": (workload.bytes_signature, workload.bytes_inputs(models_dir)),
            "inprocess_tensor": (workload.tensor_signature, workload.tensor_inputs(models_dir)),
        }
        for path, (signature, inputs) in sets.items():
            factory = P.inprocess(loaded.signatures[signature], inputs)
            factory()[0]()  # warm: the first call of a signature in a process traces and optimises it
            for concurrency in run.levels(workload, path):
                run.cell(workload, path, concurrency, None, factory)
        signature, inputs = sets["inprocess_tensor"]
        batch = 4 if run.quick else workload.batch_cap
        batched = {k: (np.repeat(v, batch, axis=0) if np.ndim(v) else v) for k, v in inputs.items()}
        factory = P.inprocess(loaded.signatures[signature], batched)
        factory()[0]()
        run.cell(workload, "inprocess_batch", 1, None, factory, batch=batch, requests=1 if run.quick else 2)
        del loaded, factory
        gc.collect()


def _server(models_dir: Path, workloads: Sequence[Workload], batching: bool, work: Path):
    from serving.testing.server_process import MONITORING_CONFIG, ServerProcess, model_config_text

    work.mkdir(parents=True, exist_ok=True)
    config = work / "models.config"
    config.write_text(model_config_text([{"name": w.name, "base_path": models_dir / w.name} for w in workloads]))
    (work / "monitoring.config").write_text(MONITORING_CONFIG)  # the batcher's counts: model runs per cell
    # REST's default 30 s deadline fails most of a burst of 32 DETR requests on two cores (measured);
    # the benchmark measures throughput, so it lifts the deadline to 10 minutes (gRPC has none).
    args = [
        "--file_system_poll_wait_seconds=0",
        "--rest_api_timeout_in_ms=600000",
        f"--monitoring_config_file={work / 'monitoring.config'}",
    ]
    if batching:
        (work / "batching.config").write_text(BATCHING_CONFIG)
        args += ["--enable_batching", f"--batching_parameters_file={work / 'batching.config'}"]
    return ServerProcess(model_config_file=config, args=args, startup_timeout=900)


def run_served(run: Run, workloads: Sequence[Workload], models_dir: Path, batching: bool, server) -> None:
    from serving.testing.server_process import batches_run

    for workload in workloads:
        by_path = {
            "grpc": (P.grpc, server.grpc_address, workload.bytes_signature, workload.bytes_inputs(models_dir)),
            "rest_b64": (P.rest, server.rest_url, workload.bytes_signature, workload.bytes_inputs(models_dir)),
            "rest_json": (P.rest, server.rest_url, workload.tensor_signature, workload.tensor_inputs(models_dir)),
            "v2_rest": (P.v2_rest, server.rest_url, workload.bytes_signature, workload.bytes_inputs(models_dir)),
            "v2_grpc": (P.v2_grpc, server.grpc_address, workload.bytes_signature, workload.bytes_inputs(models_dir)),
        }
        payloads = {
            "grpc": P.grpc_payload,
            "rest_b64": P.rest_payload,
            "rest_json": P.rest_payload,
            "v2_rest": functools.partial(P.rest_payload, v2=True),
            "v2_grpc": P.v2_grpc_payload,
        }
        for path in BATCHED_PATHS if batching else SERVED_UNBATCHED_PATHS:
            make, address, signature, inputs = by_path[path]
            if not batching:  # payload sizes do not depend on batching: measured once
                run.payload(workload, path, payloads[path](address, workload.name, signature, inputs))
            factory = make(address, workload.name, signature, inputs)
            call, close = factory()
            call()  # warm this path once (the server warmed the model at load)
            close()
            for concurrency in run.levels(workload, path):
                before = batches_run(server.rest_url) if batching else None
                cell = run.cell(workload, path, concurrency, batching, factory)
                if batching:  # whether requests were merged: fewer model runs than requests
                    cell.model_runs = int(batches_run(server.rest_url)[0] - before[0])
                    print(f"    {cell.requests} requests in {cell.model_runs} model runs", flush=True)


@contextmanager
def naive_server(
    workload: Workload, models_dir: Path, warmup_shape: Sequence[int], errors: dict[str, str]
) -> Iterator[str]:
    """The tutorial server on a free loopback port; a traceback it logged lands in `errors[model]`."""
    from serving.testing.server_process import free_port, wait_until_listening

    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix="naive-server-", suffix=".log", delete=False)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "benchmarks.naive_server",
            "--model",
            workload.name,
            "--models-dir",
            str(models_dir),
            "--port",
            str(port),
            "--warmup-shape",
            ",".join(str(d) for d in warmup_shape),
        ],
        cwd=REPO_ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO_ROOT)},
    )
    try:
        wait_until_listening(process, [port], 600, "the naive server", Path(log.name).read_text, interval=0.3)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        text = Path(log.name).read_text(errors="replace")
        if "Traceback" in text:
            errors[workload.name] = text[text.index("Traceback") :][:3000]
        os.unlink(log.name)


def run_naive(run: Run, workloads: Sequence[Workload], models_dir: Path) -> None:
    for workload in workloads:
        inputs = workload.tensor_inputs(models_dir)
        array = next(v for v in inputs.values() if np.ndim(v) >= 2)  # pixels or z: the tensor a tutorial sends
        with naive_server(workload, models_dir, array.shape, run.server_errors) as url:
            run.payload(workload, "naive", P.naive_payload(url, array))
            for concurrency in run.levels(workload, "naive"):
                run.cell(workload, "naive", concurrency, None, P.naive(url, array))


def add_ratios(cells: list[Cell]) -> list[dict]:
    """Cells as dicts with p50 and throughput ratios to the in-process floor at the same concurrency."""
    floors = {(c.model, c.path, c.concurrency): c for c in cells if c.batching is None and c.batch == 1}
    rows = []
    for cell in cells:
        row = cell.to_json()
        row.pop("latencies_ms")
        floor_key = P.PATHS[cell.path].floor if cell.path in P.PATHS else None
        floor = floors.get((cell.model, floor_key, cell.concurrency)) if floor_key else None
        if floor is not None and floor.p50_ms > 0 and floor.throughput > 0:
            row["floor"] = floor_key
            row["p50_ratio"] = cell.p50_ms / floor.p50_ms
            row["throughput_ratio"] = cell.throughput / floor.throughput
        rows.append(row)
    return rows


def roofline_summary(cells: list[dict], flops: dict, limits: dict) -> dict:
    """Per model: best in-process and best served images/s, and the GFLOP/s they mean against the
    machine's measured (best of matmul and convolution) and theoretical fp32 rates."""
    achievable, peak = limits["achievable_fp32_gflops"], limits["fp32_peak_gflops"]
    summary = {}
    for model, counted in flops.items():
        mine = [c for c in cells if c["model"] == model and c["requests"] and not c["errors"]]
        inproc = max(
            (c for c in mine if c["path"].startswith("inprocess")), key=lambda c: c["throughput"], default=None
        )
        served = max(
            (c for c in mine if c["path"] in ("grpc", "rest_b64")), key=lambda c: c["throughput"], default=None
        )
        gflop = counted["gflops"]
        entry = {
            "gflop_per_image": gflop,
            "gmac_per_image": counted["gmacs"],
            "ceiling_images_per_s_measured": achievable / gflop,
            "ceiling_images_per_s_peak": peak / gflop if peak else None,
        }
        for name, cell in (("inprocess", inproc), ("served", served)):
            if cell is None:
                continue
            achieved = cell["throughput"] * gflop
            entry[name] = {
                "path": cell["path"],
                "concurrency": cell["concurrency"],
                "batch": cell["batch"],
                "batching": cell["batching"],
                "images_per_s": cell["throughput"],
                "gflops": achieved,
                "fraction_of_measured": achieved / achievable,
                "fraction_of_peak": achieved / peak if peak else None,
            }
        summary[model] = entry
    return summary


def run_suite(
    models: Sequence[str], models_dir: Path, quick: bool, concurrency: Sequence[int] | None = None, naive: bool = True
) -> dict:
    import tensorflow as tf

    started = time.time()
    workloads = [WORKLOADS[m] for m in models]
    run = Run(quick, concurrency or ((1, 2) if quick else (1, 8, 32)))
    gc.freeze()  # as the server does: TensorFlow's many objects stay out of the collector's way
    with run.section("export"):
        for workload in workloads:
            workload.ensure_export(models_dir)
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as work:
        servers = {b: _server(models_dir, workloads, b, Path(work) / ("on" if b else "off")) for b in (False, True)}
        try:
            if quick:  # a smoke test: let the servers load while this process works (full runs start each alone)
                for server in servers.values():
                    server.start(wait=False)
            with run.section("machine and FLOPs"):
                limits = machine_limits(quick)
                flops = {
                    w.name: count_flops(
                        w.version_dir(models_dir),
                        w.tensor_signature,
                        w.tensor_spec_for_flops(w.version_dir(models_dir)),
                    )
                    for w in workloads
                }
                gc.collect()
            with run.section("in-process"):
                run_inprocess(run, workloads, models_dir)
            for batching, server in servers.items():
                with run.section(f"served, batching {'on' if batching else 'off'}"):
                    if server.process is None:
                        server.start()
                    else:
                        server.wait_ready()
                    run_served(run, workloads, models_dir, batching, server)
                    server.stop()
        finally:
            for server in servers.values():
                server.stop()
    if naive:
        with run.section("naive tutorial server"):
            run_naive(run, workloads, models_dir)
    cells = add_ratios(run.cells)
    return {
        "mode": "quick" if quick else "full",
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "seconds": round(time.time() - started, 1),
        "sections_seconds": run.sections,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "tensorflow": tf.__version__,
            "load_average_end": os.getloadavg(),
        },
        "batching_parameters": BATCHING_CONFIG,
        "concurrency": run.concurrency,
        "models": {
            w.name: {
                "title": w.title,
                "bytes_signature": w.bytes_signature,
                "tensor_signature": w.tensor_signature,
                "version_dir": str(w.version_dir(models_dir)),
            }
            for w in workloads
        },
        "paths": {k: {"label": p.label, "floor": p.floor} for k, p in P.PATHS.items()},
        "payloads": run.payloads,
        "skipped": run.skipped,
        "naive_server_errors": run.server_errors,
        "rest_api_timeout_in_ms": 600000,
        "flops": flops,
        "limits": limits,
        "roofline": roofline_summary(cells, flops, limits),
        "cells": cells,
    }


def _finite(value):
    """NaN (no sample) as null, so the file is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def write(result: dict, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(_finite(result), indent=1) + "\n")
