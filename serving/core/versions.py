"""Version directories on disk (named as `protocol.layout.parse_version` reads them) and the version
policies latest / all / specific."""

from __future__ import annotations

import logging
import os

from protocol.layout import parse_version
from serving.errors import invalid_argument

log = logging.getLogger("serving")


def check_base_path(base_path: str, model_name: str) -> None:
    """INVALID_ARGUMENT with the official source's message when base_path does not exist."""
    if not os.path.exists(base_path):
        raise invalid_argument(
            f"Could not find base path {base_path} for servable {model_name} with error "
            f"NOT_FOUND: {base_path} not found"
        )


def list_versions(base_path: str, model_name: str) -> dict[int, str]:
    """Maps each version-named child of base_path to its path; INVALID_ARGUMENT when base_path is missing."""
    check_base_path(base_path, model_name)
    try:
        children = sorted(os.listdir(base_path))
    except OSError as e:
        raise invalid_argument(
            f"Could not list base path {base_path} for servable {model_name}: {e.strerror or e}"
        ) from None
    found: dict[int, str] = {}
    for child in children:
        version = parse_version(child)
        if version is None:
            continue
        if version in found:
            log.warning(
                "Duplicate version directories detected. Version %d will be loaded from %s, %s will be ignored.",
                version,
                child,
                os.path.basename(found[version]),
            )
        found[version] = os.path.join(base_path, child)
    return found


def aspired_versions(model) -> dict[int, str]:
    """The versions the model's policy (a ModelConfig's model_version_policy) wants served, from disk now."""
    on_disk = list_versions(model.base_path, model.name)
    policy = model.model_version_policy
    choice = policy.WhichOneof("policy_choice")
    if choice == "all":
        chosen = dict(on_disk)
    elif choice == "specific":
        wanted = set(policy.specific.versions)
        if not wanted:
            log.warning("No specific versions requested for servable %s.", model.name)
        chosen = {v: p for v, p in on_disk.items() if v in wanted}
        for v in sorted(wanted - set(chosen)):
            log.warning(
                "Version %d of servable %s, which was requested to be served as a 'specific' "
                "version in the servable's version policy, was not found in the file system",
                v,
                model.name,
            )
    else:
        keep = max(policy.latest.num_versions, 1)
        chosen = {v: on_disk[v] for v in sorted(on_disk, reverse=True)[:keep]}
    if not chosen:
        log.warning(
            "No versions of servable %s found under base path %s. Did you forget to name your "
            "leaf directory as a number (eg. '/1/')?",
            model.name,
            model.base_path,
        )
    return chosen
