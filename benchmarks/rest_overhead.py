"""Where the milliseconds of a REST b64 request go, against the in-process call (EfficientNet-B0, batch 1).

One JPEG to `serving_default`, one client, measured five ways in interleaved rounds (so load from
other processes hits all alike): the in-process call the way the server makes it (the SavedModel in a
Session, `serving.servable.Servable`: the floor), the in-process TF2 function (`tf.saved_model.load`, what
the server ran before its Session core), `RestClient.predict`, the same request as pre-encoded bytes through
a bare `requests.Session.post` (no client encode/decode), and `GrpcClient.predict`. The clients run in this
process, the server in its own. Then, with no other traffic:
  - the server's own Prometheus histograms give the mean time inside the REST handler
    (`request_latency`, from routing to the response body) and inside the model call
    (`runtime_latency`: numpy -> tensors, the signature, tensors -> numpy);
  - py-spy samples the server process while it answers the same requests (only threads holding
    the GIL: the Python work; TensorFlow's kernels run without it), and its samples are attributed
    to JSON parsing, base64, JSON writing, HTTP (serving/http_server.py on h11 and asyncio), the
    TensorFlow call and the numpy copies, in ms per request;
  - cProfile times the client library's own functions over the same number of calls;
  - the client's own work (building the body, reading the answer) is timed apart.
What is left between the client's round trip and the server's handler time is the transport: the
loopback socket, h11's parsing and the hop between the event loop and the worker thread.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from benchmarks.workloads import WORKLOADS, photo_jpeg

FLOOR = "in-process (Session, as served)"
PROFILE_RATE = 1000  # samples per second
# (category, regular expression on a py-spy frame); the first category found from the leaf up wins.
CATEGORIES = [
    ("base64", r"b64decode|binascii|decode_b64"),
    ("JSON parse", r"orjson|parse_document|json/decoder|json/__init__.py:\d+ ?\)?$|\bloads\b"),
    ("JSON write", r"predict_response_json|dumps|json/encoder"),
    ("tensor -> numpy", r"\bnumpy\b \(|_numpy"),
    ("TensorFlow session call", r"session\.py|session_bundle|_call_tf_sessionrun|TF_SessionRunCallable"),
    ("HTTP (h11, asyncio)", r"h11|http_server|asyncio|selectors"),
    ("gRPC/other server threads", r"grpc|_server\.py"),
]


def _categorise(stack: str) -> str:
    frames = stack.split(";")
    for frame in reversed(frames):
        for name, pattern in CATEGORIES:
            if re.search(pattern, frame):
                return name
    return "other Python"


def _leaf(stack: str) -> str:
    """The innermost frame of a py-spy stack, as `function (file)`."""
    frame = stack.rsplit(";", 1)[-1]
    return re.sub(r":\d+\)$", ")", frame.strip())


def profile_server(pid: int, seconds: float, send) -> tuple[dict[str, int], int, dict[str, int]]:
    """py-spy samples of the server's threads holding the GIL while `send()` runs:
    (samples per category, total samples, samples per innermost frame)."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    with tempfile.TemporaryDirectory(prefix="bench-py-spy-") as work:
        out = Path(work) / "profile.txt"
        spy = subprocess.Popen(
            [
                py_spy,
                "record",
                "--pid",
                str(pid),
                "--rate",
                str(PROFILE_RATE),
                "--format",
                "raw",
                "--gil",
                "--nonblocking",
                "--duration",
                str(int(seconds) + 5),
                "--output",
                str(out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(1.0)  # let py-spy attach
        send()
        spy.send_signal(signal.SIGINT)  # stop sampling now and write the profile
        try:
            _, err = spy.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            spy.kill()
            _, err = spy.communicate()
        if not out.exists():
            raise RuntimeError(f"py-spy wrote no profile: {err.strip()[-400:]}")
        counts: Counter[str] = Counter()
        leaves: Counter[str] = Counter()
        for line in out.read_text().splitlines():
            stack, _, number = line.rpartition(" ")
            if stack and number.isdigit():
                counts[_categorise(stack)] += int(number)
                leaves[_leaf(stack)] += int(number)
        return dict(counts), sum(counts.values()), dict(leaves.most_common(15))


def profile_client(call, count: int) -> dict[str, float]:
    """cProfile of `count` calls in this process: the 15 functions with the most own time, ms per call."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(count):
        call()
    profiler.disable()
    stats = pstats.Stats(profiler).stats
    own = sorted(
        ((tt, f"{name} ({Path(file).name}:{line})") for (file, line, name), (_, _, tt, _, _) in stats.items()),
        reverse=True,
    )[:15]
    return {where: tt / count * 1e3 for tt, where in own}


def run_rest_overhead(models_dir: Path, requests_count: int, profile: bool, out: Path) -> dict:
    import requests
    import tensorflow as tf

    from benchmarks.harness import median_ms, percentile
    from benchmarks.server_metrics import difference, latency_totals
    from clients import GrpcClient, RestClient
    from serving.core.allocator import keep_freed_memory_for_reuse
    from serving.servable import Servable
    from serving.testing.server_process import METRICS_PATH

    workload = WORKLOADS["efficientnet"]
    workload.ensure_export(models_dir)
    keep_freed_memory_for_reuse()  # the in-process calls run with the allocator the server sets
    jpeg = photo_jpeg()
    images = np.array([jpeg], dtype=object)
    signature = workload.bytes_signature
    function = tf.saved_model.load(str(workload.version_dir(models_dir))).signatures[signature]
    session = Servable(workload.name, 1, str(workload.version_dir(models_dir)))
    body = json.dumps(
        {"signature_name": signature, "inputs": {"images": [{"b64": base64.b64encode(jpeg).decode("ascii")}]}}
    ).encode()

    with tempfile.TemporaryDirectory(prefix="bench-rest-") as work:
        with workload.metered_server(models_dir, Path(work)) as server:
            url = f"{server.rest_url}/v1/models/{workload.name}:predict"
            http = requests.Session()
            rest = RestClient(server.rest_url, timeout=120, retries=0)
            grpc = GrpcClient(server.grpc_address, timeout=120, retries=0)

            def raw():
                reply = http.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=120)
                reply.raise_for_status()
                return reply.content

            calls = {
                FLOOR: lambda: session.predict(signature, {"images": images}),
                "in-process (TF2 function)": lambda: {
                    k: v.numpy() for k, v in function(images=tf.constant(images)).items()
                },
                "REST (RestClient)": lambda: rest.predict(workload.name, {"images": images}, signature=signature),
                "REST (pre-encoded body, bare requests)": raw,
                "gRPC (GrpcClient)": lambda: grpc.predict(workload.name, {"images": images}, signature=signature),
            }
            for fn in calls.values():
                for _ in range(3):
                    fn()
            samples: dict[str, list[float]] = {name: [] for name in calls}
            for _ in range(requests_count):
                for name, fn in calls.items():
                    start = time.perf_counter()
                    fn()
                    samples[name].append((time.perf_counter() - start) * 1e3)

            answer = raw()
            client = {
                "build body (base64 + json.dumps)": median_ms(
                    lambda: json.dumps(
                        {
                            "signature_name": signature,
                            "inputs": {"images": [{"b64": base64.b64encode(jpeg).decode("ascii")}]},
                        }
                    ).encode(),
                    200,
                ),
                "read answer (json.loads + numpy)": median_ms(
                    lambda: {k: np.asarray(v) for k, v in json.loads(answer)["outputs"].items()}, 200
                ),
            }

            metrics_url = server.rest_url + METRICS_PATH
            before = latency_totals(http, metrics_url, workload.name, entrypoint="REST")
            alone = []
            for _ in range(requests_count):
                start = time.perf_counter()
                raw()
                alone.append((time.perf_counter() - start) * 1e3)
            served = difference(latency_totals(http, metrics_url, workload.name, entrypoint="REST"), before)
            server_side = {
                "REST handler mean ms (request_latency)": served["request_ms"] / served["requests"],
                "model call mean ms (runtime_latency)": served["run_ms"] / served["runs"],
                "round trip mean ms (same requests, client side)": float(np.mean(alone)),
            }

            profile_result = None
            if profile:
                count = requests_count

                def send():
                    for _ in range(count):
                        raw()

                estimate = count * (np.median(alone) / 1e3) * 2 + 10
                counts, total, leaves = profile_server(server.process.pid, estimate, send)
                per_request = 1e3 / PROFILE_RATE / count
                profile_result = {
                    "rate_hz": PROFILE_RATE,
                    "requests": count,
                    "samples": total,
                    "cpu_ms_per_request": {
                        k: v * per_request for k, v in sorted(counts.items(), key=lambda kv: -kv[1])
                    },
                    "innermost_frames_ms_per_request": {k: v * per_request for k, v in leaves.items()},
                    "client_cprofile_ms_per_call": profile_client(
                        lambda: rest.predict(workload.name, {"images": images}, signature=signature), count
                    ),
                }
            rest.close()
            grpc.close()
            http.close()

    latency = {
        name: {"p50_ms": percentile(v, 50), "p99_ms": percentile(v, 99), "mean_ms": float(np.mean(v))}
        for name, v in samples.items()
    }
    result = {
        "requests": requests_count,
        "request_bytes": len(body),
        "latency": latency,
        "client": client,
        "server": server_side,
        "profile": profile_result,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(markdown(result))
    return result


def markdown(result: dict) -> str:
    base = result["latency"][FLOOR]["p50_ms"]
    lines = [
        f"EfficientNet-B0 `serving_default`, one {result['request_bytes'] / 1e3:.0f} KB REST body, "
        f"{result['requests']} interleaved rounds\n",
        f"| path | p50 ms | p99 ms | mean ms | p50 ÷ {FLOOR} |",
        "|---|---|---|---|---|",
    ]
    for name, v in result["latency"].items():
        lines.append(
            f"| {name} | {v['p50_ms']:.2f} | {v['p99_ms']:.2f} | {v['mean_ms']:.2f} | {v['p50_ms'] / base:.3f} |"
        )
    lines += ["", "| piece | ms |", "|---|---|"]
    lines += [f"| client: {k} | {v:.3f} |" for k, v in result["client"].items()]
    lines += [f"| server: {k} | {v:.2f} |" for k, v in result["server"].items()]
    if result["profile"]:
        p = result["profile"]
        lines += [
            "",
            f"Server time holding the GIL per request, by py-spy ({p['samples']} samples at {p['rate_hz']} Hz "
            f"over {p['requests']} requests):",
            "",
            "| where | ms / request |",
            "|---|---|",
        ]
        lines += [f"| {k} | {v:.2f} |" for k, v in p["cpu_ms_per_request"].items()]
        lines += ["", "| server: innermost frame | CPU ms / request |", "|---|---|"]
        lines += [f"| `{k}` | {v:.2f} |" for k, v in p["innermost_frames_ms_per_request"].items()]
        lines += ["", "| client (`RestClient.predict`, cProfile): function | own ms / call |", "|---|---|"]
        lines += [f"| `{k}` | {v:.3f} |" for k, v in p["client_cprofile_ms_per_call"].items()]
    return "\n".join(lines) + "\n"
