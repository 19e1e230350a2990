"""serving.tensor_json.outline: a body's brackets and commas show its tensors regular, or the caller walks them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from serving.tensor_json.outline import outline, outlined


def test_the_outline_of_a_shape_is_its_brackets_and_commas():
    assert outline((2, 3)) == json.dumps(np.zeros((2, 3)).tolist()).replace("0.0", "").replace(" ", "").encode()
    assert outline((3, 1)) == b"[[],[],[]]"
    assert outline((4,)) == b"[,,,]"


@pytest.mark.parametrize(
    "body, shapes",
    [
        ('{"inputs": [[1, 2.5], [3, -4e-3]]}', [(2, 2)]),
        ('{"signature_name": "a,b", "inputs": [[1, 2], [3, 4]], "x": "[,]"}', [(2, 2)]),  # strings do not count
        ('{"inputs": {"b": [[1], [2]], "a": [1, 2, 3]}}', [(2, 1), (3,)]),  # body order
        ('{"instances": [[[1,2,3]],\n [[4,5,6]]]}', [(2, 1, 3)]),
    ],
)
def test_regular_tensors_are_outlined(body, shapes):
    assert outlined(body.encode(), shapes)


@pytest.mark.parametrize(
    "body, shapes",
    [
        ('{"inputs": [[1, 2], [3, 4, 5], [6]]}', [(3, 2)]),  # ragged, with as many numbers and lists as (3, 2)
        ('{"inputs": [[1, 2], 3, [4, 5]]}', [(3, 2)]),
        ('{"inputs": [[1], [2, 3], [4]]}', [(3, 1)]),
        ('{"inputs": {"a": [1, 2, 3], "b": [[1], [2]]}}', [(2, 1), (3,)]),  # another order
        ('{"inputs": {"a": [1], "n": 5, "b": [2]}}', [(1,), (1,)]),  # a value between the tensors
        ('{"x": [1], "inputs": [1, 2]}', [(2,)]),  # another array in the body
        ('{"signature_name": "\\"[", "inputs": [1, 2]}', [(2,)]),  # an escape: left to the walk
        ('{"inputs": [1, 2]}', []),
    ],
)
def test_anything_else_is_not(body, shapes):
    assert not outlined(body.encode(), shapes)


def test_a_body_longer_than_one_scan_chunk():
    values = np.arange(600_000, dtype=np.float32).reshape(200_000, 3)
    body = json.dumps({"signature_name": "s", "inputs": values.tolist()}).encode()
    assert len(body) > 2 << 20 and outlined(body, [(200_000, 3)])
    ragged = body.replace(b"[3.0, 4.0, 5.0], [6.0,", b"[3.0, 4.0, 5.0, 6.0], [", 1)
    assert ragged != body and not outlined(ragged, [(200_000, 3)])
