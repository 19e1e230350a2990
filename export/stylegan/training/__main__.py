"""Train StyleGAN on bundled faces.

`python -m export.stylegan.training --resolution 16 --steps 2000 --out g.weights.h5`.

The Gs weights it writes export with `python -m export stylegan --weights FILE` and the same shape flags.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from export.stylegan.training.training_loop import TrainConfig, train


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    defaults = TrainConfig()
    for field in dataclasses.fields(TrainConfig):
        default = getattr(defaults, field.name)
        parser.add_argument(
            "--" + field.name.replace("_", "-"), type=type(default), default=default, help=f"default {default}"
        )
    parser.add_argument("--out", type=Path, help="write Gs weights (fully grown structure) here (.weights.h5)")
    args = parser.parse_args(argv)
    config = TrainConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)})
    trainer, _ = train(config)
    if args.out:
        trainer.Gs.fully_grown().save_weights(str(args.out))
        print(f"saved {args.out}")


if __name__ == "__main__":
    main()
