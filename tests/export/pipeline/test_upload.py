"""Publishing to object storage (`--models-dir s3://…` / `gs://…`) against real S3 and GCS protocol servers on
127.0.0.1: the version is verified locally, uploaded file by file, and completed by its `_SUCCESS` manifest,
which matches what was uploaded; versions count up, `--force` replaces, errors are one line."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from export.errors import ExportError
from export.pipeline import write_version
from export.pipeline.publish import existing_versions
from export.pipeline.upload import upload_order
from protocol.object_store.marker import MARKER, read_manifest
from tests.export.pipeline.exportables import half_plus_two

pytest.importorskip("boto3", reason="the [object-storage] extra is not installed")
pytest.importorskip("google.cloud.storage", reason="the [object-storage] extra is not installed")

REPO = Path(__file__).resolve().parents[3]
_buckets = itertools.count()


@pytest.fixture
def models_dir(object_store, monkeypatch):
    for key, value in object_store.env.items():
        monkeypatch.setenv(key, value)
    bucket = f"exports-{next(_buckets)}"
    object_store.create_bucket(bucket)
    return object_store, object_store.url(bucket, "models")


def _download(emulator, url: str, target: Path) -> Path:
    from protocol.object_store import open_store, parse_url

    parsed = parse_url(url)
    store = open_store(parsed)
    for info in store.list(parsed.prefix, 1000):
        path = target / info.key[len(parsed.prefix) :]
        path.parent.mkdir(parents=True, exist_ok=True)
        store.download(info.key, str(path))
    return target


def test_upload_order_puts_the_graph_after_its_weights():
    files = ["saved_model.pb", "assets.extra/export_info.json", "variables/variables.index", "fingerprint.pb"]
    assert upload_order(files) == [
        "variables/variables.index",
        "assets.extra/export_info.json",
        "fingerprint.pb",
        "saved_model.pb",
    ]


def test_versions_are_uploaded_complete_with_their_manifest_and_count_up(models_dir, tmp_path):
    emulator, root = models_dir
    first = write_version(half_plus_two(), models_dir=root, name="hp2")
    second = write_version(half_plus_two(), models_dir=root, name="hp2")
    assert (first, second) == (f"{root}/hp2/1", f"{root}/hp2/2")
    assert existing_versions(f"{root}/hp2") == [1, 2]
    keys = emulator.keys(f"{root}/hp2/2/")
    prefix = root.split("://", 1)[1].partition("/")[2] + "/hp2/2/"
    relative = [k[len(prefix) :] for k in keys]
    assert MARKER in relative and "saved_model.pb" in relative and "assets.extra/tf_serving_warmup_requests" in relative
    local = _download(emulator, second, tmp_path / "copy")
    files = read_manifest((local / MARKER).read_bytes())
    assert files == {p: (local / p).stat().st_size for p in relative if p != MARKER}  # the manifest is the upload
    loaded = tf.saved_model.load(str(local))
    np.testing.assert_allclose(loaded.signatures["serving_default"](x=tf.constant([[6.0]]))["y"], [[5.0]])
    info = json.loads((local / "assets.extra" / "export_info.json").read_text())
    assert info["name"] == "hp2"


def test_an_existing_version_needs_force_and_force_replaces_it(models_dir, tmp_path):
    emulator, root = models_dir
    write_version(half_plus_two(), models_dir=root, name="hp2", version=7)
    with pytest.raises(ExportError, match="already exists"):
        write_version(half_plus_two(), models_dir=root, name="hp2", version=7)
    before = emulator.keys(f"{root}/hp2/7/")
    emulator.put(f"{root}/hp2/7/stale-file", b"from an older export")
    write_version(half_plus_two(), models_dir=root, name="hp2", version=7, force=True)
    assert emulator.keys(f"{root}/hp2/7/") == before  # the old files are gone, the new ones complete
    # An unfinished upload (files, no marker) takes its number: the next version is after it.
    emulator.put(f"{root}/hp2/8/variables/variables.index", b"partial")
    assert write_version(half_plus_two(), models_dir=root, name="hp2") == f"{root}/hp2/9"


def test_a_missing_bucket_is_one_line_before_anything_is_built(object_store, monkeypatch):
    for key, value in object_store.env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ExportError) as info:
        write_version(half_plus_two(), models_dir=object_store.url("no-such-bucket", "models"), name="hp2")
    assert str(info.value).startswith(f"listing {object_store.url('no-such-bucket', 'models/hp2')}: ")
    assert "not found" in str(info.value)


def test_the_command_line_publishes_to_a_bucket(s3_emulator, tmp_path):
    from tests.export.keras_model.models import sequential

    bucket = f"cli-{next(_buckets)}"
    s3_emulator.create_bucket(bucket)
    sequential().save(tmp_path / "flowers.keras")
    result = subprocess.run(
        [sys.executable, "-m", "export", "keras", str(tmp_path / "flowers.keras"), "--models-dir", f"s3://{bucket}/m"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **s3_emulator.env},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == f"s3://{bucket}/m/flowers/1"
    assert f"{bucket}/m/flowers/1/{MARKER}" in [f"{bucket}/{k}" for k in s3_emulator.keys(f"s3://{bucket}/m/")]
    assert not (REPO / "s3:").exists()  # the URL was not taken for a relative directory
