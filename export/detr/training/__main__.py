"""Train DETR on a COCO-format detection set with the Hungarian set loss.

    python -m export.detr.training --data DIR/images --annotations DIR/annotations.json --output w.weights.h5

Flags shrink the architecture for small experiments; the defaults are DETR-R50 (whose weights can
then be exported with `python -m export detr --weights`).
"""

import argparse

import keras

from export.detr.networks.detr import build_detr
from export.detr.training.arguments import add_architecture_arguments, add_schedule_arguments, architecture_config
from export.detr.training.datasets import load_coco
from export.detr.training.engine import train


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m export.detr.training", description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="folder holding the images named in the annotations")
    parser.add_argument("--annotations", required=True, help="COCO-format json (images, annotations, categories)")
    parser.add_argument("--output", default="detr.weights.h5", help="Keras weights file to write")
    add_schedule_arguments(parser)
    parser.add_argument("--lr-backbone", type=float, default=1e-5)
    parser.add_argument("--eos-coef", type=float, default=0.1)
    parser.add_argument(
        "--train-stem", action="store_true", help="also train the stem conv and layer1 (frozen in the official recipe)"
    )
    add_architecture_arguments(parser)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.seed is not None:
        keras.utils.set_random_seed(args.seed)
    samples, num_classes = load_coco(args.data, args.annotations, args.min_size, args.max_size)
    model = build_detr(architecture_config(args, num_classes))
    train(
        model,
        samples,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        lr_backbone=args.lr_backbone,
        weight_decay=args.weight_decay,
        clip_norm=args.clip_max_norm,
        eos_coef=args.eos_coef,
        train_stem=args.train_stem,
        seed=args.seed or 0,
    )
    model.save_weights(args.output)
    print(args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
