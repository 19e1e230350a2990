"""The README's "Your own model" section does what it says, in order, in a directory holding the
project's `.venv`: its Python blocks run, its commands run one by one (the `python -m serving` line in
the background, on free ports that the `curl` lines then use), and the answers are the model's.
(tests/docs/test_commands.py runs every command of the README too; this test also checks the replies.)"""

import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

from serving.testing.server_process import free_port, wait_until_listening

REPO = Path(__file__).resolve().parents[3]
BLOCK = re.compile(r"```(bash|python)\n(.*?)```", re.S)

pytestmark = pytest.mark.slow


def section(title: str) -> str:
    text = (REPO / "README.md").read_text()
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def steps(markdown: str) -> list[tuple[str, str]]:
    """(language, text) of each Python block and each command line, in order."""
    found = []
    for language, code in BLOCK.findall(markdown):
        if language == "python":
            found.append(("python", code))
        else:
            found += [("bash", line) for line in code.splitlines() if line.strip() and not line.startswith("#")]
    return found


def test_your_own_model_section_runs_and_answers(tmp_path):
    grpc_port, rest_port = free_port(), free_port()
    (tmp_path / ".venv").symlink_to(REPO / ".venv")
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PATH": f"{tmp_path / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}",
    }
    outputs, server = [], None
    try:
        for language, text in steps(section("Your own model")):
            text = re.sub(r"\b8501\b", str(rest_port), re.sub(r"\b8500\b", str(grpc_port), text))
            if text.startswith("python -m serving "):
                server = subprocess.Popen(
                    ["bash", "-c", text],
                    cwd=tmp_path,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
                wait_until_listening(server, [grpc_port, rest_port], 600, repr(text), interval=0.5)
                continue
            argv = ["python", "-c", text] if language == "python" else ["bash", "-c", text]
            run = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
            assert run.returncode == 0, f"{text}\n{run.stdout[-2000:]}\n{run.stderr[-3000:]}"
            outputs.append(run.stdout)
    finally:
        if server is not None and server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=60)
    out = "".join(outputs)
    assert "models/iris/1" in out and "signature 'classify'" in out and "models/iris/2" in out
    assert '"predictions"' in out and '"species"' in out and '"class_names"' in out
    assert '"results"' in out and re.search(r'"(setosa|versicolor|virginica)"', out)
    assert sorted(p.name for p in (tmp_path / "models" / "iris").iterdir()) == ["1", "2"]
