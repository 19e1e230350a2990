"""What the official server could be told to run, measured in-process on each model's tensor signature.

  bf16     grappler's `auto_mixed_precision_onednn_bfloat16` rewrite, switched on the way
           `tensorflow_model_server --mixed_precision=bfloat16` does it: the session's
           `RewriterConfig.auto_mixed_precision_onednn_bfloat16 = ON`
           (tensorflow_serving/servables/tensorflow/saved_model_bundle_factory.cc). In TF2 the eager
           context's rewriter options play the session config's part: `apply_bfloat16_rewrite()`.
  xla      the signature called inside `tf.function(jit_compile=True)` (what an export with
           `jit_compile` plus `--xla_cpu_compilation_enabled` would run); compile time reported apart
  threads  TensorFlow's intra-op / inter-op pools (`--tensorflow_intra_op_parallelism`,
           `--tensorflow_inter_op_parallelism`)

Each variant runs in a fresh process (thread pools can only be set before TensorFlow starts, and a
rewrite must not leak into the fp32 baseline). Each reports batch-1 latency, the throughput of one
batched call, the throughput of 4 concurrent batch-1 callers, and its outputs, which the parent
compares with fp32's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from benchmarks.workloads import REPO_ROOT, WORKLOADS, Workload

VARIANTS = {
    "fp32": {},
    "bf16": {"bf16": True},
    "xla": {"xla": True},
    "intra1_inter1": {"intra": 1, "inter": 1},
    "intra2_inter1": {"intra": 2, "inter": 1},
    "intra1_inter2": {"intra": 1, "inter": 2},
}
INFORMATIVE_WEIGHTS = "b0_informative.weights.h5"
# (batch-1 calls, batched-call size, batched calls, concurrent requests) per model, full and quick
PLAN = {
    "efficientnet": ((20, 8, 3, 40), (3, 2, 1, 4)),
    "detr": ((3, 2, 1, 4), (1, 1, 1, 2)),
    "stylegan": ((3, 2, 1, 4), (1, 1, 1, 2)),
}


def apply_bfloat16_rewrite() -> None:
    """Turns on the oneDNN bf16 auto-mixed-precision grappler pass for every function run from now on."""
    import tensorflow as tf

    tf.config.optimizer.set_experimental_options({"auto_mixed_precision_onednn_bfloat16": True})


def _timed(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def worker(model: str, variant: str, models_dir: Path, quick: bool, out: Path) -> None:
    """Measures one (model, variant) in this process and writes JSON + the batch-1 outputs (.npz)."""
    settings = VARIANTS[variant]
    import tensorflow as tf

    if "intra" in settings:
        tf.config.threading.set_intra_op_parallelism_threads(settings["intra"])
        tf.config.threading.set_inter_op_parallelism_threads(settings["inter"])
    if settings.get("bf16"):
        apply_bfloat16_rewrite()
    from benchmarks.harness import Cell, run_cell
    from benchmarks.paths import inprocess

    workload = WORKLOADS[model]
    loaded = tf.saved_model.load(str(workload.version_dir(models_dir)))
    signature = loaded.signatures[workload.tensor_signature]
    function = signature
    if settings.get("xla"):
        function = tf.function(lambda **kw: signature(**kw), jit_compile=True)
        if model == "efficientnet":
            function = _efficientnet_keras_xla(models_dir)
    inputs = comparison_inputs(workload, models_dir)
    singles, batch, batched_calls, concurrent = PLAN[model][1 if quick else 0]

    def call(arrays):
        return {k: v.numpy() for k, v in function(**{n: tf.constant(a) for n, a in arrays.items()}).items()}

    one = {k: (v[:1] if np.ndim(v) else v) for k, v in inputs.items()}
    start = time.perf_counter()
    outputs = call(one)
    first = time.perf_counter() - start
    latencies = _timed(lambda: call(one), singles)
    batched = {k: (np.repeat(v[:1], batch, axis=0) if np.ndim(v) else v) for k, v in inputs.items()}
    call(batched)
    batch_seconds = _timed(lambda: call(batched), batched_calls)
    cell = run_cell(Cell(model, variant, 4, None), inprocess(function, one), concurrent, 600.0)
    comparison = call(inputs)
    np.savez(out.with_suffix(".npz"), **{k: v for k, v in comparison.items() if v.dtype.kind in "fiub"})
    out.write_text(
        json.dumps(
            {
                "model": model,
                "variant": variant,
                "settings": settings,
                "first_call_s": first,
                "p50_ms": float(np.median(latencies)) * 1e3,
                "calls": len(latencies),
                "batch": batch,
                "batch_images_per_s": batch / float(np.median(batch_seconds)),
                "concurrent4_images_per_s": cell.throughput,
                "concurrent4_errors": cell.errors,
                "load_average": os.getloadavg()[0],
                "output_shapes": {k: list(v.shape) for k, v in outputs.items()},
            }
        )
    )


def _efficientnet_keras_xla(models_dir: Path):
    """B0's signatures end in a string lookup (class names) that XLA cannot compile, so its XLA variant
    compiles the Keras model itself (same weights; the export checks it against the SavedModel)."""
    import tensorflow as tf

    from export.efficientnet.models.efficientnet import build_efficientnet
    from export.efficientnet.weights.presets import variant_scaling

    model = build_efficientnet(variant_scaling("b0"))
    model.load_weights(str(models_dir / INFORMATIVE_WEIGHTS))
    return tf.function(lambda pixels: {"probabilities": model(pixels, training=False)}, jit_compile=True)


def comparison_inputs(workload: Workload, models_dir: Path) -> dict:
    """Inputs whose outputs are compared across variants: the photo, plus flipped and shifted copies for B0."""
    inputs = workload.tensor_inputs(models_dir)
    if workload.name != "efficientnet":
        return inputs
    pixels = inputs["pixels"][0]
    views = [
        pixels,
        pixels[:, ::-1],
        pixels[::-1],
        np.roll(pixels, 40, axis=1),
        np.roll(pixels, 40, axis=0),
        pixels[:, ::-1][::-1],
        np.clip(pixels * 1.2, 0, 255),
        pixels * 0.8,
    ]
    return {"pixels": np.stack(views).astype(np.float32)}


def output_change(reference: dict, other: dict) -> dict:
    """How a variant's outputs differ from fp32's: per output max |diff| (and relative), top-1 for B0."""
    change = {}
    for name, ref in reference.items():
        if name not in other or ref.dtype.kind not in "fiu":
            continue
        a, b = ref.astype(np.float64), other[name].astype(np.float64)
        diff = np.abs(a - b)
        entry = {
            "max_abs_diff": float(diff.max()),
            "mean_abs_diff": float(diff.mean()),
            "max_abs_reference": float(np.abs(a).max()),
        }
        if ref.dtype == np.uint8:
            mse = float(np.mean((a - b) ** 2))
            entry["psnr_db"] = float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))
        change[name] = entry
    if "probabilities" in reference and "probabilities" in other:
        top1 = np.argmax(reference["probabilities"], -1) == np.argmax(other["probabilities"], -1)
        change["top1_agreement"] = float(np.mean(top1))
    return change


def ensure_informative_efficientnet(models_dir: Path) -> None:
    """Random B0 weights answer 1/1000 for every class, which hides any output change: export the
    tests' informative B0 (batch-norm statistics from a batch, a stronger head) for this comparison."""
    weights = models_dir / INFORMATIVE_WEIGHTS
    if weights.exists() and (models_dir / "efficientnet" / "1").exists():
        return
    from export.efficientnet.exporter import EfficientNetExport
    from export.pipeline import run
    from export.testing import informative_b0

    models_dir.mkdir(parents=True, exist_ok=True)
    partial = weights.with_name("partial." + weights.name)
    informative_b0().save_weights(str(partial))
    run(EfficientNetExport(variant="b0", weights=str(partial)), models_dir=models_dir, version=1, force=True)
    partial.rename(weights)


def run_graph_options(models: Sequence[str], models_dir: Path, quick: bool, out: Path) -> dict:
    started = time.time()
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="bench-graph-options-") as work:
        for model in models:
            if model == "efficientnet":
                # its own repository, so the served benchmark keeps the random-weight export
                ensure_informative_efficientnet(models_dir / "informative")
                model_dir = models_dir / "informative"
            else:
                WORKLOADS[model].ensure_export(models_dir)
                model_dir = models_dir
            results[model] = {}
            reference = None
            for variant in VARIANTS:
                target = Path(work) / f"{model}-{variant}.json"
                command = [
                    sys.executable,
                    "-m",
                    "benchmarks.graph_options",
                    "--worker",
                    model,
                    variant,
                    str(model_dir),
                    str(target),
                ] + (["--quick"] if quick else [])
                done = subprocess.run(
                    command,
                    cwd=REPO_ROOT,
                    capture_output=True,
                    text=True,
                    timeout=1800,
                    env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO_ROOT)},
                )
                if done.returncode != 0:
                    results[model][variant] = {
                        "error": done.stderr.strip().splitlines()[-1][:400]
                        if done.stderr.strip()
                        else f"exit {done.returncode}"
                    }
                    print(f"  {model:12s} {variant:14s} failed: {results[model][variant]['error']}", flush=True)
                    continue
                entry = json.loads(target.read_text())
                outputs = dict(np.load(target.with_suffix(".npz")))
                if variant == "fp32":
                    reference = outputs
                elif reference is not None:
                    entry["output_change"] = output_change(reference, outputs)
                results[model][variant] = entry
                print(
                    f"  {model:12s} {variant:14s} p50 {entry['p50_ms']:8.1f} ms  batch {entry['batch']}: "
                    f"{entry['batch_images_per_s']:6.2f} img/s  "
                    f"4 callers: {entry['concurrent4_images_per_s']:6.2f} img/s"
                    f"  first call {entry['first_call_s']:.1f} s",
                    flush=True,
                )
            base = results[model].get("fp32")
            for variant, entry in results[model].items():
                if base and "p50_ms" in entry and variant != "fp32":
                    entry["speedup_batch1"] = base["p50_ms"] / entry["p50_ms"]
                    entry["speedup_batched"] = entry["batch_images_per_s"] / base["batch_images_per_s"]
                    entry["speedup_concurrent4"] = entry["concurrent4_images_per_s"] / base["concurrent4_images_per_s"]
    from benchmarks.roofline import cpu_facts

    result = {
        "mode": "quick" if quick else "full",
        "seconds": round(time.time() - started, 1),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "cpu": cpu_facts(),
        "results": results,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=str) + "\n")
    print(markdown(result))
    return result


def markdown(result: dict) -> str:
    cpu = result["cpu"]
    lines = [
        f"CPU: {cpu['model_name']}, avx512_bf16 {cpu['avx512_bf16']}, amx_bf16 {cpu['amx_bf16']}\n",
        "| model | variant | p50 ms (batch 1) | × fp32 | batched img/s | × fp32 | 4 callers img/s | × fp32 | "
        "first call s | output change vs fp32 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for model, variants in result["results"].items():
        for variant, e in variants.items():
            if "error" in e:
                lines.append(f"| {model} | {variant} | failed: {e['error'][:120]} | | | | | | | |")
                continue
            change = e.get("output_change")
            text = (
                "–"
                if change is None
                else "; ".join(
                    (
                        f"top-1 agree {v:.0%}"
                        if k == "top1_agreement"
                        else f"{k}: max {v['max_abs_diff']:.3g} of {v['max_abs_reference']:.3g}"
                        + (f", PSNR {v['psnr_db']:.1f} dB" if "psnr_db" in v else "")
                    )
                    for k, v in change.items()
                )
            )
            lines.append(
                f"| {model} | {variant} | {e['p50_ms']:.1f} | {e.get('speedup_batch1', 1):.2f} | "
                f"{e['batch_images_per_s']:.2f} (b={e['batch']}) | {e.get('speedup_batched', 1):.2f} | "
                f"{e['concurrent4_images_per_s']:.2f} | {e.get('speedup_concurrent4', 1):.2f} | "
                f"{e['first_call_s']:.1f} | {text} |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="one graph-options measurement (used by run_graph_options)")
    parser.add_argument("--worker", nargs=4, metavar=("MODEL", "VARIANT", "MODELS_DIR", "OUT"), required=True)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    model, variant, directory, target = args.worker
    worker(model, variant, Path(directory), args.quick, Path(target))
