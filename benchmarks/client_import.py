"""How long a fresh process takes to `import clients` and make its first call, and what it loads.

    python benchmarks/client_import.py --rest http://127.0.0.1:8501 --grpc 127.0.0.1:8500 --model hpt
    PYTHON=/path/to/client-venv/bin/python python benchmarks/client_import.py ...   # another interpreter

Each run is a new interpreter (outside the repository, so the installed package is used): the time of
`import clients` with both client classes, then of the first `status` call on each transport (which
imports the transport, opens the connection and waits for the answer). Medians over --runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

PROBE = r"""
import sys, time, json
start = time.perf_counter()
import clients
from clients import GrpcClient, RestClient
imported = time.perf_counter()
target, transport, model = sys.argv[1], sys.argv[2], sys.argv[3]
client = RestClient(target) if transport == "rest" else GrpcClient(target)
client.status(model)
called = time.perf_counter()
print(json.dumps({"import": imported - start, "first_call": called - imported, "total": called - start,
                  "modules": len(sys.modules),
                  "tensorflow_modules": sum(m.split(".")[0] in ("tensorflow", "tensorflow_serving")
                                            for m in sys.modules)}))
"""


def measure(python: str, target: str, transport: str, model: str, runs: int) -> dict[str, float]:
    samples = []
    with tempfile.TemporaryDirectory(prefix="client-import-") as cwd:
        for _ in range(runs):
            run = subprocess.run(
                [python, "-c", PROBE, target, transport, model],
                capture_output=True,
                text=True,
                cwd=cwd,
                env={**os.environ, "PYTHONPATH": ""},
                check=True,
            )
            samples.append(json.loads(run.stdout))
    return {key: statistics.median(s[key] for s in samples) for key in samples[0]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rest", required=True)
    parser.add_argument("--grpc", required=True)
    parser.add_argument("--model", default="hpt")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    python = os.environ.get("PYTHON", sys.executable)
    print(f"interpreter {python}, median of {args.runs} fresh processes")
    print("| transport | import clients (s) | first status call (s) | total (s) | modules | tensorflow modules |")
    print("|---|---|---|---|---|---|")
    for transport, target in (("rest", args.rest), ("grpc", args.grpc)):
        m = measure(python, target, transport, args.model, args.runs)
        print(
            f"| {transport} | {m['import']:.3f} | {m['first_call']:.3f} | {m['total']:.3f} | {m['modules']:.0f} "
            f"| {m['tensorflow_modules']:.0f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
