"""The lifecycle on its own, with loaders the tests control (no TensorFlow, no server process).

Loads that block on an event stand for slow loads; loads that raise stand for broken versions.
Waits are bounded by `until` (tests/serving/core/fakes.py) and assert states, never durations.
"""

from __future__ import annotations

import threading
import time

import pytest

from serving.core.lifecycle import Lifecycle
from serving.errors import Code
from serving.options import ServerOptions
from tests.serving.core.fakes import Loads, states, until


@pytest.fixture
def loads():
    return Loads()


@pytest.fixture
def make(loads):
    made = []

    def build(**options):
        lifecycle = Lifecycle(loads.load, loads.unload, ServerOptions(**options))
        made.append(lifecycle)
        return lifecycle

    yield build
    for event in loads.block.values():
        event.set()
    for lifecycle in made:
        lifecycle.stop()


def test_a_version_loads_and_serves(make):
    lifecycle = make()
    lifecycle.set_aspired_versions("m", {1: "/m/1"})
    until(lambda: states(lifecycle, "m") == {1: "AVAILABLE"}, "version 1")
    servable = lifecycle.acquire("m", None)
    assert (servable.name, servable.version) == ("m", 1)
    servable.release()
    assert lifecycle.acquire("m", 2) is None and lifecycle.acquire("other", None) is None


def test_swap_keeps_the_old_version_until_the_new_one_serves(make, loads):
    lifecycle = make()
    lifecycle.set_aspired_versions("m", {1: "/m/1"})
    until(lambda: states(lifecycle, "m") == {1: "AVAILABLE"}, "version 1")
    loads.block[("m", 2)] = threading.Event()
    lifecycle.set_aspired_versions("m", {2: "/m/2"})
    until(lambda: loads.calls[("m", 2)] == 1, "version 2 to start loading")
    assert states(lifecycle, "m") == {2: "LOADING", 1: "AVAILABLE"}
    held = lifecycle.acquire("m", None)
    assert held.version == 1
    loads.block[("m", 2)].set()
    until(lambda: states(lifecycle, "m")[2] == "AVAILABLE", "version 2")
    # version 1 stops taking requests at once, and unloads when the request holding it is done
    until(lambda: states(lifecycle, "m")[1] == "UNLOADING", "version 1 unloading")
    assert lifecycle.acquire("m", 1) is None and lifecycle.acquire("m", None).version == 2
    assert loads.unloaded == []
    held.release()
    until(lambda: states(lifecycle, "m")[1] == "END", "version 1 unloaded")
    assert loads.unloaded == [("m", 1)]


def test_failing_version_waits_for_its_retry_without_holding_a_worker(make, loads):
    """One load thread, a retry interval of ten minutes: other models and a newer version still load."""
    lifecycle = make(num_load_threads=1, max_num_load_retries=5, load_retry_interval_s=600)
    loads.fail[("m", 2)] = 1000
    lifecycle.set_aspired_versions("m", {2: "/m/2"})
    until(lambda: loads.calls[("m", 2)] == 1, "the first attempt")
    lifecycle.set_aspired_versions("other", {1: "/other/1"})
    until(lambda: states(lifecycle, "other") == {1: "AVAILABLE"}, "the other model")
    assert states(lifecycle, "m") == {2: "LOADING"}  # waiting to retry, reported as LOADING like officially
    lifecycle.set_aspired_versions("m", {3: "/m/3"})
    until(lambda: states(lifecycle, "m").get(3) == "AVAILABLE", "the newer good version")
    (status,) = [s for s in lifecycle.statuses("m") if s.version == 2]
    assert status.state == "END" and status.error.code == Code.NOT_FOUND  # the retry was cancelled
    assert loads.calls[("m", 2)] == 1


def test_a_slow_load_holds_nobody_else(make, loads):
    lifecycle = make(num_load_threads=2)
    loads.block[("slow", 1)] = threading.Event()
    lifecycle.set_aspired_versions("slow", {1: "/slow/1"})
    until(lambda: loads.calls[("slow", 1)] == 1, "the slow load to start")
    lifecycle.set_aspired_versions("fast", {1: "/fast/1"})
    until(lambda: states(lifecycle, "fast") == {1: "AVAILABLE"}, "the fast model")
    assert states(lifecycle, "slow") == {1: "LOADING"}
    loads.block[("slow", 1)].set()
    until(lambda: states(lifecycle, "slow") == {1: "AVAILABLE"}, "the slow model")


def test_retries_then_success(make, loads):
    lifecycle = make(max_num_load_retries=3, load_retry_interval_s=0.01)
    loads.fail[("m", 1)] = 2
    lifecycle.set_aspired_versions("m", {1: "/m/1"})
    until(lambda: states(lifecycle, "m") == {1: "AVAILABLE"}, "version 1")
    assert loads.calls[("m", 1)] == 3
    assert lifecycle.statuses("m")[0].error is None


def test_retries_exhausted_end_with_the_last_error_and_the_model_keeps_serving(make, loads):
    lifecycle = make(max_num_load_retries=2, load_retry_interval_s=0.01)
    lifecycle.set_aspired_versions("m", {1: "/m/1"})
    until(lambda: states(lifecycle, "m") == {1: "AVAILABLE"}, "version 1")
    loads.fail[("m", 2)] = 1000
    lifecycle.set_aspired_versions("m", {2: "/m/2"})
    until(lambda: states(lifecycle, "m")[2] == "END", "version 2 to fail")
    assert loads.calls[("m", 2)] == 3
    assert lifecycle.statuses("m")[0].error.message == "no SavedModel at /m/2"
    assert states(lifecycle, "m")[1] == "AVAILABLE"  # availability preserved
    # still aspired, a failed version is not retried on every poll
    lifecycle.set_aspired_versions("m", {2: "/m/2"})
    time.sleep(0.1)
    assert loads.calls[("m", 2)] == 3
    # once it left and came back (re-published), it loads afresh
    loads.fail[("m", 2)] = 0
    lifecycle.set_aspired_versions("m", {})
    lifecycle.set_aspired_versions("m", {2: "/m/2"})
    until(lambda: states(lifecycle, "m")[2] == "AVAILABLE", "re-published version 2")


def test_a_load_that_ends_after_its_version_left_is_discarded(make, loads):
    lifecycle = make()
    loads.block[("m", 1)] = threading.Event()
    lifecycle.set_aspired_versions("m", {1: "/m/1"})
    until(lambda: loads.calls[("m", 1)] == 1, "the load to start")
    lifecycle.set_aspired_versions("m", {})
    loads.block[("m", 1)].set()
    until(lambda: loads.unloaded == [("m", 1)], "the late servable to be freed")
    (status,) = lifecycle.statuses("m")
    assert status.state == "END" and status.error.code == Code.CANCELLED
    assert lifecycle.acquire("m", None) is None


def test_removed_model_unloads_every_version(make, loads):
    lifecycle = make()
    lifecycle.set_aspired_versions("m", {1: "/m/1", 2: "/m/2"})
    until(lambda: states(lifecycle, "m") == {2: "AVAILABLE", 1: "AVAILABLE"}, "both versions")
    lifecycle.set_aspired_versions("m", {})
    until(lambda: states(lifecycle, "m") == {2: "END", 1: "END"}, "both unloaded")
    assert sorted(loads.unloaded) == [("m", 1), ("m", 2)]


def test_latest_settled_and_waiting_for_models(make, loads):
    lifecycle = make(max_num_load_retries=0)
    loads.fail[("bad", 1)] = 1
    assert lifecycle.wait_for_models(["good"], lambda name: True, timeout=0.05) is None  # nothing aspired yet
    lifecycle.set_aspired_versions("good", {1: "/good/1"})
    lifecycle.set_aspired_versions("bad", {1: "/bad/1"})
    statuses = lifecycle.wait_for_models(["good", "bad", "gone"], lambda name: name != "gone", timeout=30)
    assert statuses["good"].state == "AVAILABLE"
    assert statuses["bad"].state == "END" and statuses["bad"].error.code == Code.NOT_FOUND
    assert "gone" not in statuses


def test_stop_cancels_pending_retries(make, loads):
    lifecycle = make(max_num_load_retries=5, load_retry_interval_s=600)
    loads.fail[("m", 1)] = 1000
    lifecycle.set_aspired_versions("m", {1: "/m/1"})
    until(lambda: loads.calls[("m", 1)] == 1, "the first attempt")
    lifecycle.stop()
    until(
        lambda: not any(isinstance(t, threading.Timer) and t.is_alive() for t in threading.enumerate()),
        "the retry timer to end",
    )


def test_thousands_of_failing_versions_wait_for_their_retries_without_a_thread_each(make, loads):
    """3,000 versions that fail (empty version directories under policy `all`): threads stay the pools' own
    (before: a retry timer thread each), and another model still loads."""
    lifecycle = make(num_load_threads=4, max_num_load_retries=5, load_retry_interval_s=600)
    threads = threading.active_count()
    versions = {version: f"/broken/{version}" for version in range(1, 3001)}
    for version in versions:
        loads.fail[("broken", version)] = 1000
    lifecycle.set_aspired_versions("broken", versions)
    until(lambda: sum(loads.calls.values()) == 3000, "every first attempt")
    assert set(states(lifecycle, "broken").values()) == {"LOADING"}  # each waiting for its retry
    assert threading.active_count() == threads
    lifecycle.set_aspired_versions("good", {1: "/good/1"})
    until(lambda: states(lifecycle, "good") == {1: "AVAILABLE"}, "the good model")
