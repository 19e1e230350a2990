"""`python -m export detr`: build DETR, load weights (official .pth or Keras), export a version."""
import argparse
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = ("DETR (ResNet-50/101 backbone, optional DC5). Weights: --checkpoint an official "
                          "facebookresearch/detr .pth (needs torch), --weights a Keras weights file, or "
                          "--weights none (random).")
    parser.add_argument("--checkpoint", default=None, help="official checkpoint, e.g. detr-r50-e632da11.pth")
    parser.add_argument("--backbone", default="resnet50", choices=["resnet50", "resnet101"])
    parser.add_argument("--dilation", action="store_true", help="DC5: dilate the last ResNet stage")
    parser.add_argument("--min-size", type=int, default=800, help="resize: shortest side (default 800)")
    parser.add_argument("--max-size", type=int, default=1333, help="resize: longest side cap (default 1333)")
    parser.add_argument("--score-threshold", type=float, default=0.7,
                        help="serving_default keeps detections scoring above this (default 0.7)")
    parser.add_argument("--max-detections", type=int, default=100,
                        help="detections returned per image, zero-padded (default 100)")


def run(args: argparse.Namespace) -> Path:
    from export.detr.detr import DETRConfig
    from export.detr.export import export_detr

    # export_detr checks the options and the checkpoint before building anything.
    return export_detr(config=DETRConfig.official(args.backbone, args.dilation), weights=args.weights,
                       checkpoint=args.checkpoint, min_size=args.min_size, max_size=args.max_size,
                       score_threshold=args.score_threshold, max_detections=args.max_detections,
                       models_dir=args.models_dir, name=args.name, version=args.version, force=args.force)
