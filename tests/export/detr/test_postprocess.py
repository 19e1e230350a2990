"""Post-processing on a case small enough to compute by hand."""

import numpy as np

from export.detr.postprocess import postprocess


def test_hand_computed_detections():
    # query 0: exp(logits) = [1, 3, 1, 4] / 9 -> drop no-object -> score 3/9, label 1
    # query 1: exp(logits) = [6, 1, 1, 1] / 9 -> score 6/9, label 0
    logits = np.log(np.float32([[[1, 3, 1, 4], [6, 1, 1, 1]]]))
    boxes = np.float32([[[0.5, 0.5, 0.2, 0.4], [0.25, 0.25, 0.5, 0.5]]])
    sizes = np.int32([[100, 200]])  # height 100, width 200
    names = np.array(["zero", "one", "two"])
    out = postprocess(logits, boxes, sizes, 0.5, 2, names)
    np.testing.assert_allclose(out["scores"], [[2 / 3, 0.0]], atol=1e-6)
    np.testing.assert_allclose(out["boxes"], [[[0, 0, 100, 50], [0, 0, 0, 0]]], atol=1e-4)
    assert out["labels"].numpy().tolist() == [[0, -1]]
    assert out["label_names"].numpy().tolist() == [[b"zero", b""]]
    assert out["num_detections"].numpy().tolist() == [1]

    every = postprocess(logits, boxes, sizes, 0.0, 2, names)
    np.testing.assert_allclose(every["scores"], [[2 / 3, 1 / 3]], atol=1e-6)
    np.testing.assert_allclose(every["boxes"], [[[0, 0, 100, 50], [80, 30, 120, 70]]], atol=1e-4)
    assert every["labels"].numpy().tolist() == [[0, 1]]
    assert every["num_detections"].numpy().tolist() == [2]

    top1 = postprocess(logits, boxes, sizes, 0.0, 1, names)
    assert top1["labels"].numpy().tolist() == [[0]] and top1["boxes"].shape == (1, 1, 4)
