"""`python -m export stylegan …`: official pickles, Keras weight files, and clear errors."""

import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from export.cli import main
from export.pipeline.tolerance import assert_same_computation
from export.stylegan.networks.config import StyleGANConfig
from export.stylegan.networks.generator import Generator
from tests.export.cli_output import messages
from tests.export.stylegan import numpy_reference as ref
from tests.export.stylegan.official_pickle import write_official_pickle


def count_pickle_reads(monkeypatch) -> list:
    """Paths passed to read_official_pickle from now on."""
    from export.stylegan.weights import convert as pickle_reader

    reads, real_read = [], pickle_reader.read_official_pickle
    monkeypatch.setattr(pickle_reader, "read_official_pickle", lambda path: reads.append(path) or real_read(path))
    return reads


@pytest.mark.slow
def test_export_from_official_pickle_serves_what_the_pickle_defines(tmp_path, monkeypatch, capsys):
    pickle_path = tmp_path / "karras2019stylegan-test-16x16.pkl"
    official = write_official_pickle(pickle_path, monkeypatch, latent=512, fmap_base=64, fmap_max=8)
    reads = count_pickle_reads(monkeypatch)
    assert (
        main(
            [
                "stylegan",
                "--pickle",
                str(pickle_path),
                "--models-dir",
                str(tmp_path / "models"),
                "--truncation-cutoff",
                "4",
            ]
        )
        == 0
    )
    assert reads == [pickle_path]  # official pickles are hundreds of MB: read once
    version = tmp_path / "models" / "stylegan" / "1"
    assert capsys.readouterr().out.strip().endswith(str(version))
    info = json.loads((version / "assets.extra" / "export_info.json").read_text())
    assert info["resolution"] == 16 and "karras2019stylegan-test-16x16.pkl (Gs)" in info["weights"]
    loaded = tf.saved_model.load(str(version))
    z = np.random.default_rng(5).standard_normal((2, 512)).astype(np.float32)
    v = {k: np.asarray(a, np.float64) for k, a in official["Gs"].items()}
    dlatents = ref.truncate(np.repeat(ref.mapping(z, v)[:, None], 6, axis=1), v["dlatent_avg"], 0.5, 4)
    expected = ref.synthesis(dlatents, v, 16).transpose(0, 2, 3, 1)
    # serving_default rounds to uint8; compare through the float synthesis signature and the rounding rule.
    got = loaded.signatures["synthesis"](dlatents=tf.constant(dlatents, tf.float32))["images_float"].numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-3 * np.abs(expected).max())
    images = loaded.signatures["serving_default"](z=tf.constant(z), truncation_psi=tf.constant(0.5))["images"]
    by_hand = np.clip(np.floor(expected * 127.5 + 128.0), 0, 255)
    assert np.mean(np.abs(images.numpy() - by_hand) <= 1) > 0.99


@pytest.mark.slow
def test_export_from_keras_weights_file(tmp_path, capsys):
    config = StyleGANConfig(resolution=8, fmap_max=16)
    trained = Generator(config)
    for variable in trained.weights:
        variable.assign(np.random.default_rng(1).normal(0, 0.3, variable.shape).astype(np.float32))
    weights = tmp_path / "g.weights.h5"
    trained.save_weights(str(weights))
    assert (
        main(
            [
                "stylegan",
                "--weights",
                str(weights),
                "--resolution",
                "8",
                "--fmap-max",
                "16",
                "--models-dir",
                str(tmp_path / "models"),
            ]
        )
        == 0
    )
    loaded = tf.saved_model.load(str(tmp_path / "models" / "stylegan" / "1"))
    z = np.random.default_rng(2).standard_normal((2, 512)).astype(np.float32)
    assert_same_computation(loaded.signatures["mapping"](z=tf.constant(z))["w"].numpy(), trained.mapping(z).numpy())


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--pickle", "absent.pkl"], "error: pickle not found: absent.pkl"),
        (["--weights", "absent.weights.h5", "--resolution", "8"], "error: weights file not found"),
        (["--resolution", "8", "--fmap-max", "16", "--weights", "{wrong}"], "error: cannot load"),
    ],
)
def test_bad_weights_are_one_line_errors(tmp_path, capsys, argv, message):
    wrong = tmp_path / "wrong.weights.h5"
    Generator(StyleGANConfig(resolution=16, fmap_max=16)).save_weights(str(wrong))
    argv = [a.replace("{wrong}", str(wrong)) for a in argv]
    assert main(["stylegan", *argv, "--models-dir", str(tmp_path / "models")]) == 2
    err = capsys.readouterr().err
    assert message in err and len(messages(err)) == 1
    assert not (tmp_path / "models" / "stylegan").exists() or not any((tmp_path / "models" / "stylegan").iterdir())


@pytest.mark.parametrize("resolution", ["12", "2048", "4"])
def test_bad_resolution_is_rejected_by_the_cli(resolution):
    result = subprocess.run(
        [sys.executable, "-m", "export", "stylegan", "--resolution", resolution],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "power of two from 8 to 1024" in result.stderr


def test_pickle_disagreeing_with_resolution_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    pickle_path = tmp_path / "net.pkl"
    write_official_pickle(pickle_path, monkeypatch)
    assert (
        main(["stylegan", "--pickle", str(pickle_path), "--resolution", "32", "--models-dir", str(tmp_path / "models")])
        == 2
    )
    err = capsys.readouterr().err
    assert "error: the pickle holds a 16² generator, --resolution asks for 32²" in err
    assert len(messages(err)) == 1
    assert not (tmp_path / "models" / "stylegan").exists()


@pytest.mark.slow
def test_weights_by_name_fetches_the_published_pickle_and_records_it(tmp_path, monkeypatch, capsys):
    """`python -m export stylegan --weights ffhq` end to end, through a loopback mirror of the published file
    name (a small pickle of the official layout: the preset's structure check is set to its 16x16)."""
    import dataclasses
    import hashlib
    from functools import partial

    from export.stylegan import exporter
    from export.stylegan.weights.convert import check_official_pickle
    from export.weights import fetch as fetching
    from tests.export.weights.file_server import serving

    pickle_path = tmp_path / "official.pkl"
    write_official_pickle(pickle_path, monkeypatch, latent=512)
    presets = tuple(
        dataclasses.replace(p, check=partial(check_official_pickle, resolution=16)) if p.name == "ffhq" else p
        for p in exporter.PRESETS
    )
    monkeypatch.setattr(exporter, "PRESETS", presets)
    monkeypatch.setenv(fetching.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(fetching.OFFLINE_ENV, raising=False)
    with serving() as mirror:
        mirror.files["karras2019stylegan-ffhq-1024x1024.pkl"] = pickle_path.read_bytes()
        monkeypatch.setenv(fetching.MIRROR_ENV, mirror.base_url)
        assert main(["stylegan", "--weights", "ffhq", "--models-dir", str(tmp_path / "models")]) == 0
    captured = capsys.readouterr()
    assert "stylegan:ffhq: karras2019stylegan-ffhq-1024x1024.pkl is licensed under CC-BY-NC-4.0" in captured.err
    version = tmp_path / "models" / "stylegan" / "1"
    info = json.loads((version / "assets.extra" / "export_info.json").read_text())
    record = info["weights_file"]
    assert record["preset"] == "stylegan:ffhq" and record["licence"] == "CC-BY-NC-4.0"
    assert record["sha256"] == hashlib.sha256(pickle_path.read_bytes()).hexdigest()
    assert record["url"] == "https://drive.google.com/uc?export=download&id=1MEGjdvVpUsu1jB4zrXZN7Y4kBBOzizDQ"
    assert record["fetched_from"] == f"{mirror.base_url}/karras2019stylegan-ffhq-1024x1024.pkl"
    assert info["resolution"] == 16
