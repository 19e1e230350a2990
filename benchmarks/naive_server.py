"""The baseline: a model server written the way tutorials write one.

Flask's built-in threaded server, the Keras model in the process, JSON float lists in, `model.predict`,
`.tolist()` out — the usual "deploy your Keras model with Flask" recipe, done properly (the model is
built once at start-up, and one warm-up `predict` runs before the port opens), not a strawman. The
model is the project's own Keras model with random weights; a tutorial would `load_weights` first,
which changes no timing.

    python -m benchmarks.naive_server --model efficientnet --models-dir DIR --port 5000

The port is bound to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def build_model(name: str, info: dict) -> tuple[object, Callable[[object], dict]]:
    """(Keras model, what the tutorial returns from its prediction) for an export's `export_info.json`."""
    if name == "efficientnet":
        from export.efficientnet.networks.efficientnet import build_efficientnet
        from export.efficientnet.weights.presets import variant_scaling

        return build_efficientnet(variant_scaling(info["variant"])), lambda out: {"probabilities": out}
    if name == "detr":
        from export.detr.networks.detr import build_detr

        return build_detr(), lambda out: {k: out[k] for k in ("pred_logits", "pred_boxes")}
    if name == "stylegan":
        from export.stylegan.networks.config import StyleGANConfig
        from export.stylegan.networks.generator import Generator

        config = StyleGANConfig(
            resolution=info["resolution"],
            fmap_base=info["fmap_base"],
            fmap_max=info["fmap_max"],
            latent_size=info["latent_size"],
            dlatent_size=info["dlatent_size"],
        )
        generator = Generator(config, truncation_psi=info["default_truncation_psi"])
        # Tutorials turn a GAN's [-1, 1] output into 0-255 pixels before returning it.
        return generator, lambda out: {"images": np.clip((out + 1.0) * 127.5, 0, 255).astype(np.uint8)}
    raise ValueError(f"no tutorial model for {name!r}")


def create_app(model, postprocess: Callable[[object], dict]):
    from flask import Flask, jsonify, request

    app = Flask(__name__)

    @app.route("/predict", methods=["POST"])
    def predict():
        data = request.get_json()
        x = np.array(data["instances"])
        predictions = postprocess(model.predict(x, verbose=0))
        return jsonify({"predictions": {k: v.tolist() for k, v in predictions.items()}})

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--models-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument(
        "--warmup-shape", default=None, help="comma-separated shape of one warm-up input, e.g. 1,224,224,3"
    )
    args = parser.parse_args()
    base = args.models_dir / args.model
    version = max((p for p in base.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    info = json.loads((version / "assets.extra" / "export_info.json").read_text())
    model, postprocess = build_model(args.model, info)
    if args.warmup_shape:
        model.predict(np.zeros([int(d) for d in args.warmup_shape.split(",")], np.float32), verbose=0)
    create_app(model, postprocess).run(host="127.0.0.1", port=args.port, threaded=True)


if __name__ == "__main__":
    main()
