"""Aspired-version policies: pure functions from the states of one model's versions to the actions to take.

Like tensorflow/serving's AspiredVersionPolicy, a policy is stateless and idempotent: the same
snapshots always give the same actions, so it is tested on its own with plain values. Where the official
policy names one action and is asked again after it, this one names, in order, every action asking again
after each would give: one look at a model's versions costs one pass over them, not one per action (a
model with 3,000 versions was 3,000 passes over 3,000 versions, under the lifecycle's lock).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from serving.core.states import State


@dataclass(frozen=True)
class VersionSnapshot:
    version: int
    state: State
    aspired: bool


class Action(enum.Enum):
    LOAD = "load"
    UNLOAD = "unload"


@dataclass(frozen=True)
class ServableAction:
    action: Action
    version: int


Policy = Callable[[Sequence[VersionSnapshot]], list[ServableAction]]


def availability_preserving(versions: Sequence[VersionSnapshot]) -> list[ServableAction]:
    """AvailabilityPreservingPolicy: never leave a model with nothing serving while a swap is under way.

    An un-aspired READY version is unloaded (lowest first) only when no version is aspired, or an
    aspired version is READY, or more than one un-aspired version is READY (one is kept). Then the
    aspired NEW versions are loaded, highest first. (Loads change no READY state, so no unload follows.)
    """
    has_aspired = any(v.aspired for v in versions)
    aspired_ready = any(v.aspired and v.state is State.READY for v in versions)
    unaspired_ready = sorted(v.version for v in versions if not v.aspired and v.state is State.READY)
    keep = 0 if not has_aspired or aspired_ready else 1
    actions = [ServableAction(Action.UNLOAD, version) for version in unaspired_ready[: len(unaspired_ready) - keep]]
    new = sorted((v.version for v in versions if v.aspired and v.state is State.NEW), reverse=True)
    return actions + [ServableAction(Action.LOAD, version) for version in new]
