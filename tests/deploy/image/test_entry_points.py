"""The deployment tools answer to their new names and to the ones issues, scripts and users already
type (`python -m serving.launch`, `python -m serving.model_image`), with the same arguments."""

from __future__ import annotations

import subprocess
import sys

import pytest

from serving.testing.server_process import REPO_ROOT


@pytest.mark.parametrize(
    "module, new",
    [
        ("deploy.image.launch", "deploy.image.launch"),
        ("serving.launch", "deploy.image.launch"),
        ("deploy.image.model_image", "deploy.image.model_image"),
        ("serving.model_image", "deploy.image.model_image"),
    ],
)
def test_old_and_new_names_run_the_same_tool(module, new):
    run = subprocess.run(
        [sys.executable, "-m", module, "--help"], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith(f"usage: python -m {new} ")
    assert ("start" in run.stdout) if new.endswith("launch") else ("--kserve" in run.stdout)
