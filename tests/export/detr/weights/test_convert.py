"""The converter is strict: a missing, unexpected or mis-shaped key is named in the error; detector and
panoptic checkpoints both convert weight for weight."""

import numpy as np
import pytest
import torch

from export.detr.weights.convert import export_state_dict, load_state_dict, read_checkpoint, weight_map
from export.errors import ExportError
from tests.export.cli_output import messages
from tests.export.detr.conftest import state_dict_of


@pytest.fixture(scope="module")
def official(r50_pair):
    return r50_pair[1], state_dict_of(r50_pair[0])


def test_state_dict_round_trips_through_the_keras_model(official):
    model, state = official
    exported = export_state_dict(model)
    assert exported.keys() == state.keys()
    for key in state:
        np.testing.assert_array_equal(exported[key], state[key], err_msg=key)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda s: s.pop("transformer.decoder.norm.weight"), "missing key 'transformer.decoder.norm.weight'"),
        (lambda s: s.update({"class_embed.extra": np.zeros(1)}), "unexpected key 'class_embed.extra'"),
        (
            lambda s: s.update({"class_embed.weight": np.zeros((81, 256))}),
            "'class_embed.weight' has shape (81, 256), expected (92, 256)",
        ),
        (
            lambda s: s.update({"backbone.0.body.layer1.0.conv2.weight": np.zeros((64, 64, 1, 3))}),
            "'backbone.0.body.layer1.0.conv2.weight' has shape (64, 64, 1, 3), expected (64, 64, 3, 3)",
        ),
    ],
)
def test_wrong_checkpoint_is_named_and_leaves_weights_untouched(official, mutate, message):
    model, state = official
    before = model.class_embed.kernel.numpy().copy()
    broken = dict(state)
    broken["class_embed.bias"] = state["class_embed.bias"] + 1.0  # would change if anything were assigned
    mutate(broken)
    with pytest.raises(ExportError, match=None) as error:
        load_state_dict(model, broken)
    assert message in str(error.value)
    np.testing.assert_array_equal(model.class_embed.kernel.numpy(), before)
    np.testing.assert_array_equal(model.class_embed.bias.numpy(), state["class_embed.bias"])


def test_num_batches_tracked_buffers_are_ignored(official):
    """Checkpoints saved from a model in training mode carry BatchNorm's step counters: they are not weights,
    so the load goes on and sets every weight as without them."""
    model, state = official
    changed = {**state, "class_embed.bias": state["class_embed.bias"] + 1.0}
    load_state_dict(model, {**changed, "backbone.0.body.bn1.num_batches_tracked": np.array(0)})
    try:
        exported = export_state_dict(model)
        assert exported.keys() == state.keys()  # the counter is not taken for a weight
        for key in state:
            np.testing.assert_array_equal(exported[key], changed[key], err_msg=key)
    finally:
        load_state_dict(model, state)  # the module's model goes back to the official weights


def test_read_checkpoint_needs_a_model_entry(tmp_path):
    path = tmp_path / "plain.pth"
    torch.save({"state_dict": {"a": torch.zeros(1)}}, path)
    with pytest.raises(ExportError, match="no 'model' entry"):
        read_checkpoint(path)
    torch.save({"model": {"a": torch.ones(2)}}, path)
    assert read_checkpoint(path)["a"].tolist() == [1.0, 1.0]


@pytest.fixture(scope="module")
def panoptic(r50_panoptic_pair):
    return r50_panoptic_pair[1], state_dict_of(r50_panoptic_pair[0])


def test_panoptic_state_dict_round_trips_and_uses_every_key_once(panoptic):
    model, state = panoptic
    keys = [key for key, _, _ in weight_map(model)]
    assert len(keys) == len(set(keys)) == len(state)  # every official key once, nothing left over
    variables = [id(variable) for _, variable, _ in weight_map(model)]
    assert len(set(variables)) == len(variables) == len(model.weights)  # every Keras weight once
    exported = export_state_dict(model)
    assert exported.keys() == state.keys()
    for key in state:
        np.testing.assert_array_equal(exported[key], state[key], err_msg=key)
    assert {k.split(".")[0] for k in state} == {"detr", "bbox_attention", "mask_head"}


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda s: s.pop("mask_head.gn5.bias"), "missing key 'mask_head.gn5.bias'"),
        (lambda s: s.update({"mask_head.lay6.weight": np.zeros(1)}), "unexpected key 'mask_head.lay6.weight'"),
        (
            lambda s: s.update({"mask_head.adapter1.weight": np.zeros((128, 2048, 1, 1))}),
            "'mask_head.adapter1.weight' has shape (128, 2048, 1, 1), expected (128, 1024, 1, 1)",
        ),
        (
            lambda s: s.update({"detr.class_embed.weight": np.zeros((92, 256))}),
            "'detr.class_embed.weight' has shape (92, 256), expected (251, 256)",
        ),
    ],
)
def test_wrong_panoptic_checkpoint_is_named_and_leaves_weights_untouched(panoptic, mutate, message):
    model, state = panoptic
    before = model.mask_head.out_lay.kernel.numpy().copy()
    broken = {**state, "mask_head.out_lay.bias": state["mask_head.out_lay.bias"] + 1.0}
    mutate(broken)
    with pytest.raises(ExportError) as error:
        load_state_dict(model, broken)
    assert message in str(error.value)
    np.testing.assert_array_equal(model.mask_head.out_lay.kernel.numpy(), before)
    np.testing.assert_array_equal(model.mask_head.out_lay.bias.numpy(), state["mask_head.out_lay.bias"])


def test_detector_and_panoptic_checkpoints_are_not_confused(official, panoptic):
    detector, detector_state = official
    segm, segm_state = panoptic
    with pytest.raises(ExportError, match="is a DETR panoptic checkpoint"):
        load_state_dict(detector, segm_state)
    with pytest.raises(ExportError, match="is a DETR detector checkpoint"):
        load_state_dict(segm, detector_state)


def test_panoptic_checkpoint_file_reads_with_the_detector_reader(detr_panoptic_checkpoint, panoptic):
    _, state = panoptic
    read = read_checkpoint(detr_panoptic_checkpoint)
    assert read.keys() == state.keys()
    np.testing.assert_array_equal(read["mask_head.lay1.weight"], state["mask_head.lay1.weight"])


@pytest.mark.parametrize(
    "model_entry, message",
    [
        ([1, 2, 3], "entry 'model' is a list, expected a state dict"),
        ("weights", "entry 'model' is a str, expected a state dict"),
        ({"a": [1.0, 2.0]}, "checkpoint key 'a' is not a name with a tensor"),
        ({7: torch.zeros(1)}, "checkpoint key 7 is not a name with a tensor"),
    ],
)
def test_checkpoints_of_the_wrong_shape_are_one_line_errors(tmp_path, capsys, model_entry, message):
    from export.cli import main

    path = tmp_path / "odd.pth"
    torch.save({"model": model_entry}, path)
    with pytest.raises(ExportError, match=message):
        read_checkpoint(path)
    assert main(["detr", "--checkpoint", str(path), "--models-dir", str(tmp_path / "models")]) == 2
    err = capsys.readouterr().err
    assert message in err and len(messages(err)) == 1
    assert not (tmp_path / "models").exists()
