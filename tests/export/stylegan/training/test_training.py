"""Training learns: on lfw_subset faces the kernel distance to held-out faces falls within 50 iterations, w̄ is
tracked and Gs averages G. (How far a longer run gets: `python -m benchmarks training --model stylegan`.)"""

import numpy as np
import pytest

from export.stylegan.training.dataset import load_faces
from export.stylegan.training.training_loop import small_faces_config, train

STEPS = 50


def test_faces_are_split_and_scaled():
    train_images, heldout = load_faces(16, heldout=20)
    assert train_images.shape == (80, 16, 16, 3) and heldout.shape == (20, 16, 16, 3)
    assert train_images.min() >= -1.0 and train_images.max() <= 1.0
    assert not np.any([np.array_equal(h, t) for h in heldout for t in train_images])


@pytest.mark.slow
def test_training_moves_samples_toward_held_out_faces():
    config = small_faces_config(STEPS, eval_every=STEPS)
    trainer, history = train(config, log=lambda line: None)
    start, end = history[0][1], history[-1][1]
    assert history[-1][0] == STEPS
    # Measured after 50 iterations: 0.10, 0.16 and 0.30 of the untrained distance (seeds 0, 1, 2).
    assert end < 0.5 * start, history
    # w̄ was tracked (it starts at zero) and copied into Gs, whose weights are an average, not a copy of G.
    assert np.abs(trainer.G.dlatent_avg.numpy()).max() > 0
    assert np.abs(trainer.Gs.dlatent_avg.numpy()).max() > 0
    g, gs = trainer.G.mapping.dense_layers[0].weight.numpy(), trainer.Gs.mapping.dense_layers[0].weight.numpy()
    assert not np.array_equal(g, gs)
