"""The server-wide expansion pool on its own: bounded, first come first served, left when a deadline passes."""

from __future__ import annotations

import threading
import time

import pytest

from serving.deadlines import Deadline
from serving.errors import ServingError
from serving.request_limits import ExpansionPool, RequestLimits


def test_requests_beyond_the_pool_wait_their_turn_in_arrival_order():
    pool = ExpansionPool(100)
    order: list[str] = []
    release = threading.Event()

    def hold(name: str, size: int) -> None:
        with pool.hold(size):
            order.append(name)
            release.wait(5)

    first = threading.Thread(target=hold, args=("first", 80))
    first.start()
    time.sleep(0.05)
    waiting = [threading.Thread(target=hold, args=(name, size)) for name, size in (("big", 60), ("small", 10))]
    for thread in waiting:
        thread.start()
        time.sleep(0.05)
    assert order == ["first"] and pool.held == 80  # "small" would fit, but never overtakes "big"
    release.set()
    for thread in [first, *waiting]:
        thread.join(5)
    assert order == ["first", "big", "small"] and pool.held == 0


def test_a_request_whose_deadline_passes_leaves_the_queue_and_lets_others_in():
    pool = ExpansionPool(100)
    with pool.hold(90):
        with pytest.raises(ServingError) as info, pool.hold(50, Deadline(0.2)):
            pass
        assert info.value.code_name == "DEADLINE_EXCEEDED"
        with pool.hold(10, Deadline(0.2)):
            assert pool.held == 100
    assert pool.held == 0


def test_the_request_budget_is_invalid_argument():
    limits = RequestLimits(max_expansion_bytes=1000)
    limits.check_expansion("Filling x", 1000)
    with pytest.raises(ServingError) as info:
        limits.check_expansion("Filling x", 1001)
    assert info.value.code_name == "INVALID_ARGUMENT"
    assert info.value.message == (
        "Filling x would take 1001 bytes, more than the server builds for one request "
        "(--max_request_expansion_bytes=1000)"
    )
