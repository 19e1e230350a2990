"""protocol/generated is what scripts/compile_protos.py makes of protocol/protos today."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_committed_code_matches_the_protos():
    pytest.importorskip("grpc_tools", reason="grpcio-tools (the [test] extra) compiles the protos")
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "compile_protos.py"), "--check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
