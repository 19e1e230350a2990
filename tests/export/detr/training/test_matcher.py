"""Hungarian matching equals brute force over all assignments; the cost is the paper's."""

import itertools

import numpy as np
import pytest

from export.detr.training.matcher import HungarianMatcher, assign, assignment_table
from tests.export.detr.training.numpy_reference import numpy_cost, random_case


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
