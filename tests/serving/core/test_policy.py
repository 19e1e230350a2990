"""The availability-preserving policy as a pure function: plain snapshots in, the actions to take out, in order."""

from __future__ import annotations

import subprocess
import sys

import pytest

from serving.core.policy import Action, ServableAction, VersionSnapshot, availability_preserving
from serving.core.states import State
from serving.testing.server_process import REPO_ROOT

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
    "versions, actions",
    [
        ([], []),
        ([(1, NEW, True)], [load(1)]),
        ([(1, NEW, True), (3, NEW, True), (2, NEW, True)], [load(3), load(2), load(1)]),  # the highest new first
        ([(3, LOADING, True), (2, NEW, True)], [load(2)]),  # `all {}`: the next one loads beside it
        ([(1, READY, True)], []),
        # a swap: the old version serves until the new one is READY, then goes
        ([(1, READY, False), (2, NEW, True)], [load(2)]),
        ([(1, READY, False), (2, LOADING, True)], []),
        ([(1, READY, False), (2, READY, True)], [unload(1)]),
        # a new version that failed never takes the last serving version with it
        ([(1, READY, False), (2, ERROR, True)], []),
        ([(1, READY, False), (2, UNLOADING, True)], []),
        # with two un-aspired versions serving, the lowest goes even before the new one is ready; one stays
        ([(1, READY, False), (2, READY, False), (3, LOADING, True)], [unload(1)]),
        ([(1, READY, False), (2, READY, False), (4, READY, False), (3, NEW, True)], [unload(1), unload(2), load(3)]),
        # nothing aspired (the model left the config): every version goes, lowest first
        ([(1, READY, False), (2, READY, False)], [unload(1), unload(2)]),
        ([(2, READY, False)], [unload(2)]),
        # unloads come before loads
        ([(1, READY, False), (2, READY, True), (3, NEW, True)], [unload(1), load(3)]),
        # failed, unloaded and un-aspired new versions ask for nothing
        ([(1, ERROR, True), (2, DISABLED, False), (3, NEW, False)], []),
    ],
)
def test_actions(versions, actions):
    assert availability_preserving(snapshots(*versions)) == actions


def test_the_actions_are_what_asking_again_after_each_would_give():
    """The official policy names one action and is asked again; the plan is that sequence."""
    versions = {1: (READY, False), 2: (READY, False), 3: (READY, False), 5: (NEW, True), 4: (NEW, True)}
    plan, steps = availability_preserving(snapshots(*((v, *s) for v, s in versions.items()))), []
    while actions := availability_preserving(snapshots(*((v, *s) for v, s in versions.items()))):
        steps.append(actions[0])
        _, aspired = versions[actions[0].version]
        versions[actions[0].version] = (LOADING if actions[0].action is Action.LOAD else UNLOADING, aspired)
    assert plan == steps == [unload(1), unload(2), load(5), load(4)]


def test_policy_is_idempotent_and_leaves_its_input_alone():
    given = snapshots((1, READY, False), (2, READY, True), (3, NEW, True))
    copy = list(given)
    assert availability_preserving(given) == availability_preserving(given) == [unload(1), load(3)]
    assert given == copy


def test_core_modules_import_without_tensorflow():
    code = (
        "import sys, serving.core.server_core, serving.core.lifecycle, serving.core.policy, "
        "serving.core.router, serving.core.source, serving.core.versions; "
        "assert 'tensorflow' not in sys.modules, 'tensorflow imported'"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True, timeout=120)
