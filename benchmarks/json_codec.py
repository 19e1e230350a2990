"""The REST JSON codec alone on EfficientNet-B0-sized tensors, optionally side by side with another revision's.

Bodies: one 224x224x3 float32 image in the row (`instances`) and columnar (`inputs`) formats, as a client's
`json.dumps(x.tolist())` writes them (3.1 MB, the typed path), and a batch of 8 (25 MB). Answers: B0's
1000 probabilities at batch 1 and 8, row and columnar. Each case runs interleaved with the baseline's
(`--baseline REF`: serving/tensor_json from that git revision, a file or the package), so load from other
processes hits both alike; medians in ms and the ratio new/baseline.

    python -m benchmarks.json_codec --baseline main
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from protocol.generated.tensorflow.core.framework import types_pb2

ROOT = Path(__file__).resolve().parents[1]


def load_baseline(ref: str, into: Path):
    """serving/tensor_json of a git revision as the importable package `baseline_tensor_json`."""
    files = subprocess.run(
        ["git", "ls-tree", "-r", "--name-only", ref, "serving/"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    package = into / "baseline_tensor_json"
    package.mkdir()
    sources = [f for f in files if f == "serving/tensor_json.py" or f.startswith("serving/tensor_json/")]
    for name in sources:
        text = subprocess.run(["git", "show", f"{ref}:{name}"], cwd=ROOT, capture_output=True, text=True, check=True)
        code = re.sub(r"\bserving\.tensor_json\b", "baseline_tensor_json", text.stdout)
        target = package / ("__init__.py" if name == "serving/tensor_json.py" else Path(name).name)
        target.write_text(code)
    sys.path.insert(0, str(into))
    return importlib.import_module("baseline_tensor_json")


def _parse(codec, body: bytes, dtypes: dict):
    typed = codec.TypedRequest.parse(body)
    converted = typed.arrays(dtypes) if typed else None
    if converted is None:
        converted = codec.predict_request_arrays(codec.parse_document(body), dtypes, b"true" not in body)
    return converted


def cases() -> dict[str, tuple]:
    rng = np.random.default_rng(0)
    dtypes = {"pixels": types_pb2.DT_FLOAT}
    found = {}
    for batch in (1, 8):
        image = rng.uniform(0, 255, (batch, 224, 224, 3)).astype(np.float32)
        for key in ("instances", "inputs"):
            body = json.dumps({key: image.tolist()}).encode()
            found[f"parse {key}, batch {batch} ({len(body) / 2**20:.1f} MiB)"] = ("parse", body, dtypes)
        probabilities = rng.dirichlet(np.ones(1000), batch).astype(np.float32)
        for fmt in ("row", "columnar"):
            found[f"write {fmt}, {batch}x1000 probabilities"] = ("write", {"probabilities": probabilities}, fmt)
    return found


def _run(codec, case: tuple) -> float:
    start = time.perf_counter()
    if case[0] == "parse":
        _parse(codec, case[1], case[2])
    else:
        codec.predict_response_json(case[1], case[2])
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", help="a git revision whose codec runs interleaved with this one")
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    from serving import tensor_json

    with tempfile.TemporaryDirectory() as scratch:
        codecs = {"this": tensor_json}
        if args.baseline:
            codecs["baseline"] = load_baseline(args.baseline, Path(scratch))
        rows = []
        for name, case in cases().items():
            times: dict[str, list[float]] = {label: [] for label in codecs}
            for _ in range(args.rounds):
                for label, codec in codecs.items():
                    times[label].append(_run(codec, case))
            medians = {label: 1e3 * float(np.median(values)) for label, values in times.items()}
            rows.append((name, medians))
    labels = list(codecs)
    header = " | ".join(f"{label} (ms)" for label in labels)
    print(f"| case | {header} |" + (" this / baseline |" if args.baseline else ""))
    print("|---" * (len(labels) + 1 + bool(args.baseline)) + "|")
    for name, medians in rows:
        cells = " | ".join(f"{medians[label]:.2f}" for label in labels)
        ratio = f" | {medians['this'] / medians['baseline']:.2f} |" if args.baseline else " |"
        print(f"| {name} | {cells}{ratio}")


if __name__ == "__main__":
    main()
