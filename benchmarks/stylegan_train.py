"""Longer StyleGAN training run on the lfw_subset faces; writes the figures docs/stylegan.md shows.

    python benchmarks/stylegan_train.py --minutes 12

Trains with export.stylegan.training (official loss, R1, style mixing, w̄ tracking, Gs) until the step
budget or the time budget runs out, then writes
  docs/images/stylegan_samples.png          Gs samples (ψ = 1 and ψ = 0.7) above held-out real faces
  docs/images/stylegan_kernel_distance.png  kernel distance to held-out faces against training step
  docs/images/stylegan_train.json           the measured curve and settings
and optionally the Gs weights (--out) for `python -m export stylegan --weights`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np

from export.stylegan.training.dataset import load_faces
from export.stylegan.training.metrics import image_features, kernel_distance
from export.stylegan.training.training_loop import TrainConfig, train

IMAGES = Path(__file__).resolve().parents[1] / "docs" / "images"


def grid(rows: list[np.ndarray]) -> np.ndarray:
    """Rows of [N, H, W, 3] images in [−1, 1] → one uint8 mosaic with 1-pixel gaps."""
    n, h, w, _ = rows[0].shape
    out = np.full((len(rows) * (h + 1) + 1, n * (w + 1) + 1, 3), 255, np.uint8)
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            pixels = np.clip(np.rint(image * 127.5 + 127.5), 0, 255).astype(np.uint8)
            out[1 + r * (h + 1) : 1 + r * (h + 1) + h, 1 + c * (w + 1) : 1 + c * (w + 1) + w] = pixels
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=12.0, help="wall-clock training budget")
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--fmap-max", type=int, default=64)
    parser.add_argument("--latent-size", type=int, default=128)
    parser.add_argument("--eval-every", type=int, default=250)
    parser.add_argument("--out", type=Path, default=None, help="save Gs weights (.weights.h5)")
    parser.add_argument("--images-dir", type=Path, default=IMAGES, help=f"where the figures go (default {IMAGES})")
    args = parser.parse_args()

    config = TrainConfig(
        resolution=args.resolution,
        fmap_base=1024,
        fmap_max=args.fmap_max,
        latent_size=args.latent_size,
        mapping_fmaps=args.latent_size,
        batch_size=16,
        steps=args.steps,
        learning_rate=0.002,
        g_smoothing_kimg=2.0,
        eval_every=args.eval_every,
        eval_samples=200,
    )
    train_images, heldout = load_faces(config.resolution, config.heldout, config.seed)
    real_vs_real = kernel_distance(image_features(train_images[: config.heldout]), image_features(heldout))
    print(f"training faces vs held-out faces: {real_vs_real:.5f}")
    trainer, history = train(config, max_seconds=args.minutes * 60)
    step = history[-1][0]

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    images_dir = args.images_dir
    images_dir.mkdir(parents=True, exist_ok=True)
    z = np.random.default_rng(7).standard_normal((10, config.latent_size)).astype(np.float32)
    rows = [trainer.Gs(z, truncation_psi=1.0).numpy(), trainer.Gs(z, truncation_psi=0.7).numpy(), heldout[:10]]
    mosaic = grid(rows)
    Image.fromarray(mosaic).resize((mosaic.shape[1] * 3, mosaic.shape[0] * 3), Image.NEAREST).save(
        images_dir / "stylegan_samples.png"
    )

    steps, values, _ = zip(*history)
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.semilogy(steps, values, marker="o", label="Gs samples vs held-out faces")
    ax.axhline(max(real_vs_real, 1e-6), color="gray", linestyle="--", label="training faces vs held-out faces")
    ax.set_xlabel("training step (batch 16)")
    ax.set_ylabel("kernel distance (MMD², cubic kernel)")
    ax.set_title(f"StyleGAN on lfw_subset faces, {config.resolution}²")
    ax.legend()
    fig.tight_layout()
    fig.savefig(images_dir / "stylegan_kernel_distance.png")
    record = {
        "config": dataclasses.asdict(config),
        "steps_run": step,
        "real_vs_real": real_vs_real,
        "history": [{"step": s, "kernel_distance": v, "seconds": t} for s, v, t in history],
        "generator_trainable_parameters": trainer.Gs.trainable_parameter_counts(),
    }
    (images_dir / "stylegan_train.json").write_text(json.dumps(record, indent=2) + "\n")
    if args.out:
        trainer.Gs.fully_grown().save_weights(str(args.out))
    print(f"wrote {images_dir}/stylegan_samples.png, stylegan_kernel_distance.png, stylegan_train.json")


if __name__ == "__main__":
    main()
