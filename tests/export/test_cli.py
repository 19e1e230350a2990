"""The export command line: one-line errors with exit code 2, next version from a weights file."""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from export.pipeline.publish import existing_versions
from export.pipeline.tolerance import assert_same_computation

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "export", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout
    )


def last_line(stderr: str) -> str:
    return stderr.strip().splitlines()[-1]


@pytest.mark.parametrize(
    "args, message",
    [
        (["efficientnet", "--variant", "b9"], "invalid choice: 'b9'"),
        (["efficientnet", "--weights", "/no/such/weights.h5"], "weights file not found: /no/such/weights.h5"),
        (["efficientnet", "--phi", "-1", "--models-dir", "{tmp}"], "--phi must be >= 0"),
        (["efficientnet", "--version", "1", "--models-dir", "{tmp}"], "version 1 already exists"),
        (["resnet"], "invalid choice: 'resnet'"),
    ],
)
def test_bad_arguments_give_one_clear_line_and_fail(tmp_path, args, message):
    (tmp_path / "efficientnet" / "1").mkdir(parents=True)
    result = run_cli(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert result.returncode == 2
    assert message in last_line(result.stderr)
    assert result.stdout == ""


def test_cli_replaces_a_version_from_a_weights_file_equal_to_keras(
    tmp_path, efficientnet_export, efficientnet_weights, efficientnet_keras
):
    """`--weights PATH` end to end: the exported pixel signature computes what the Keras model does. Written as
    the README's `--weights my.weights.h5 --version 7 --force`: version 7 is replaced, version 1 kept."""
    shutil.copytree(efficientnet_export, tmp_path / "efficientnet" / "1")
    (tmp_path / "efficientnet" / "7").mkdir()
    (tmp_path / "efficientnet" / "7" / "saved_model.pb").write_bytes(b"an older export")
    args = ["efficientnet", "--variant", "b0", "--weights", str(efficientnet_weights), "--models-dir", str(tmp_path)]
    refused = run_cli(*args, "--version", "7")
    assert refused.returncode == 2 and "version 7 already exists" in refused.stderr, refused.stderr[-3000:]
    result = run_cli(*args, "--version", "7", "--force")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == str(tmp_path / "efficientnet" / "7")
    assert existing_versions(tmp_path / "efficientnet") == [1, 7]

    pixels = np.random.default_rng(7).uniform(0, 255, (3, 224, 224, 3)).astype(np.float32)
    exported = tf.saved_model.load(str(tmp_path / "efficientnet" / "7")).signatures["predict_pixels"]
    probabilities = exported(pixels=tf.constant(pixels))["probabilities"].numpy()
    assert_same_computation(probabilities, np.asarray(efficientnet_keras(pixels, training=False)))
