"""Time a default-size DETR-R50 export and one forward pass on an 800x1066 image; print a markdown table.

    python benchmarks/detr.py [--models-dir DIR] [--repeats 3]

Random weights (the cost does not depend on the values). The forward pass is timed three ways: the
in-process Keras model on normalised pixels, the exported `raw` signature on the same pixels, and the
exported `serving_default` on a JPEG whose resize gives 800x1066 (decode + resize + model + post-process).
"""

import argparse
import io
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _timed(fn, repeats: int) -> tuple[float, float]:
    """(first call, median of the following calls) in seconds."""
    start = time.perf_counter()
    fn()
    first = time.perf_counter() - start
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return first, statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=None)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import numpy as np
    import tensorflow as tf
    from PIL import Image

    from export.detr.exporter import DETRExport
    from export.pipeline import run

    models_dir = args.models_dir or Path(tempfile.mkdtemp(prefix="detr-bench-")) / "models"
    start = time.perf_counter()
    path = run(DETRExport(weights="none"), models_dir=models_dir)
    export_seconds = time.perf_counter() - start
    size_mb = sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6

    start = time.perf_counter()
    loaded = tf.saved_model.load(str(path))
    load_seconds = time.perf_counter() - start

    pixels = tf.constant(np.random.default_rng(0).normal(size=(1, 800, 1066, 3)).astype(np.float32))
    raw = loaded.signatures["raw"]
    raw_first, raw_median = _timed(lambda: raw(pixels=pixels), args.repeats)

    photo = np.random.default_rng(1).integers(0, 256, (600, 800, 3), dtype=np.uint8)  # resizes to 800x1066
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, format="JPEG")
    jpeg = tf.constant([buffer.getvalue()])
    default = loaded.signatures["serving_default"]
    default_first, default_median = _timed(lambda: default(images=jpeg), args.repeats)

    from export.detr.models.detr import build_detr

    model = build_detr()
    keras_first, keras_median = _timed(lambda: model(pixels, training=False), args.repeats)

    print(
        f"DETR-R50, random weights, TensorFlow {tf.__version__}, {os.cpu_count()} CPUs "
        f"(load average at the end: {os.getloadavg()[0]:.1f})\n"
    )
    print("| measurement | seconds |")
    print("|---|---|")
    print(
        f"| export (build, trace 3 signatures, write {size_mb:.0f} MB, reload, verify, warmup) | {export_seconds:.1f} |"
    )
    print(f"| load SavedModel | {load_seconds:.1f} |")
    print(f"| `raw` 1x800x1066 first call | {raw_first:.2f} |")
    print(f"| `raw` 1x800x1066 median of {args.repeats} | {raw_median:.2f} |")
    print(f"| `serving_default` 600x800 JPEG -> 800x1066 first call | {default_first:.2f} |")
    print(f"| `serving_default` 600x800 JPEG -> 800x1066 median of {args.repeats} | {default_median:.2f} |")
    print(f"| Keras eager forward 1x800x1066 first call | {keras_first:.2f} |")
    print(f"| Keras eager forward 1x800x1066 median of {args.repeats} | {keras_median:.2f} |")


if __name__ == "__main__":
    main()
