"""Version discovery on disk and the version policies latest / all / specific."""
from __future__ import annotations

import logging
import os
import re

from protocol.generated.tensorflow_serving.config import model_server_config_pb2

from serving.status import invalid_argument

log = logging.getLogger("serving")

_VERSION = re.compile(r"^[0-9]+$")
_MAX_INT64 = (1 << 63) - 1


def list_versions(base_path: str, model_name: str) -> dict[int, str]:
    """Maps each integer-named child of base_path to its path (`0001` is version 1, `v1` is ignored)."""
    if not os.path.exists(base_path):
        raise invalid_argument(f"Could not find base path {base_path} for servable {model_name}")
    found: dict[int, str] = {}
    for child in sorted(os.listdir(base_path)):
        if not _VERSION.match(child) or int(child) > _MAX_INT64:
            continue
        version = int(child)
        if version in found:
            log.warning("Duplicate version directories detected. Version %d will be loaded from %s, "
                        "%s will be ignored.", version, child, os.path.basename(found[version]))
        found[version] = os.path.join(base_path, child)
    return found


def aspired_versions(model: model_server_config_pb2.ModelConfig) -> dict[int, str]:
    """The versions the model's policy wants served, from what is on disk now."""
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
            log.warning("Version %d of servable %s, which was requested to be served as a 'specific' "
                        "version in the servable's version policy, was not found in the file system",
                        v, model.name)
    else:
        keep = max(policy.latest.num_versions, 1)
        chosen = {v: on_disk[v] for v in sorted(on_disk, reverse=True)[:keep]}
    if not chosen:
        log.warning("No versions of servable %s found under base path %s. Did you forget to name your "
                    "leaf directory as a number (eg. '/1/')?", model.name, model.base_path)
    return chosen
