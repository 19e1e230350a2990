"""Flags the DETR training commands share: the schedule and the architecture (defaults: DETR-R50)."""

import argparse

from export.detr.networks.detr import DETRConfig


def add_schedule_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags every DETR training command shares: epochs, batch, AdamW, clipping, resize, seed."""
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--clip-max-norm", type=float, default=0.1)
    parser.add_argument("--min-size", type=int, default=800)
    parser.add_argument("--max-size", type=int, default=1333)
    parser.add_argument("--seed", type=int, default=None, help="seed Python, NumPy and TensorFlow")


def add_architecture_arguments(parser: argparse.ArgumentParser) -> None:
    """DETR's architecture flags (defaults: DETR-R50); they shrink the model for small experiments."""
    parser.add_argument("--backbone", default="resnet50", choices=["resnet50", "resnet101"])
    parser.add_argument("--dilation", action="store_true")
    parser.add_argument("--backbone-blocks", type=int, nargs=4, default=None, help="override, e.g. 1 1 1 1")
    parser.add_argument("--backbone-width", type=int, default=64)
    parser.add_argument("--hidden-dim", type=int, default=256)
    parser.add_argument("--nheads", type=int, default=8)
    parser.add_argument("--enc-layers", type=int, default=6)
    parser.add_argument("--dec-layers", type=int, default=6)
    parser.add_argument("--dim-feedforward", type=int, default=2048)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--num-queries", type=int, default=100)
    parser.add_argument(
        "--num-classes", type=int, default=None, help="max category id + 1 (default: from the annotations; COCO 91)"
    )


def architecture_config(args: argparse.Namespace, num_classes: int) -> DETRConfig:
    """The DETRConfig the architecture flags describe (`--num-classes`, else the dataset's count)."""
    official = DETRConfig.official(args.backbone, args.dilation)
    return DETRConfig(
        backbone=args.backbone,
        dilation=args.dilation,
        blocks=tuple(args.backbone_blocks) if args.backbone_blocks else official.blocks,
        backbone_width=args.backbone_width,
        hidden_dim=args.hidden_dim,
        num_heads=args.nheads,
        num_encoder_layers=args.enc_layers,
        num_decoder_layers=args.dec_layers,
        dim_feedforward=args.dim_feedforward,
        dropout=args.dropout,
        num_queries=args.num_queries,
        num_classes=args.num_classes or num_classes,
    )


def architecture_flags(config: DETRConfig) -> list[str]:
    """The architecture flags that build `config` again (its classes: `--num-classes`)."""
    flags = [
        "--backbone",
        config.backbone,
        "--backbone-blocks",
        *(str(b) for b in config.blocks),
        "--backbone-width",
        str(config.backbone_width),
        "--hidden-dim",
        str(config.hidden_dim),
        "--nheads",
        str(config.num_heads),
        "--enc-layers",
        str(config.num_encoder_layers),
        "--dec-layers",
        str(config.num_decoder_layers),
        "--dim-feedforward",
        str(config.dim_feedforward),
        "--dropout",
        str(config.dropout),
        "--num-queries",
        str(config.num_queries),
        "--num-classes",
        str(config.num_classes),
    ]
    return flags + (["--dilation"] if config.dilation else [])
