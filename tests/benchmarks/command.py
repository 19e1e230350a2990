"""`python -m benchmarks ...` as a user runs it, for the tests that check a benchmark end to end."""

import json
import os
import subprocess
import sys
from pathlib import Path

from serving.testing.server_process import REPO_ROOT


def run_benchmark(*args: str, out: Path, timeout: float = 900) -> tuple[dict, str]:
    """Runs `python -m benchmarks *args --out out` from the repository; returns the JSON it wrote and what it
    printed. Fails with the tail of its output when it exits non-zero."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", *args, "--out", str(out)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return json.loads(out.read_text()), done.stdout
