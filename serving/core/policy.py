"""Aspired-version policies: pure functions from the states of one model's versions to its next action.

Like tensorflow/serving's AspiredVersionPolicy, a policy is stateless and idempotent: the same
snapshots always give the same action, so it is tested on its own with plain values. The lifecycle
asks again after every state change until the policy answers None.
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


Policy = Callable[[Sequence[VersionSnapshot]], ServableAction | None]


def highest_new_aspired(versions: Sequence[VersionSnapshot]) -> int | None:
    """The largest aspired version nobody has started to load yet."""
    new = [v.version for v in versions if v.aspired and v.state is State.NEW]
    return max(new) if new else None


def availability_preserving(versions: Sequence[VersionSnapshot]) -> ServableAction | None:
    """AvailabilityPreservingPolicy: never leave a model with nothing serving while a swap is under way.

    An un-aspired READY version is unloaded (lowest first) only when no version is aspired, or an
    aspired version is READY, or more than one un-aspired version is READY (one is kept). Otherwise
    the highest aspired NEW version is loaded.
    """
    has_aspired = any(v.aspired for v in versions)
    aspired_ready = any(v.aspired and v.state is State.READY for v in versions)
    unaspired_ready = [v.version for v in versions if not v.aspired and v.state is State.READY]
    if unaspired_ready and (not has_aspired or aspired_ready or len(unaspired_ready) > 1):
        return ServableAction(Action.UNLOAD, min(unaspired_ready))
    version = highest_new_aspired(versions)
    if version is not None:
        return ServableAction(Action.LOAD, version)
    return None
