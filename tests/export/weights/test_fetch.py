"""Fetching published weights, against a loopback server only (the real URLs are never contacted).

The server holds small files the tests make in the official formats (a Keras applications .h5, a
facebookresearch/detr .pth, an NVlabs karras2019 pickle) under the registry's file names, and is
reached through the mirror variable, as a company mirror would be. Checksums: a test file cannot
have the publisher's hash, so a preset is given the test file's (same name, file and URL otherwise);
the publisher's own preset is what the hash-mismatch test serves a test file under.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import subprocess
import sys
import threading
from functools import partial
from pathlib import Path

import h5py
import pytest

from export.errors import ExportError
from export.stylegan.weights.convert import check_official_pickle
from export.weights import fetch as fetching
from export.weights.presets import GOOGLE_DRIVE
from export.weights_command import find
from tests.export.stylegan.official_pickle import write_official_pickle
from tests.export.weights.file_server import serving

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv(fetching.CACHE_ENV, str(root))
    monkeypatch.setenv(fetching.TIMEOUT_ENV, "2")
    monkeypatch.setenv(fetching.RETRIES_ENV, "2")
    for name in (fetching.OFFLINE_ENV, fetching.MIRROR_ENV):
        monkeypatch.delenv(name, raising=False)
    return root


@pytest.fixture
def mirror(cache, monkeypatch):
    with serving() as server:
        monkeypatch.setenv(fetching.MIRROR_ENV, server.base_url)
        yield server


def keras_h5(path: Path) -> bytes:
    """A legacy Keras weights file's layout (what the Keras applications files are): HDF5, layer_names."""
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [b"predictions"]
        f.attrs["backend"] = b"tensorflow"
        group = f.create_group("predictions")
        group.attrs["weight_names"] = [b"predictions/kernel:0"]
        group.create_dataset("predictions/kernel:0", data=[[0.5, -0.5]])
    return path.read_bytes()


def detr_pth(path: Path, queries: int = 1) -> bytes:
    """facebookresearch/detr's checkpoint layout: torch.save({"model": state_dict, ...})."""
    torch = pytest.importorskip("torch")
    state = {"class_embed.weight": torch.zeros(92, 256), "query_embed.weight": torch.randn(queries, 256)}
    torch.save({"model": state}, path)
    return path.read_bytes()


def with_checksum(key: str, data: bytes, kind: str = "sha256"):
    """The registry's preset, given the checksum of the test's own file (everything else as published)."""
    preset = find(key)
    digest = hashlib.new(kind, data).hexdigest()
    return dataclasses.replace(preset, checksum=f"{kind}:{digest[:8] if kind == 'sha256' else digest}")


def test_success_then_cache_hit(tmp_path, mirror, cache, capsys):
    data = keras_h5(tmp_path / "efficientnetb0.h5")
    preset = with_checksum("efficientnet-b0:imagenet", data, "md5")
    mirror.files[preset.file_name] = data

    first = fetching.fetch(preset)
    assert first.downloaded and first.path == cache / "efficientnet" / "efficientnetb0.h5"
    assert first.path.read_bytes() == data and first.sha256 == hashlib.sha256(data).hexdigest()
    assert first.url == f"{mirror.base_url}/efficientnetb0.h5"
    assert "Apache-2.0" in capsys.readouterr().err  # the licence, on first download
    assert not list(first.path.parent.glob(".partial-*"))

    second = fetching.fetch(preset)
    assert not second.downloaded and second.path == first.path and second.sha256 == first.sha256
    assert len(mirror.requests) == 1  # the cache answered
    assert "licensed" not in capsys.readouterr().err
    assert first.record()["sha256"] == first.sha256 and first.record()["licence"] == "Apache-2.0"


def test_resume_after_a_cut_connection(tmp_path, mirror, cache):
    data = detr_pth(tmp_path / "detr.pth", queries=200)  # 300 KB: cut in the middle
    preset = with_checksum("detr-r50:coco", data)
    mirror.files[preset.file_name] = data
    mirror.behaviour[preset.file_name] = "cut"

    fetched = fetching.fetch(preset)
    assert fetched.path.read_bytes() == data
    first, second = mirror.requests
    assert first[1] is None and second[1] == f"bytes={len(data) // 2}-"  # the second try resumed


def test_a_partial_file_from_an_earlier_run_is_resumed(tmp_path, mirror, cache):
    data = detr_pth(tmp_path / "detr.pth")
    preset = with_checksum("detr-r101:coco", data)
    mirror.files[preset.file_name] = data
    part = fetching.partial_path(cache / "detr" / preset.file_name)
    part.parent.mkdir(parents=True)
    part.write_bytes(data[:100])
    assert fetching.fetch(preset).path.read_bytes() == data
    assert mirror.requests == [(f"/{preset.file_name}", "bytes=100-")]


def test_hash_mismatch_is_one_line_and_removes_the_file(tmp_path, mirror, cache):
    preset = find("detr-r50:coco")  # the publisher's SHA-256 prefix e632da11: the test file has another
    mirror.files[preset.file_name] = detr_pth(tmp_path / "other.pth")
    with pytest.raises(ExportError) as error:
        fetching.fetch(preset)
    message = str(error.value)
    assert len(message.splitlines()) == 1
    assert "e632da11" in message and "removed" in message
    assert not [p for p in (cache / "detr").iterdir() if not p.name.endswith(".lock")]


def test_a_file_not_of_the_official_format_is_refused(tmp_path, mirror, cache):
    data = b"<html>a web page, not a checkpoint</html>"
    preset = with_checksum("detr-r50-dc5:coco", data)
    mirror.files[preset.file_name] = data
    with pytest.raises(ExportError, match="not the official format.*removed"):
        fetching.fetch(preset)
    assert not (cache / "detr" / preset.file_name).exists()


def test_not_found_is_one_line_naming_the_url(mirror, cache):
    preset = find("detr-r101-dc5:coco")
    with pytest.raises(ExportError) as error:
        fetching.fetch(preset)
    assert (
        str(error.value)
        == f"cannot download {preset.key}: HTTP 404 Not Found from {mirror.base_url}/{preset.file_name}"
    )
    assert len(mirror.requests) == 1  # a 404 is not retried


def test_a_stalled_server_times_out_and_keeps_what_arrived(tmp_path, mirror, cache, monkeypatch):
    monkeypatch.setenv(fetching.TIMEOUT_ENV, "1")
    monkeypatch.setenv(fetching.RETRIES_ENV, "1")
    data = detr_pth(tmp_path / "detr.pth")
    preset = with_checksum("detr-r50:coco-panoptic", data)
    mirror.files[preset.file_name] = data
    mirror.behaviour[preset.file_name] = "stall"
    with pytest.raises(ExportError) as error:
        fetching.fetch(preset)
    message = str(error.value)
    assert len(message.splitlines()) == 1
    assert "server stalled" in message and "after 2 tries" in message
    assert not (cache / "detr" / preset.file_name).exists()


def test_offline_uses_the_cache(tmp_path, mirror, cache, monkeypatch):
    data = keras_h5(tmp_path / "w.h5")
    preset = with_checksum("efficientnet-b3:imagenet", data, "md5")
    mirror.files[preset.file_name] = data
    fetching.fetch(preset)
    monkeypatch.setenv(fetching.OFFLINE_ENV, "1")
    mirror.files.clear()
    again = fetching.fetch(preset)
    assert not again.downloaded and again.path.read_bytes() == data
    assert len(mirror.requests) == 1


def test_offline_without_the_file_says_what_to_fetch_and_how(mirror, cache, monkeypatch):
    monkeypatch.setenv(fetching.OFFLINE_ENV, "1")
    preset = find("stylegan:ffhq")
    with pytest.raises(ExportError) as error:
        fetching.fetch(preset)
    message = str(error.value)
    assert len(message.splitlines()) == 1
    assert "python -m export weights fetch stylegan:ffhq" in message
    assert str(cache / "stylegan" / "karras2019stylegan-ffhq-1024x1024.pkl") in message
    assert mirror.requests == []


def test_a_file_copied_into_the_cache_by_hand_is_verified_once(tmp_path, cache, monkeypatch):
    """The air-gapped route: fetch elsewhere, copy the file in, run offline."""
    monkeypatch.setenv(fetching.OFFLINE_ENV, "1")
    data = detr_pth(tmp_path / "detr.pth")
    preset = with_checksum("detr-r50:coco", data)
    (cache / "detr").mkdir(parents=True)
    (cache / "detr" / preset.file_name).write_bytes(data)
    fetched = fetching.fetch(preset)
    assert fetched.sha256 == hashlib.sha256(data).hexdigest() and fetching.cached(preset) is not None


def test_concurrent_fetches_of_one_file_download_it_once(tmp_path, mirror, cache):
    data = keras_h5(tmp_path / "w.h5") + b"\0" * 100_000
    preset = with_checksum("efficientnet-b1:imagenet", data, "md5")
    mirror.files[preset.file_name] = data
    mirror.behaviour[preset.file_name] = "slow"
    results, errors = [], []

    def worker():
        try:
            results.append(fetching.fetch(preset))
        except Exception as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len(results) == 3 and {r.path for r in results} == {cache / "efficientnet" / preset.file_name}
    assert sorted(r.downloaded for r in results) == [False, False, True]
    assert mirror.bodies_sent_from_zero(preset.file_name) == 1


def test_stylegan_pickles_have_no_hash_so_their_structure_is_checked(tmp_path, mirror, cache, monkeypatch):
    good, bad = tmp_path / "good.pkl", tmp_path / "bad.pkl"
    write_official_pickle(good, monkeypatch, resolution=16)
    write_official_pickle(bad, monkeypatch, resolution=16, edit=lambda synthesis: synthesis.pop("4x4/Const/const"))
    preset = dataclasses.replace(find("stylegan:cats"), check=partial(check_official_pickle, resolution=16))
    assert preset.checksum is None
    mirror.files[preset.file_name] = bad.read_bytes()
    with pytest.raises(ExportError, match="lacks the variable G_synthesis/4x4/Const/const"):
        fetching.fetch(preset)
    mirror.files[preset.file_name] = good.read_bytes()
    fetched = fetching.fetch(preset)
    assert fetched.sha256 == hashlib.sha256(good.read_bytes()).hexdigest()  # recorded: what was fetched


def drive_preset(server, file_name: str, data: bytes):
    """A preset hosted the way Google Drive hosts the StyleGAN pickles, on the loopback server."""
    return dataclasses.replace(
        find("stylegan:bedrooms"),
        file_name=file_name,
        url=f"{server.base_url}/uc?export=download&id=abc",
        host=GOOGLE_DRIVE,
        check=lambda path: None,
        checksum=f"sha256:{hashlib.sha256(data).hexdigest()}",
    )


def test_google_drive_confirmation_page_leads_to_the_file(cache):
    data = os.urandom(5000)
    page = (
        '<html><body><form id="download-form" action="/download" method="get">'
        '<input type="hidden" name="id" value="abc"><input type="hidden" name="export" value="download">'
        '<input type="hidden" name="confirm" value="t"><input type="hidden" name="file" value="big.pkl">'
        "</form>Google Drive can't scan this file for viruses.</body></html>"
    )
    with serving() as server:
        server.pages["/uc"] = ("text/html; charset=utf-8", page.encode())
        server.files["big.pkl"] = data
        fetched = fetching.fetch(drive_preset(server, "big.pkl", data))
        assert fetched.path.read_bytes() == data
        assert [path.split("?")[0] for path, _ in server.requests] == ["/uc", "/download"]


def test_google_drive_quota_is_said_plainly(cache):
    page = "<html><body>Too many users have viewed or downloaded this file recently.</body></html>"
    with serving() as server:
        server.pages["/uc"] = ("text/html", page.encode())
        with pytest.raises(ExportError) as error:
            fetching.fetch(drive_preset(server, "quota.pkl", b"x"))
    message = str(error.value)
    assert len(message.splitlines()) == 1 and "too many downloads" in message and "try again later" in message.lower()


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": str(REPO), **env}
    environment.pop("EXPORT_VERBOSE", None)
    return subprocess.run(
        [sys.executable, "-m", "export", *args], cwd=REPO, env=environment, capture_output=True, text=True, timeout=120
    )


def test_weights_fetch_command_fetches_and_list_shows_the_cache(tmp_path, mirror, cache):
    """`python -m export weights fetch KEY` through the mirror; a bad key fails before any download."""
    bad = run_cli("weights", "fetch", "stylegan:ffhq", "detr-r50:cocoo", env={fetching.CACHE_ENV: str(cache)})
    (line,) = bad.stderr.strip().splitlines()
    assert bad.returncode == 2 and line.startswith("error: no published weights named 'detr-r50:cocoo': did you mean")
    assert "detr-r50:coco," in line and line.endswith("see python -m export weights list")
    assert mirror.requests == []

    data = detr_pth(tmp_path / "detr.pth")
    preset = find("detr-r50:coco")
    (cache / "detr").mkdir(parents=True)
    mirror.files[preset.file_name] = data  # the publisher's hash does not fit a test file: expect the refusal
    refused = run_cli("weights", "fetch", preset.key, env={fetching.CACHE_ENV: str(cache)})
    assert refused.returncode == 2 and "e632da11" in refused.stderr.splitlines()[-1]

    listing = run_cli("weights", "list", "--model", "detr", env={fetching.CACHE_ENV: str(cache)})
    assert listing.returncode == 0
    lines = listing.stdout.splitlines()
    assert lines[0].split() == ["KEY", "SIZE", "CHECKSUM", "LICENCE", "PAPER", "CACHED"]
    assert sum(line.startswith("detr-") for line in lines) == 7  # 4 detection + 3 panoptic checkpoints


def test_offline_export_without_the_weights_is_one_line_before_tensorflow(cache):
    result = run_cli(
        "detr", "--weights", "coco", "--models-dir", str(cache / "models"),
        env={fetching.CACHE_ENV: str(cache), fetching.OFFLINE_ENV: "1"},
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: detr-r50:coco is not in the cache ({cache / 'detr' / 'detr-r50-e632da11.pth'}) and KTS_OFFLINE is "
        "set: run `python -m export weights fetch detr-r50:coco` where "
        "https://dl.fbaipublicfiles.com/detr/detr-r50-e632da11.pth is reachable and copy the file to "
        f"{cache / 'detr' / 'detr-r50-e632da11.pth'}, or point KTS_WEIGHTS_MIRROR at a server that has "
        "detr-r50-e632da11.pth and unset KTS_OFFLINE"
    ]
