"""A model repository, as the Open Inference Protocol's repository extension sees one: every model the
server's model configs have listed, and loading or unloading one by name.

Load and unload edit the model config in force (ServerCore.edit_models), the same transition a
HandleReloadConfigRequest or a re-read --model_config_file makes: unload leaves the model out (its versions
unload once their requests finish), load puts its last config back (or, for a model served already, looks
for new versions at once) and waits for its latest version. A model no config ever listed is NOT_FOUND: the
repository is the operator's config, not the file system. A --model_config_file polled for changes is the
source of truth and undoes an edit at its next read.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocol.generated.tensorflow_serving.apis import model_pb2
from serving.core.server_core import ServerCore
from serving.errors import ServingError, not_found

# TF Serving's version states in the words of Triton's repository index.
STATES = {
    "START": "LOADING",
    "LOADING": "LOADING",
    "AVAILABLE": "READY",
    "UNLOADING": "UNLOADING",
    "END": "UNAVAILABLE",
    "UNKNOWN": "UNAVAILABLE",
}
READY = "READY"


@dataclass(frozen=True)
class IndexEntry:
    name: str
    version: str  # "" for a model with no version to show
    state: str  # READY, LOADING, UNLOADING or UNAVAILABLE
    reason: str = ""


def index(core: ServerCore, ready_only: bool = False) -> list[IndexEntry]:
    """Every version of every model served, and each model unloaded since, by name."""
    served = set(core.model_names())
    entries = []
    for name in sorted(core.known_models()):
        if name not in served:
            entries.append(IndexEntry(name, "", "UNAVAILABLE", "unloaded"))
            continue
        try:
            states = core.version_states(model_pb2.ModelSpec(name=name))
        except ServingError:
            entries.append(IndexEntry(name, "", "UNAVAILABLE", "no version found under its base path yet"))
            continue
        for state in sorted(states, key=lambda s: s.version):
            reason = state.error.message if state.error is not None else ""
            entries.append(IndexEntry(name, str(state.version), STATES.get(state.state, "UNAVAILABLE"), reason))
    return [e for e in entries if e.state == READY] if ready_only else entries


def load(core: ServerCore, name: str, timeout: float | None = None) -> None:
    """Serves `name` again from its last config, or looks for new versions of a model served already; returns
    once its latest version is AVAILABLE (an error when it failed to load)."""
    known = core.known_models()
    if name not in known:
        raise _unknown(name)
    if name in core.model_names():
        core.refresh([name], timeout)
    else:
        core.edit_models(lambda models: [*models, known[name]], timeout)


def unload(core: ServerCore, name: str, timeout: float | None = None) -> None:
    """Stops serving `name`: it leaves the config in force. Unloading a model unloaded already does nothing."""
    if name not in core.known_models():
        raise _unknown(name)
    if name in core.model_names():
        core.edit_models(lambda models: [m for m in models if m.name != name], timeout)


def _unknown(name: str) -> ServingError:
    return not_found(
        f"Model {name} is not in this server's model repository (the models its --model_config_file or "
        "--model_name listed)"
    )
