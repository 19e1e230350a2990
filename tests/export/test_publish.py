"""Atomic publication: a killed export leaves no version, and its staging directory is cleared."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from export.publish import existing_versions, remove_stale_staging

REPO = Path(__file__).resolve().parents[2]


def wait_for_staging(base: Path, process: subprocess.Popen, timeout: float = 300) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        staging = [p for p in base.glob(".export-*") if any(p.rglob("*"))] if base.is_dir() else []
        if staging:
            return staging[0]
        assert process.poll() is None, "export ended before it started writing"
        time.sleep(0.2)
    raise AssertionError("export never started writing")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killed_export_leaves_no_version(tmp_path, sig):
    base = tmp_path / "efficientnet"
    process = subprocess.Popen([sys.executable, "-m", "export", "efficientnet", "--models-dir", str(tmp_path)],
                               cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        staging = wait_for_staging(base, process)
        os.kill(process.pid, sig)
        process.wait(timeout=120)
    finally:
        process.kill()
    assert existing_versions(base) == []
    if sig == signal.SIGTERM:
        assert not staging.exists()  # the export cleaned up after itself
    else:
        assert remove_stale_staging(base) == [staging]  # the next export clears what a SIGKILL left
    assert list(base.iterdir()) == []
