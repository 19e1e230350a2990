"""DETR learns: `python -m export.detr.training` lowers the set loss, trains every weight the official recipe
trains and freezes the rest, and writes weights the exporter reads. (How far a longer run gets:
`python -m benchmarks training --model detr`.)"""

import keras
import numpy as np

from export.detr.exporter import load_weights
from export.detr.networks.detr import build_detr
from export.detr.networks.frozen_batch_norm import FrozenBatchNorm
from export.detr.training.__main__ import main
from export.detr.training.criterion import SetCriterion
from export.detr.training.engine import Trainer
from export.detr.training.synthetic import synthetic_detr_config, write_dataset

TINY_FLAGS = [
    "--backbone-blocks",
    "1",
    "1",
    "1",
    "1",
    "--backbone-width",
    "16",
    "--hidden-dim",
    "64",
    "--nheads",
    "4",
    "--enc-layers",
    "1",
    "--dec-layers",
    "2",
    "--dim-feedforward",
    "128",
    "--num-queries",
    "8",
    "--dropout",
    "0",
]
TINY = synthetic_detr_config(hidden_dim=64, num_heads=4)
EPOCHS = 12


def test_cli_lowers_the_loss_trains_every_unfrozen_weight_and_writes_what_the_exporter_reads(tmp_path, capsys):
    """A few steps on one batch of four scenes, through `python -m export.detr.training`: the loss falls, the
    stem and layer1 stay as initialised (the official recipe), every other weight learns, and the weights
    file loads as `python -m export detr --weights` loads it. Convergence on a real set (30 epochs, matched
    box IoU far above chance) is `python -m benchmarks training --model detr`."""
    annotations = write_dataset(tmp_path, 4, 64, 64, seed=0, max_objects=2)
    output = tmp_path / "tiny.weights.h5"
    argv = [
        "--data",
        str(tmp_path / "images"),
        "--annotations",
        str(annotations),
        "--output",
        str(output),
        "--epochs",
        str(EPOCHS),
        "--batch-size",
        "4",
        "--lr",
        "2e-3",
        "--lr-backbone",
        "2e-3",
        "--clip-max-norm",
        "1.0",
        "--min-size",
        "64",
        "--max-size",
        "64",
        "--seed",
        "0",
        *TINY_FLAGS,
    ]
    assert main(argv) == 0
    history = [float(line.split()[-1]) for line in capsys.readouterr().out.splitlines() if line.startswith("epoch")]
    assert len(history) == EPOCHS
    # One batch, so each epoch is one step on the same scenes: measured 0.67-0.71 of the first loss after
    # 12 steps (two seeds); the bound leaves room for the thread-order noise of CPU kernels.
    assert np.mean(history[-3:]) < 0.85 * history[0], history

    keras.utils.set_random_seed(0)  # what the command did before building its model
    initial = build_detr(TINY)
    trained = build_detr(TINY)
    assert load_weights(trained, str(output), None, None) == "keras weights tiny.weights.h5"
    frozen = {id(v) for v in initial.backbone.conv1.trainable_variables}
    frozen |= {id(v) for block in initial.backbone.stages[0] for v in block.trainable_variables}
    # The first decoder layer attends over the zero target (as in the official model): all its values are
    # equal, so its self-attention's query/key/value projection gets no gradient and only weight decay moves it.
    no_gradient = id(initial.transformer.decoder_layers[0].self_attn.in_proj_kernel)
    moved = {}
    for before, after in zip(initial.trainable_variables, trained.trainable_variables):
        change = float(np.abs(after.numpy() - before.numpy()).max())
        if id(before) in frozen:
            assert change == 0.0, before.path
        elif id(before) != no_gradient:
            moved[before.path] = change
    # AdamW moves a weight with any gradient by about lr (2e-3) a step; weight decay alone by 2e-7 of it.
    slowest = min(moved, key=moved.get)
    assert moved[slowest] > 1e-4, (slowest, moved[slowest])


def test_official_recipe_freezes_the_stem_and_layer1():
    model = build_detr(TINY)
    trainer = Trainer(model, SetCriterion(TINY.num_classes))
    trained = {id(v) for v in trainer.backbone_vars + trainer.other_vars}
    stem = model.backbone.conv1.kernel
    layer1 = model.backbone.stages[0][0].conv1.kernel
    layer2 = model.backbone.stages[1][0].conv1.kernel
    assert id(stem) not in trained and id(layer1) not in trained and id(layer2) in trained
    frozen_bn = [layer for layer in model.backbone._flatten_layers() if isinstance(layer, FrozenBatchNorm)]
    assert len(frozen_bn) == 1 + 3 * 4 + 4  # stem, 3 per bottleneck (1-1-1-1), 1 per downsample
    assert all(len(layer.weights) == 4 and not any(v.trainable for v in layer.weights) for layer in frozen_bn)
    everything = Trainer(model, SetCriterion(TINY.num_classes), train_stem=True)
    assert id(stem) in {id(v) for v in everything.backbone_vars}
    assert len(everything.backbone_vars) + len(everything.other_vars) == len(model.trainable_variables)
