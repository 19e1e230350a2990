"""The checks before a build: name, version and input files, run once per export and before anything is built."""

import argparse
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import export.pipeline.preflight
from export.cli import main
from export.errors import ExportError
from export.keras_model.exporter import export_model
from export.pipeline import run, write_version
from export.pipeline.endpoint import Endpoint
from export.pipeline.model_export import Exportable, ModelExport
from export.weights.keras_file import load_keras_weights


def half_plus_two() -> keras.Model:
    model = keras.Sequential([keras.Input((1,), name="x"), keras.layers.Dense(1)], name="hp2")
    model.set_weights([np.array([[0.5]], np.float32), np.array([2.0], np.float32)])
    return model


@dataclass
class HalfPlusTwoExport(ModelExport):
    """A ModelExport that records whether it was built (the slow part a failed check must not reach)."""

    command = "hp2"
    weights: str = "none"
    built: bool = False

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        pass

    def input_files(self) -> dict[str, Path]:
        return {} if self.weights == "none" else {"weights file": Path(self.weights)}

    def build(self) -> Exportable:
        self.built = True
        model = half_plus_two()
        if self.weights != "none":
            load_keras_weights(model, self.weights, "half_plus_two")
        endpoint = Endpoint(
            "serving_default", lambda x: {"y": model(x)}, [tf.TensorSpec([None, 1], tf.float32, name="x")]
        )
        return Exportable(model=model, endpoints=[endpoint])


@pytest.fixture
def counted(monkeypatch):
    """How often the version check and the file check run."""
    calls = {"version": 0, "file": 0}
    check_version_free, require_file = (
        export.pipeline.preflight.check_version_free,
        export.pipeline.preflight.require_file,
    )

    def count_version(*args):
        calls["version"] += 1
        return check_version_free(*args)

    def count_file(*args):
        calls["file"] += 1
        return require_file(*args)

    monkeypatch.setattr(export.pipeline.preflight, "check_version_free", count_version)
    monkeypatch.setattr(export.pipeline.preflight, "require_file", count_file)
    return calls


def test_an_existing_version_or_a_missing_file_fails_before_the_build(tmp_path):
    (tmp_path / "hp2" / "3").mkdir(parents=True)
    spec = HalfPlusTwoExport()
    with pytest.raises(ExportError, match="version 3 already exists"):
        run(spec, models_dir=tmp_path, version=3)
    spec = HalfPlusTwoExport(weights=str(tmp_path / "absent.weights.h5"))
    with pytest.raises(ExportError, match=r"^weights file not found: .*absent\.weights\.h5$"):
        run(spec, models_dir=tmp_path)
    assert not spec.built
    with pytest.raises(ExportError, match="version 3 already exists"):
        export_model(half_plus_two(), tmp_path, "hp2", version=3)
    assert sorted(p.name for p in (tmp_path / "hp2").iterdir()) == ["3"]


def test_each_check_runs_once_per_export(tmp_path, counted):
    weights = tmp_path / "hp2.weights.h5"
    half_plus_two().save_weights(weights)
    assert run(HalfPlusTwoExport(weights=str(weights)), models_dir=tmp_path / "models").name == "1"
    assert counted == {"version": 1, "file": 1}
    counted.update(version=0, file=0)
    assert export_model(half_plus_two(), tmp_path / "models", "hp2").name == "2"
    assert counted == {"version": 1, "file": 0}
    counted.update(version=0, file=0)
    spec = HalfPlusTwoExport()
    assert write_version(spec.build(), models_dir=tmp_path / "models", name="hp2").name == "3"
    assert counted == {"version": 1, "file": 0}


def test_the_command_line_checks_once_before_tensorflow_builds(tmp_path, capsys, counted):
    assert main(["efficientnet", "--models-dir", str(tmp_path), "--weights", str(tmp_path / "w.h5")]) == 2
    assert capsys.readouterr().err == f"error: weights file not found: {tmp_path / 'w.h5'}\n"
    assert counted == {"version": 1, "file": 1}
    assert not (tmp_path / "efficientnet").exists()
