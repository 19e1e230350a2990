"""Hungarian matching equals brute force over all assignments; the cost is the paper's."""

import itertools

import numpy as np
import pytest

from export.detr.training.matcher import HungarianMatcher, assign, assignment_table


def numpy_giou(pb, tb) -> float:
    """GIoU of two cxcywh boxes, from the definition."""
    p = np.array([pb[0] - pb[2] / 2, pb[1] - pb[3] / 2, pb[0] + pb[2] / 2, pb[1] + pb[3] / 2])
    g = np.array([tb[0] - tb[2] / 2, tb[1] - tb[3] / 2, tb[0] + tb[2] / 2, tb[1] + tb[3] / 2])
    iw = max(0.0, min(p[2], g[2]) - max(p[0], g[0]))
    ih = max(0.0, min(p[3], g[3]) - max(p[1], g[1]))
    union = pb[2] * pb[3] + tb[2] * tb[3] - iw * ih
    hull = (max(p[2], g[2]) - min(p[0], g[0])) * (max(p[3], g[3]) - min(p[1], g[1]))
    return iw * ih / union - (hull - union) / hull


def numpy_cost(logits, boxes, labels, targets):
    """Independent cost: -p(class) + 5 * L1 + 2 * -GIoU, loops, float64."""
    prob = np.exp(logits - logits.max(-1, keepdims=True))
    prob /= prob.sum(-1, keepdims=True)
    cost = np.zeros((len(boxes), len(targets)))
    for q, (pb, pl) in enumerate(zip(boxes, prob)):
        for t, (tb, tl) in enumerate(zip(targets, labels)):
            cost[q, t] = -pl[tl] + 5 * np.abs(pb - tb).sum() - 2 * numpy_giou(pb, tb)
    return cost


def random_case(rng, queries, targets, classes=5):
    logits = rng.normal(size=(queries, classes + 1)).astype(np.float32)
    boxes = np.concatenate([rng.uniform(0.2, 0.8, (queries, 2)), rng.uniform(0.05, 0.4, (queries, 2))], 1)
    tboxes = np.concatenate([rng.uniform(0.2, 0.8, (targets, 2)), rng.uniform(0.05, 0.4, (targets, 2))], 1)
    return logits, boxes.astype(np.float32), rng.integers(0, classes, targets), tboxes.astype(np.float32)


@pytest.mark.parametrize("seed", range(8))
def test_matching_is_the_brute_force_optimum(seed):
    rng = np.random.default_rng(seed)
    queries, targets = int(rng.integers(2, 6)), int(rng.integers(1, 4))
    targets = min(targets, queries)
    logits, boxes, labels, tboxes = random_case(rng, queries, targets)
    cost = np.asarray(HungarianMatcher().cost_matrix(logits[None], boxes[None], labels[None], tboxes[None]))[0]
    np.testing.assert_allclose(cost, numpy_cost(logits, boxes, labels, tboxes), atol=1e-4)
    ((rows, cols),) = assign(cost[None], np.array([targets]))
    best = min(sum(cost[q, t] for t, q in enumerate(perm)) for perm in itertools.permutations(range(queries), targets))
    assert len(rows) == targets and sorted(cols) == list(range(targets))
    assert cost[rows, cols].sum() == pytest.approx(best, abs=1e-6)


def test_padded_targets_are_ignored_and_unmatched_queries_are_minus_one():
    rng = np.random.default_rng(9)
    logits, boxes, labels, tboxes = random_case(rng, 4, 3)
    costs = np.asarray(
        HungarianMatcher().cost_matrix(
            logits[None].repeat(2, 0), boxes[None].repeat(2, 0), labels[None].repeat(2, 0), tboxes[None].repeat(2, 0)
        )
    )
    table = assignment_table(costs, np.array([3, 1]))
    assert sorted(table[0][table[0] >= 0]) == [0, 1, 2] and (table[0] == -1).sum() == 1
    assert table[1].tolist().count(0) == 1 and (table[1] == -1).sum() == 3
    assert table[1].argmax() == costs[1, :, 0].argmin()  # one target: the cheapest query wins
