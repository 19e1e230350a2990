"""A long-running server swaps versions many times: unloading a version gives its memory back.

Measured with this test's four swaps of EfficientNet-B0: RSS after each swap 1248, 1457, 1645, 1834 MB with
TF2's object loader (the server before its Session core), 888, 889, 906, 912 MB with a Session and the freed
heap handed back (serving/core/server_core.py).
"""

from __future__ import annotations

import shutil

import pytest
import requests

from serving.testing.server_process import ServerProcess, version_statuses, wait_for

pytestmark = pytest.mark.slow

SWAPS = 4
# Allowed growth from the second swap to the last: allocator noise, not one model's worth per swap
# (the object loader grew ~160 MB per swap of this model: ~320 MB from the second swap to the fourth).
GROWTH_BOUND_MB = 120


def _only_available(rest_url: str, version: int) -> bool:
    statuses = version_statuses(rest_url, "efficientnet")
    return statuses.get(version, {}).get("state") == "AVAILABLE" and all(
        entry["state"] == "END" for v, entry in statuses.items() if v != version
    )


def test_memory_stays_flat_across_version_swaps(efficientnet_export, tmp_path):
    base = tmp_path / "efficientnet"
    shutil.copytree(efficientnet_export, base / "1")
    with ServerProcess(
        model_name="efficientnet", model_base_path=base, args=["--file_system_poll_wait_seconds=1"]
    ) as server:
        rss_mb = []
        for version in range(2, SWAPS + 2):
            staging = tmp_path / f"staging-{version}"
            shutil.copytree(efficientnet_export, staging)
            staging.rename(base / str(version))  # a complete version appears at once
            wait_for(lambda v=version: _only_available(server.rest_url, v), timeout=180, what=f"version {version}")
            shutil.rmtree(base / str(version - 1))
            reply = requests.post(
                f"{server.rest_url}/v1/models/efficientnet:predict",
                json={"signature_name": "predict_pixels", "instances": [[[[0.0] * 3] * 224] * 224]},
                timeout=120,
            )
            assert reply.status_code == 200, reply.text
            rss_mb.append(server.rss_bytes() / 2**20)
        growth = rss_mb[-1] - rss_mb[1]
        assert growth < GROWTH_BOUND_MB, f"RSS after each swap (MB): {[round(m) for m in rss_mb]}"
