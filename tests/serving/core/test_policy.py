"""The availability-preserving policy as a pure function: plain snapshots in, one action out."""

from __future__ import annotations

import subprocess
import sys

import pytest

from serving.core.policy import Action, ServableAction, VersionSnapshot, availability_preserving
from serving.core.states import State
from tests.serving.server_process import REPO_ROOT

NEW, LOADING, READY, UNLOADING, DISABLED, ERROR = (
    State.NEW,
    State.LOADING,
    State.READY,
    State.UNLOADING,
    State.DISABLED,
    State.ERROR,
)


def snapshots(*items):
    return [VersionSnapshot(version, state, aspired) for version, state, aspired in items]


def load(version):
    return ServableAction(Action.LOAD, version)


def unload(version):
    return ServableAction(Action.UNLOAD, version)


@pytest.mark.parametrize(
    "versions, action",
    [
        ([], None),
        ([(1, NEW, True)], load(1)),
        ([(1, NEW, True), (3, NEW, True), (2, NEW, True)], load(3)),  # the highest new version first
        ([(3, LOADING, True), (2, NEW, True)], load(2)),  # `all {}`: the next one loads beside it
        ([(1, READY, True)], None),
        # a swap: the old version serves until the new one is READY, then goes
        ([(1, READY, False), (2, NEW, True)], load(2)),
        ([(1, READY, False), (2, LOADING, True)], None),
        ([(1, READY, False), (2, READY, True)], unload(1)),
        # a new version that failed never takes the last serving version with it
        ([(1, READY, False), (2, ERROR, True)], None),
        ([(1, READY, False), (2, UNLOADING, True)], None),
        # with two un-aspired versions serving, the lowest goes even before the new one is ready
        ([(1, READY, False), (2, READY, False), (3, LOADING, True)], unload(1)),
        # nothing aspired (the model left the config): every version goes, lowest first
        ([(1, READY, False), (2, READY, False)], unload(1)),
        ([(2, READY, False)], unload(2)),
        # an unload comes before a load
        ([(1, READY, False), (2, READY, True), (3, NEW, True)], unload(1)),
        # failed, unloaded and un-aspired new versions ask for nothing
        ([(1, ERROR, True), (2, DISABLED, False), (3, NEW, False)], None),
    ],
)
def test_next_action(versions, action):
    assert availability_preserving(snapshots(*versions)) == action


def test_policy_is_idempotent_and_leaves_its_input_alone():
    given = snapshots((1, READY, False), (2, READY, True), (3, NEW, True))
    copy = list(given)
    assert availability_preserving(given) == availability_preserving(given) == unload(1)
    assert given == copy


def test_core_modules_import_without_tensorflow():
    code = (
        "import sys, serving.core.server_core, serving.core.lifecycle, serving.core.policy, "
        "serving.core.router, serving.core.source, serving.core.versions; "
        "assert 'tensorflow' not in sys.modules, 'tensorflow imported'"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True, timeout=120)
