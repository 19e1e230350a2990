"""Odd names in a model's base path, served by a real server: only names the official source parses
as versions are versions; the rest are skipped without a traceback, and polling goes on."""

from __future__ import annotations

import shutil

import requests

from serving.testing.models import build_half_plus_two
from serving.testing.server_process import ServerProcess, model_config_text, wait_for

ODD = ["²", "١٢", "１", "v3", "1.5", "0x10", "99999999999999999999", "-", "+", " "]


def test_odd_directory_names_are_not_versions(tmp_path):
    base = tmp_path / "odd"
    build_half_plus_two(base, version=1, offset=1.0)
    build_half_plus_two(tmp_path / "staging", version=2, offset=2.0)
    shutil.move(str(tmp_path / "staging" / "2"), str(base / " 0002 "))  # absl::SimpleAtoi reads it as 2
    for name in ODD:
        (base / name).mkdir()
    (base / "7.txt").write_text("not a version")
    config = tmp_path / "models.config"
    config.write_text(
        model_config_text(
            [{"name": "odd", "base_path": base}, {"name": "odd_all", "base_path": base, "policy": "all {}"}]
        )
    )
    with ServerProcess(model_config_file=config, args=["--file_system_poll_wait_seconds=1"]) as server:
        assert {v: (e["state"], e["status"]) for v, e in server.versions("odd").items()} == {
            2: ("AVAILABLE", {"error_code": "OK", "error_message": ""})
        }
        assert set(server.versions("odd_all")) == {1, 2}
        reply = requests.post(f"{server.rest_url}/v1/models/odd:predict", json={"instances": [2.0]}, timeout=30)
        assert reply.json() == {"predictions": [3.0]}
        build_half_plus_two(tmp_path / "staging", version=3, offset=3.0)
        shutil.move(str(tmp_path / "staging" / "3"), str(base / "3"))
        (base / "³").mkdir()
        wait_for(lambda: server.state("odd", 3) == "AVAILABLE", what="polling to go on")
        log = server.log()
    assert "Traceback" not in log and "File-system poll failed" not in log
