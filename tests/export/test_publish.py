"""Atomic, versioned publication and the export command line (bad arguments, next version, kills)."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from export.errors import ExportError
from export.pipeline import Endpoint, export_version
from export.publish import existing_versions, remove_stale_staging

REPO = Path(__file__).resolve().parents[2]


def half_plus_two():
    """A one-weight model y = 0.5x + 2 and its export arguments."""
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.set_weights([np.array([[0.5]], np.float32), np.array([2.0], np.float32)])
    x = np.array([[1.0], [4.0]], np.float32)
    endpoint = Endpoint("serving_default", lambda x: {"y": model(x)}, [tf.TensorSpec([None, 1], tf.float32, name="x")])
    return dict(model=model, endpoints=[endpoint], info={"model": "half_plus_two"},
                warmup={"serving_default": {"x": x[:1]}},
                checks={"serving_default": ({"x": x}, {"y": np.array([[2.5], [4.0]], np.float32)})})


def test_versions_count_up_and_are_complete(tmp_path):
    first = export_version(models_dir=tmp_path, name="hp2", **half_plus_two())
    second = export_version(models_dir=tmp_path, name="hp2", **half_plus_two())
    assert (first.name, second.name) == ("1", "2")
    for version in (first, second):
        assert (version / "saved_model.pb").is_file()
        assert (version / "assets.extra" / "tf_serving_warmup_requests").is_file()
        assert (version / "assets.extra" / "export_info.json").is_file()
    assert sorted(p.name for p in (tmp_path / "hp2").iterdir()) == ["1", "2"]  # no staging left behind


def test_explicit_version_is_never_overwritten_without_force(tmp_path):
    export_version(models_dir=tmp_path, name="hp2", version=7, **half_plus_two())
    with pytest.raises(ExportError, match="already exists"):
        export_version(models_dir=tmp_path, name="hp2", version=7, **half_plus_two())
    before = (tmp_path / "hp2" / "7" / "assets.extra" / "export_info.json").read_text()
    time.sleep(1.1)
    export_version(models_dir=tmp_path, name="hp2", version=7, force=True, **half_plus_two())
    assert (tmp_path / "hp2" / "7" / "assets.extra" / "export_info.json").read_text() != before
    assert existing_versions(tmp_path / "hp2") == [7]


def test_odd_directory_names_beside_versions_are_not_versions(tmp_path):
    base = tmp_path / "hp2"
    for name in ("0002", "²", "١", "v9", "1.5", "-4"):
        (base / name).mkdir(parents=True)  # "²".isdigit() is True and int("²") raises
    assert existing_versions(base) == [-4, 2]  # what TF Serving would read: -4 and 2
    assert export_version(models_dir=tmp_path, name="hp2", **half_plus_two()).name == "3"


def test_failed_verification_publishes_nothing(tmp_path):
    args = half_plus_two()
    args["checks"] = {"serving_default": ({"x": np.array([[1.0]], np.float32)}, {"y": np.array([[9.0]], np.float32)})}
    with pytest.raises(ExportError, match="max abs diff"):
        export_version(models_dir=tmp_path, name="hp2", **args)
    assert list((tmp_path / "hp2").iterdir()) == []


def test_export_without_serving_default_is_refused(tmp_path):
    args = half_plus_two()
    args["endpoints"] = [Endpoint("other", args["endpoints"][0].fn, args["endpoints"][0].input_signature)]
    with pytest.raises(ExportError, match="serving_default"):
        export_version(models_dir=tmp_path, name="hp2", **args)


def run_cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "export", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


def last_line(stderr: str) -> str:
    return stderr.strip().splitlines()[-1]


@pytest.mark.parametrize("args, message", [
    (["efficientnet", "--variant", "b9"], "invalid choice: 'b9'"),
    (["efficientnet", "--weights", "/no/such/weights.h5"], "weights file not found: /no/such/weights.h5"),
    (["efficientnet", "--phi", "-1", "--models-dir", "{tmp}"], "--phi must be >= 0"),
    (["efficientnet", "--version", "1", "--models-dir", "{tmp}"], "version 1 already exists"),
    (["resnet"], "invalid choice: 'resnet'"),
])
def test_bad_arguments_give_one_clear_line_and_fail(tmp_path, args, message):
    (tmp_path / "efficientnet" / "1").mkdir(parents=True)
    result = run_cli(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert result.returncode == 2
    assert message in last_line(result.stderr)
    assert result.stdout == ""


def test_cli_writes_the_next_version_from_a_weights_file_equal_to_keras(tmp_path, efficientnet_export,
                                                                        efficientnet_weights, efficientnet_keras):
    """`--weights PATH` end to end: the exported pixel signature computes what the Keras model does."""
    shutil.copytree(efficientnet_export, tmp_path / "efficientnet" / "1")
    result = run_cli("efficientnet", "--variant", "b0", "--weights", str(efficientnet_weights),
                     "--models-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == str(tmp_path / "efficientnet" / "2")
    assert existing_versions(tmp_path / "efficientnet") == [1, 2]

    pixels = np.random.default_rng(7).uniform(0, 255, (3, 224, 224, 3)).astype(np.float32)
    exported = tf.saved_model.load(str(tmp_path / "efficientnet" / "2")).signatures["predict_pixels"]
    probabilities = exported(pixels=tf.constant(pixels))["probabilities"].numpy()
    np.testing.assert_allclose(probabilities, np.asarray(efficientnet_keras(pixels, training=False)), atol=1e-5)


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
