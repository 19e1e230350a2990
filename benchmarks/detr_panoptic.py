"""Time the DETR-R50 panoptic export at the default size, its signatures in-process and over REST and gRPC
through `python -m serving`, and the server's peak memory; print markdown tables.

    python benchmarks/detr_panoptic.py [--models-dir DIR] [--repeats 3]

Random weights (the cost does not depend on the values, except through how many queries pass the
score threshold). Two versions are exported: version 1 with the official threshold 0.85, where random
weights keep no query (the cost of the detector and an empty post-processing), and version 2 with
threshold 0, where every query is kept and the mask head runs on all 100 (the worst case a request can
cost). The image is a 600x800 JPEG, resized to 800x1066 by the graph.
"""

import argparse
import io
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
from benchmarks.detr import _timed

MODEL = "detr-panoptic"
THRESHOLDS = {1: 0.85, 2: 0.0}


def _jpeg() -> bytes:
    import numpy as np
    from PIL import Image

    photo = np.random.default_rng(1).integers(0, 256, (600, 800, 3), dtype=np.uint8)  # resizes to 800x1066
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, format="JPEG")
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=None)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import numpy as np
    import tensorflow as tf

    from clients import GrpcClient, RestClient, segment
    from export.detr.exporter import DETRExport
    from export.detr.panoptic_postprocess import kept_queries
    from export.pipeline import run
    from serving.testing.server_process import ServerProcess, model_config_text

    models_dir = args.models_dir or Path(tempfile.mkdtemp(prefix="detr-panoptic-bench-")) / "models"
    rows: list[tuple[str, str]] = []
    exports = {}
    for version, threshold in THRESHOLDS.items():
        start = time.perf_counter()
        exports[version] = run(
            DETRExport(panoptic=True, score_threshold=threshold), models_dir=models_dir, version=version, force=True
        )
        seconds = time.perf_counter() - start
        size_mb = sum(f.stat().st_size for f in exports[version].rglob("*") if f.is_file()) / 1e6
        rows.append(
            (
                f"export, threshold {threshold} (build, trace 2 signatures, write {size_mb:.0f} MB, reload, "
                "verify, warmup)",
                f"{seconds:.1f}",
            )
        )

    jpeg = _jpeg()
    loaded = tf.saved_model.load(str(exports[1]))
    pixels = tf.constant(np.random.default_rng(0).normal(size=(1, 800, 1066, 3)).astype(np.float32))
    raw = loaded.signatures["raw"]
    first, median = _timed(lambda: raw(pixels=pixels), args.repeats)
    rows.append(("in-process `raw`, 1x800x1066 (100 masks), first call", f"{first:.2f}"))
    rows.append((f"in-process `raw`, 1x800x1066 (100 masks), median of {args.repeats}", f"{median:.2f}"))
    kept = {}
    for version in THRESHOLDS:
        signature = tf.saved_model.load(str(exports[version])).signatures["serving_default"]
        first, median = _timed(lambda signature=signature: signature(images=tf.constant([jpeg])), args.repeats)
        logits = raw(pixels=pixels)["pred_logits"][0]
        kept[version] = int(tf.size(kept_queries(logits, THRESHOLDS[version])[0]))
        rows.append(
            (
                f"in-process `serving_default`, JPEG -> 800x1066, threshold {THRESHOLDS[version]} "
                f"(~{kept[version]} masks), median of {args.repeats} (first {first:.2f})",
                f"{median:.2f}",
            )
        )
    del loaded

    work = models_dir.parent
    config = work / "panoptic.config"
    config.write_text(model_config_text([{"name": MODEL, "base_path": str(models_dir / MODEL), "policy": "all {}"}]))
    served: list[tuple[str, str, str, str]] = []
    with ServerProcess(model_config_file=config, startup_timeout=900) as server:
        loaded_mib = server.rss_bytes() / 2**20
        for version in THRESHOLDS:
            for name, client in (
                ("REST", RestClient(server.rest_url, timeout=600)),
                ("gRPC", GrpcClient(server.grpc_address, timeout=600)),
            ):
                with client:
                    result = {}
                    first, median = _timed(
                        lambda client=client, version=version, result=result: result.update(
                            r=segment(client, jpeg, MODEL, version=version)
                        ),
                        args.repeats,
                    )
                served.append(
                    (
                        f"`serving_default` over {name}, threshold {THRESHOLDS[version]} "
                        f"(~{kept[version]} masks, {len(result['r'].segments)} segments)",
                        f"{first:.2f}",
                        f"{median:.2f}",
                        f"{server.peak_rss_bytes() / 2**20:,.0f}",
                    )
                )
        with GrpcClient(server.grpc_address, timeout=600) as client:
            first, median = _timed(
                lambda: client.predict(MODEL, {"pixels": pixels.numpy()}, signature="raw", version=1), args.repeats
            )
            served.append(
                (
                    "`raw` over gRPC, 1x800x1066 (100 masks, 21 MB of pred_masks)",
                    f"{first:.2f}",
                    f"{median:.2f}",
                    f"{server.peak_rss_bytes() / 2**20:,.0f}",
                )
            )

    print(
        f"DETR-R50 panoptic, random weights, TensorFlow {tf.__version__}, {os.cpu_count()} CPUs "
        f"(load average at the end: {os.getloadavg()[0]:.1f})\n"
    )
    print("| measurement | seconds |")
    print("|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    print(f"\n`python -m serving`, both versions loaded: {loaded_mib:,.0f} MiB resident before the first request.\n")
    print(
        f"| call (client helper `segment`, one image) | first s | median of {args.repeats} s | server peak MiB so far |"
    )
    print("|---|---|---|---|")
    for row in served:
        print("| " + " | ".join(row) + " |")
    print("\n" + json.dumps({"kept_queries": kept}))


if __name__ == "__main__":
    main()
