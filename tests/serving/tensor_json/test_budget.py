"""serving.tensor_json.budget: the values of a body counted without parsing it, and the refusal of a body
holding more than --max_tensor_elements allows."""

from __future__ import annotations

import json
import random

import pytest

from serving.errors import ServingError
from serving.request_limits import RequestLimits
from serving.tensor_json import budget

TRICKY = ['a"b', "c\\", '\\"', "x,y:[{", "", "é€", "\\\\\\", '"', ":", "}]"]


def scalars(value) -> int:
    if isinstance(value, dict):
        return sum(scalars(v) for v in value.values())
    if isinstance(value, list):
        return sum(scalars(v) for v in value)
    return 1


def random_value(rng: random.Random, depth: int = 0):
    kind = rng.randrange(8 if depth < 4 else 4)
    if kind == 0:
        return rng.choice([0, -1, 1.5e-300, 123456789012, True, False, None])
    if kind == 1:
        return rng.random() * 10 ** rng.randrange(-5, 5)
    if kind in (2, 3):
        return rng.choice(TRICKY) + rng.choice(TRICKY)
    if kind in (4, 5):
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {rng.choice(TRICKY) + str(i): random_value(rng, depth + 1) for i in range(rng.randrange(4))}


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64, 1 << 20])
def test_the_count_is_exact_across_chunks(monkeypatch, chunk):
    monkeypatch.setattr(budget, "_CHUNK", chunk)
    rng = random.Random(chunk)
    for _ in range(60):
        doc = {"inputs": random_value(rng), "signature_name": rng.choice(TRICKY)}
        for text in (json.dumps(doc), json.dumps(doc, ensure_ascii=False, indent=2)):
            body = text.encode()
            assert budget.count_values(body) == scalars(doc) <= budget.upper_bound(body), text


def check(body: bytes, cap: int, inputs: int = 1) -> list[int]:
    asked = []

    def count_inputs() -> int:
        asked.append(inputs)
        return inputs

    budget.check_values(body, RequestLimits(max_tensor_elements=cap), count_inputs)
    return asked


def test_a_body_within_the_budget_is_let_through(monkeypatch):
    monkeypatch.setattr(budget, "SLACK", 10)
    assert check(b'{"inputs": [1, 2, 3]}', cap=0) == []  # no cap, no count
    assert check(b'{"inputs": [1, 2, 3]}', cap=5) == []  # the cheap bound says enough
    assert check(b'{"inputs": {"a": [1, 2, 3, 4, 5, 6], "b": [1, 2, 3, 4, 5, 6]}}', cap=5, inputs=2) == [2]
    # commas in strings raise the bound, not the count
    assert check(json.dumps({"inputs": ["," * 100, "[{" * 50]}).encode(), cap=5) == [1]


def test_a_body_over_the_budget_is_refused_before_it_is_parsed(monkeypatch):
    monkeypatch.setattr(budget, "SLACK", 10)
    body = b'{"inputs": [' + b"0," * 20 + b"0]}"  # 21 values: over 1 x 10 + 10, within 2 x 10 + 10
    with pytest.raises(ServingError) as info:
        check(body, cap=10)
    assert info.value.message == (
        "The request body holds 21 values, more than the server allows for 1 input tensor(s) "
        "(--max_tensor_elements=10 each, and 10 more)"
    )
    assert check(body, cap=10, inputs=2) == [2]
    with pytest.raises(ServingError):  # keys the API does not read count too
        check(b'{"inputs": [0], "pad": [' + b"0," * 20 + b"0]}", cap=10)
