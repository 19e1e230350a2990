"""`python -m benchmarks COMMAND`: the benchmark suite's commands.

    python -m benchmarks run [--quick] [--models efficientnet,detr,stylegan] [--out out/benchmarks/result.json]
    python -m benchmarks report out/benchmarks/result.json [--readme FILE] [--chart PNG] [--roofline PNG]
    python -m benchmarks graph-options [--quick] [--models ...] [--out FILE]      # bf16, XLA, thread pools
    python -m benchmarks rest-overhead [--requests 100] [--out FILE]              # where REST's ms go (B0)
    python -m benchmarks observability [--requests 200] [--rounds 5] [--out FILE]  # tracing, request/access logs
    python -m benchmarks protocols [--rounds 100] [--out FILE]                    # TF Serving's API vs v2 (B0)
    python -m benchmarks allocator [--rounds 100] [--out FILE]                    # glibc defaults vs served (B0)
    python -m benchmarks training [--model detr|detr-masks|stylegan|all] [--quick] [--out FILE]  # convergence

`run` exports the models it lacks into --models-dir (random weights, default sizes), measures every
path at 1, 8 and 32 concurrent clients (1 and 2 with --quick), writes the JSON result and prints the
markdown tables. Everything listens on 127.0.0.1 and every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DEFAULT_DIR = Path("out/benchmarks")


def _models(value: str) -> list[str]:
    from benchmarks.workloads import WORKLOADS

    names = [m.strip() for m in value.split(",") if m.strip()]
    unknown = [m for m in names if m not in WORKLOADS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"models are a comma-separated subset of {','.join(WORKLOADS)}")
    return names


def _concurrency(value: str) -> list[int]:
    try:
        levels = [int(c) for c in value.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError("concurrency is a comma-separated list of positive integers") from None
    if not levels or min(levels) < 1 or max(levels) > 64:
        raise argparse.ArgumentTypeError("concurrency levels are between 1 and 64")
    return levels


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    all_models = "efficientnet,detr,stylegan"

    run = commands.add_parser("run", help="the serving benchmark and the roofline")
    run.add_argument("--quick", action="store_true", help="smoke test: 1 and 2 clients, a few requests a cell")
    run.add_argument("--models", type=_models, default=_models(all_models))
    run.add_argument(
        "--models-dir",
        type=Path,
        default=DEFAULT_DIR / "models",
        help="model repository; models missing here are exported with random weights",
    )
    run.add_argument("--concurrency", type=_concurrency, default=None, help="default 1,8,32 (quick: 1,2)")
    run.add_argument("--no-naive", action="store_true", help="skip the naive tutorial server")
    run.add_argument("--out", type=Path, default=DEFAULT_DIR / "result.json")

    report = commands.add_parser("report", help="README table and PNG charts from a result file")
    report.add_argument("result", type=Path)
    report.add_argument("--readme", type=Path, default=None, help="write the README table (markdown) here")
    report.add_argument("--chart", type=Path, default=None, help="throughput chart PNG")
    report.add_argument("--roofline", type=Path, default=None, help="roofline chart PNG")

    options = commands.add_parser("graph-options", help="in-process: bf16 rewrite, XLA JIT, thread pools")
    options.add_argument("--quick", action="store_true")
    options.add_argument("--models", type=_models, default=_models(all_models))
    options.add_argument("--models-dir", type=Path, default=DEFAULT_DIR / "models")
    options.add_argument("--out", type=Path, default=DEFAULT_DIR / "graph_options.json")

    overhead = commands.add_parser("rest-overhead", help="where REST b64's milliseconds go (EfficientNet-B0)")
    overhead.add_argument("--requests", type=int, default=100)
    overhead.add_argument("--models-dir", type=Path, default=DEFAULT_DIR / "models")
    overhead.add_argument("--no-profile", action="store_true", help="skip the py-spy profile of the server")
    overhead.add_argument("--out", type=Path, default=DEFAULT_DIR / "rest_overhead.json")

    observability = commands.add_parser("observability", help="what tracing and request/access logs cost")
    observability.add_argument("--requests", type=int, default=200, help="requests per configuration, API and round")
    observability.add_argument("--rounds", type=int, default=5)
    observability.add_argument("--out", type=Path, default=DEFAULT_DIR / "observability.json")
    protocols = commands.add_parser("protocols", help="both protocols side by side at batch 1 (EfficientNet-B0)")
    protocols.add_argument("--rounds", type=int, default=100)
    protocols.add_argument("--models-dir", type=Path, default=DEFAULT_DIR / "models")
    protocols.add_argument("--out", type=Path, default=DEFAULT_DIR / "protocols.json")

    allocator = commands.add_parser("allocator", help="glibc's defaults against the server's allocator (B0, gRPC)")
    allocator.add_argument("--rounds", type=int, default=100)
    allocator.add_argument("--models-dir", type=Path, default=DEFAULT_DIR / "models")
    allocator.add_argument("--out", type=Path, default=DEFAULT_DIR / "allocator.json")

    training = commands.add_parser("training", help="the full-length training runs: time and quality reached")
    training.add_argument("--model", choices=["all", "detr", "detr-masks", "stylegan"], default="all")
    training.add_argument("--quick", action="store_true", help="a step or two of each: figures, not convergence")
    training.add_argument("--out", type=Path, default=DEFAULT_DIR / "training.json")

    args = parser.parse_args(argv)
    if args.command == "run":
        from benchmarks.report import markdown
        from benchmarks.suite import run_suite, write

        result = run_suite(
            args.models, args.models_dir.resolve(), args.quick, args.concurrency, naive=not args.no_naive
        )
        write(result, args.out)
        print(markdown(result))
        print(f"result: {args.out}")
    elif args.command == "report":
        from benchmarks.report import markdown, readme_table, roofline_chart, throughput_chart

        result = json.loads(args.result.read_text())
        table = readme_table(result)
        if args.readme:
            args.readme.write_text(table)
        print(markdown(result))
        print("## README table\n\n" + table)
        if args.chart:
            throughput_chart(result, args.chart)
        if args.roofline:
            roofline_chart(result, args.roofline)
    elif args.command == "graph-options":
        from benchmarks.graph_options import run_graph_options

        run_graph_options(args.models, args.models_dir.resolve(), args.quick, args.out)
    elif args.command == "observability":
        from benchmarks.observability import run_observability

        run_observability(max(args.requests, 1), max(args.rounds, 1), args.out)
    elif args.command == "protocols":
        from benchmarks.protocols import run_protocols

        run_protocols(args.models_dir.resolve(), args.rounds, args.out)
    elif args.command == "allocator":
        from benchmarks.allocator import run_allocator

        run_allocator(args.models_dir.resolve(), max(args.rounds, 1), args.out)
    elif args.command == "training":
        from benchmarks.training import MODELS, criteria_met, run_training

        result = run_training(list(MODELS) if args.model == "all" else [args.model], args.quick, args.out)
        return 0 if args.quick or criteria_met(result) else 1
    else:
        from benchmarks.rest_overhead import run_rest_overhead

        run_rest_overhead(args.models_dir.resolve(), args.requests, not args.no_profile, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
