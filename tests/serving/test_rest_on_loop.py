"""Quick REST predicts run on the event loop; a signature that ran slowly leaves it, so it never holds others.

A predict that is the only request in flight, whose signature's runs have been quick, runs on the event
loop itself (no hand-off to a worker thread). Its answers are the same, and once a run of that signature
was slow (an input that costs seconds), its later runs go to worker threads for a while, so a request to
another model sent meanwhile is answered first. Orders are asserted, not durations.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from serving.testing.models import build_half_plus_two, build_slow
from serving.testing.server_process import ServerProcess, model_config_text


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("on_loop")
    config = root / "models.config"
    config.write_text(
        model_config_text(
            [
                {"name": "slow", "base_path": build_slow(root / "slow")},
                {"name": "half_plus_two", "base_path": build_half_plus_two(root / "half_plus_two")},
            ]
        )
    )
    with ServerProcess(
        model_config_file=config, args=["--file_system_poll_wait_seconds=0", "--enable_model_warmup=false"]
    ) as process:
        yield process


def _slow(server, seconds: float) -> requests.Response:
    return requests.post(f"{server.rest_url}/v1/models/slow:predict", json={"instances": [seconds]}, timeout=120)


def test_quick_runs_answer_the_same_on_the_loop(server):
    for _ in range(5):  # the first run goes to a worker; the next ones are quick and run on the loop
        reply = requests.post(
            f"{server.rest_url}/v1/models/half_plus_two:predict", json={"instances": [1.0, 2.0]}, timeout=60
        )
        assert reply.json() == {"predictions": [2.5, 3.0]}
    bad = requests.post(f"{server.rest_url}/v1/models/half_plus_two:predict", json={"instances": ["x"]}, timeout=60)
    assert bad.status_code == 400 and "error" in bad.json()


def test_after_a_slow_run_the_signature_runs_on_workers_and_holds_nobody(server):
    for _ in range(3):
        assert _slow(server, 0.0).status_code == 200  # quick: a candidate for the loop
    assert _slow(server, 1.0).status_code == 200  # one slow run (it may hold the loop: the bounded cost)
    assert _slow(server, 0.0).status_code == 200  # quick again, but the slow run is recent
    with ThreadPoolExecutor(2) as pool:
        slow = pool.submit(_slow, server, 4.0)
        time.sleep(0.5)
        reply = requests.post(
            f"{server.rest_url}/v1/models/half_plus_two:predict", json={"instances": [1.0]}, timeout=60
        )
        answered_first = not slow.done()
        assert reply.json() == {"predictions": [2.5]}
        assert slow.result().status_code == 200
    assert answered_first
