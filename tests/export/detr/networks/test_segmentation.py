"""DETRsegm (the panoptic model) computes what the official PyTorch DETRsegm computes, weight for weight."""

from dataclasses import replace

import numpy as np
import torch

from export.detr.networks.backbone import ResNetBody
from export.detr.networks.detr import build_detr
from export.detr.networks.segmentation import DETRsegm, build_detr_segm, panoptic_config
from export.detr.weights.convert import official_shapes
from export.pipeline.tolerance import assert_same_computation
from tests.export.detr.conftest import padded_batch, reference_and_keras
from tests.export.detr.torch_reference import ReferenceDETRsegm
from tests.fixtures.detr import TINY_MASKS, tiny_detr_config

TINY = tiny_detr_config(**TINY_MASKS, blocks=(1, 1, 2, 2), num_queries=6, num_classes=20)


def _compare(reference, model, sizes, seed=0):
    images, mask = padded_batch(np.random.default_rng(seed), sizes)
    with torch.no_grad():
        expected = {k: v.numpy() for k, v in reference(torch.from_numpy(images), torch.from_numpy(mask)).items()}
    got = model(np.transpose(images, (0, 2, 3, 1)), mask)
    # Masks: within 1e-4 of their scale; logits and boxes as the detector's tests (1e-4).
    scale = max(1.0, float(np.abs(expected["pred_masks"]).max()))
    np.testing.assert_allclose(got["pred_masks"], expected["pred_masks"], atol=1e-4 * scale, rtol=0)
    np.testing.assert_allclose(got["pred_logits"], expected["pred_logits"], atol=1e-4, rtol=0)
    np.testing.assert_allclose(got["pred_boxes"], expected["pred_boxes"], atol=1e-4, rtol=0)
    return got


def test_r50_panoptic_matches_reference_on_a_padded_batch(r50_panoptic_pair):
    reference, model = r50_panoptic_pair
    got = _compare(reference, model, [(100, 130), (70, 90)])
    # [N, Q, H/4, W/4] mask logits, 250 classes + no-object
    assert got["pred_masks"].shape == (2, 100, 25, 33) and got["pred_logits"].shape == (2, 100, 251)


def test_dc5_panoptic_matches_reference():
    reference, model = reference_and_keras(replace(TINY, dilation=True), seed=2, panoptic=True)
    _compare(reference, model, [(75, 61), (64, 96)], seed=2)


def test_r50_panoptic_parameter_count_equals_the_official_state_dict(r50_panoptic_pair):
    """43,005,528 numbers in 490 tensors: the detector with 250 classes plus the head's 32 tensors."""
    reference, model = r50_panoptic_pair
    state = reference.state_dict()
    assert model.count_params() == sum(v.numel() for v in state.values()) == 43_005_528
    assert sum(p.numel() for p in reference.parameters()) == 42_899_288
    assert official_shapes(model) == {k: tuple(v.shape) for k, v in state.items()}
    assert len(state) == 490


def test_r101_panoptic_has_the_official_keys_and_shapes():
    model = build_detr_segm(panoptic_config("resnet101"))
    reference = ReferenceDETRsegm(blocks=(3, 4, 23, 3))
    assert official_shapes(model) == {k: tuple(v.shape) for k, v in reference.state_dict().items()}


def test_the_backbone_is_not_duplicated_and_the_detector_is_unchanged():
    """One ResNet whose intermediate stages feed the head; the `detr` sub-model is exactly a DETR."""
    model = build_detr_segm(TINY)
    bodies = [layer for layer in model._flatten_layers() if isinstance(layer, ResNetBody)]
    assert bodies == [model.detr.backbone]
    detector = build_detr(TINY)
    detector.set_weights(model.detr.get_weights())
    images, mask = padded_batch(np.random.default_rng(3), [(64, 80), (48, 64)], channels_last=True)
    alone, inside = detector(images, mask), model(images, mask)
    for key in ("pred_logits", "pred_boxes", "aux_logits", "aux_boxes"):
        assert_same_computation(inside[key], alone[key], err_msg=key)
    head_params = sum(int(np.prod(w.shape)) for layer in (model.bbox_attention, model.mask_head) for w in layer.weights)
    assert model.count_params() == detector.count_params() + head_params


def test_config_round_trip_and_keras_weights_file(tmp_path):
    model = build_detr_segm(TINY)
    clone = DETRsegm.from_config(model.get_config()).build_for()
    assert clone.get_config() == model.get_config() and clone.detr_config == TINY
    model.save_weights(tmp_path / "segm.weights.h5")
    clone.load_weights(tmp_path / "segm.weights.h5")
    pixels = np.random.default_rng(4).normal(size=(1, 64, 64, 3)).astype(np.float32)
    np.testing.assert_array_equal(clone(pixels)["pred_masks"], model(pixels)["pred_masks"])


def test_masks_of_some_queries_equal_those_rows_of_every_querys_masks():
    """What lets serving run the mask head on the kept queries only: a query's mask depends on that query."""
    model = build_detr_segm(TINY)
    images, mask = padded_batch(np.random.default_rng(4), [(80, 100), (64, 72)], channels_last=True)
    full = model(images, mask)["pred_masks"].numpy()
    _, context = model.detect_with_context(images, mask)
    for image, kept in ((0, [1, 4]), (1, [5]), (0, list(range(TINY.num_queries))), (1, [])):
        one = context.image(image)
        masks = model.predict_masks(one, one.queries.numpy()[:, kept]).numpy()
        assert masks.shape == (1, len(kept), *full.shape[2:])
        assert_same_computation(masks[0], full[image, kept])
