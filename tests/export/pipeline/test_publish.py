"""Atomic publication: a killed export leaves no version, and its staging directory is cleared."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from export.pipeline.publish import existing_versions, remove_stale_staging
from serving.testing.server_process import wait_for

REPO = Path(__file__).resolve().parents[3]


def wait_for_staging(base: Path, process: subprocess.Popen, timeout: float = 300) -> Path:
    def staging() -> Path | None:
        found = [p for p in base.glob(".export-*") if any(p.rglob("*"))] if base.is_dir() else []
        if found:
            return found[0]
        assert process.poll() is None, "export ended before it started writing"
        return None

    return wait_for(staging, timeout, "the export to start writing", interval=0.2)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killed_export_leaves_no_version(tmp_path, sig):
    base = tmp_path / "efficientnet"
    process = subprocess.Popen(
        [sys.executable, "-m", "export", "efficientnet", "--models-dir", str(tmp_path)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
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


HOLD_STAGING = """
import sys, time
from pathlib import Path
from export.pipeline.publish import staging_directory
with staging_directory(Path(sys.argv[1])) as staging:
    (staging / "saved_model").mkdir()
    print(staging, flush=True)
    time.sleep(600)
"""


def test_staging_is_kept_while_its_exporter_holds_the_lock_and_removed_once_it_is_gone(tmp_path):
    """The lock, not a process id, tells a live export from a dead one (pids mean nothing across
    containers sharing the volume): a directory named after a live pid (1) but unlocked is stale."""
    base = tmp_path / "model"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_STAGING, str(base)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        live = Path(holder.stdout.readline().strip())
        assert live.is_dir() and live.parent == base
        foreign = base / ".export-1-abc123"  # an older exporter's pid-named directory; pid 1 is always alive
        (foreign / "saved_model").mkdir(parents=True)
        assert remove_stale_staging(base) == [foreign]  # the unlocked one goes, the locked one stays
        assert live.is_dir()
        holder.kill()
        holder.wait(timeout=60)
        assert remove_stale_staging(base) == [live]  # SIGKILL released the lock with the process
    finally:
        holder.kill()
        holder.wait(timeout=60)
    assert list(base.iterdir()) == []  # the lock file went with its directory


@pytest.mark.parametrize("name", ["../../x", "/abs", "", ".hidden", "a/b", "-flag"])
def test_model_name_must_be_a_plain_directory_name(tmp_path, capsys, name):
    from export.cli import main

    models = tmp_path / "a" / "b" / "models"
    models.mkdir(parents=True)
    assert main(["efficientnet", "--models-dir", str(models), f"--name={name}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --name must be a plain model name") and len(err.strip().splitlines()) == 1
    assert [p for p in tmp_path.rglob("*")] == [tmp_path / "a", tmp_path / "a" / "b", models]  # nothing written


def test_a_models_dir_that_is_a_file_is_a_one_line_error(tmp_path, capsys):
    from export.cli import main

    (tmp_path / "models").write_text("not a directory")
    assert main(["efficientnet", "--models-dir", str(tmp_path / "models")]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path / 'models'} exists and is not a directory\n"
