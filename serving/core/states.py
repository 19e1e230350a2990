"""The states of one servable version: the harness states the lifecycle and the policy work with,
and the ModelVersionStatus state each reports (ServableState::ManagerState)."""

from __future__ import annotations

import enum


class State(enum.Enum):
    """LoaderHarness states, without the request/approve/quiesce steps this server has no use for."""

    NEW = "new"  # aspired, not yet loading
    LOADING = "loading"  # a load attempt runs or a retry waits
    READY = "ready"  # serving
    UNLOADING = "unloading"  # takes no new requests; waits for those holding it, then unloads
    DISABLED = "disabled"  # unloaded after serving
    ERROR = "error"  # the load failed (or was cancelled); the error is kept for status

    @property
    def manager_state(self) -> str:
        """The ModelVersionStatus.State name clients see."""
        return _MANAGER_STATE[self]

    @property
    def settled(self) -> bool:
        """READY, DISABLED or ERROR: nothing runs for this version."""
        return self in (State.READY, State.DISABLED, State.ERROR)


_MANAGER_STATE = {
    State.NEW: "START",
    State.LOADING: "LOADING",
    State.READY: "AVAILABLE",
    State.UNLOADING: "UNLOADING",
    State.DISABLED: "END",
    State.ERROR: "END",
}
