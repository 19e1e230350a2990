"""protocol.object_store against real S3 and GCS protocol servers on 127.0.0.1 (moto, gcp-storage-emulator):
what the server and the exporter rely on, and every failure as one StoreError with a canonical code,
in bounded time."""

from __future__ import annotations

import time

import pytest

from protocol.object_store import StoreError, StoreOptions, is_remote, open_store, parse_url
from protocol.object_store.marker import manifest, read_manifest
from serving.testing.server_process import free_port
from tests.fixtures.object_storage import HangingEndpoint, S3Emulator

pytest.importorskip("boto3", reason="the [object-storage] extra is not installed")
pytest.importorskip("google.cloud.storage", reason="the [object-storage] extra is not installed")

FAST = StoreOptions(timeout_s=1.0, attempts=2)


@pytest.fixture
def store_env(object_store, monkeypatch):
    for key, value in object_store.env.items():
        monkeypatch.setenv(key, value)
    return object_store


def test_urls():
    assert parse_url("s3://bucket/models/m/").key == "models/m"
    assert str(parse_url("gs://bucket").child("m").child("3")) == "gs://bucket/m/3"
    assert parse_url("GS://b/x").prefix == "x/" and parse_url("s3://b").prefix == ""
    assert is_remote("s3://b/x") and is_remote("gs://b") and not is_remote("/models/x") and not is_remote("hdfs://x")
    for bad in ("s3://", "s3:///x", "gs://b/a//c", "s3://b/../x", "/local"):
        with pytest.raises(ValueError):
            parse_url(bad)


def test_marker_manifest_round_trip_and_plain_markers():
    files = {"saved_model.pb": 10, "variables/variables.index": 3}
    assert read_manifest(manifest(files)) == files
    for plain in (b"", b"\n", b"not json", b'{"files": ["a"]}', b'{"files": {"a": -1}}', b'{"files": {"a": true}}'):
        assert read_manifest(plain) is None


def test_list_read_download_upload_put_delete(store_env, tmp_path):
    store_env.create_bucket("roundtrip")
    store = open_store(store_env.url("roundtrip"), FAST)
    source = tmp_path / "weights.bin"
    source.write_bytes(b"\x00\x01" * 5000)
    store.upload(str(source), "m/1/variables/weights.bin")
    store.put("m/1/saved_model.pb", b"graph")
    store.put("m/10/saved_model.pb", b"other")
    listed = store.list("m/1/", limit=100)
    assert [(o.key, o.size) for o in listed] == [("m/1/saved_model.pb", 5), ("m/1/variables/weights.bin", 10000)]
    assert all(o.etag for o in listed)
    store.put("m/1/saved_model.pb", b"graph2")  # written again: a new etag
    assert store.list("m/1/saved_model.pb", 10)[0].etag != listed[0].etag
    assert store.read("m/1/saved_model.pb", limit=100) == b"graph2"
    with pytest.raises(StoreError) as info:
        store.read("m/1/variables/weights.bin", limit=100)
    assert info.value.code == "FAILED_PRECONDITION"
    store.download("m/1/variables/weights.bin", str(tmp_path / "copy.bin"))
    assert (tmp_path / "copy.bin").read_bytes() == source.read_bytes()
    with pytest.raises(StoreError) as info:
        store.list("m/", limit=2)
    assert info.value.code == "RESOURCE_EXHAUSTED"
    store.delete(["m/1/saved_model.pb", "m/1/variables/weights.bin", "m/1/never-there"])
    assert [o.key for o in store.list("m/", 100)] == ["m/10/saved_model.pb"]
    with pytest.raises(StoreError) as info:
        store.read("m/1/saved_model.pb", 100)
    assert info.value.code == "NOT_FOUND" and store_env.url("roundtrip", "m/1/saved_model.pb") in info.value.message


def test_a_missing_bucket_is_not_found(store_env):
    with pytest.raises(StoreError) as info:
        open_store(store_env.url("no-such-bucket"), FAST).list("m/", 10)
    assert info.value.code == "NOT_FOUND"
    assert info.value.message.startswith(store_env.url("no-such-bucket", "m/"))


@pytest.mark.parametrize("scheme", ["s3", "gs"])
def test_an_endpoint_that_hangs_is_deadline_exceeded_in_bounded_time(scheme, monkeypatch):
    with HangingEndpoint() as hanging:
        variable = "AWS_ENDPOINT_URL" if scheme == "s3" else "STORAGE_EMULATOR_HOST"
        monkeypatch.setenv(variable, hanging.endpoint)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        started = time.monotonic()
        with pytest.raises(StoreError) as info:
            open_store(f"{scheme}://bucket/m", FAST).list("m/", 10)
        elapsed = time.monotonic() - started
    assert info.value.code == "DEADLINE_EXCEEDED", info.value
    assert "did not answer within 1 s" in info.value.message
    assert hanging.accepted >= 1
    assert elapsed < 30  # 2 attempts of 1 s each, plus back-off: never the SDKs' default minutes


@pytest.mark.parametrize("scheme", ["s3", "gs"])
def test_an_endpoint_that_refuses_connections_is_unavailable(scheme, monkeypatch):
    variable = "AWS_ENDPOINT_URL" if scheme == "s3" else "STORAGE_EMULATOR_HOST"
    monkeypatch.setenv(variable, f"http://127.0.0.1:{free_port()}")  # nothing listens there
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    with pytest.raises(StoreError) as info:
        open_store(f"{scheme}://bucket/m", FAST).list("m/", 10)
    assert info.value.code == "UNAVAILABLE", info.value
    assert "cannot reach the endpoint" in info.value.message


def test_s3_access_denied_and_unknown_keys(monkeypatch):
    with S3Emulator(iam_free_actions=3) as s3:  # bucket, user, key: then IAM decides
        s3.create_bucket("private")
        iam = s3.client("iam")
        iam.create_user(UserName="nobody")
        key = iam.create_access_key(UserName="nobody")["AccessKey"]
        for name, value in s3.env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
        with pytest.raises(StoreError) as info:
            open_store("s3://private/m", FAST).list("m/", 10)
        assert info.value.code == "PERMISSION_DENIED"
        assert info.value.message.startswith("s3://private/m/: access denied (AccessDenied")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIANOTAKEYATALL0000")
        with pytest.raises(StoreError) as info:
            open_store("s3://private/m", FAST).list("m/", 10)
        assert info.value.code == "UNAUTHENTICATED"
