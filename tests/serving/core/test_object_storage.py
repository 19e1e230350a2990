"""The serving core over object storage, against real S3 and GCS protocol servers on 127.0.0.1 (moto,
gcp-storage-emulator), with a loader that records what it was handed (no TensorFlow): discovery, the
version policy, a new version swapped in, deletion, incomplete uploads never handed to the loader, the
bounded cache, and failing buckets as the model's status that hold nothing else."""

from __future__ import annotations

import itertools
import os
import threading
from pathlib import Path

import pytest
from google.protobuf import text_format

from protocol.generated.tensorflow_serving.apis import model_pb2
from protocol.generated.tensorflow_serving.config import model_server_config_pb2
from protocol.object_store import StoreOptions
from protocol.object_store.marker import MARKER, manifest
from serving.core.remote_versions import ObjectStorageOptions
from serving.core.server_core import ServerCore
from serving.errors import ServingError
from serving.options import ServerOptions
from serving.testing.server_process import model_config_text
from tests.fixtures.object_storage import HangingEndpoint, S3Emulator
from tests.serving.core.fakes import Loads, states, until

pytest.importorskip("boto3", reason="the [object-storage] extra is not installed")
pytest.importorskip("google.cloud.storage", reason="the [object-storage] extra is not installed")

FILES = {  # a SavedModel's names, small contents
    "variables/variables.data-00000-of-00001": b"weights" * 100,
    "variables/variables.index": b"index",
    "assets.extra/tf_serving_warmup_requests": b"",
    "saved_model.pb": b"graph",
}
_buckets = itertools.count()


class CopyingLoads(Loads):
    """Records, for each load, the files the local copy held when the loader was called."""

    def __init__(self):
        super().__init__()
        self.seen: dict[tuple[str, int], dict[str, bytes]] = {}
        self.paths: dict[tuple[str, int], str] = {}

    def load(self, name, version, path):
        root = Path(path)
        self.seen[(name, version)] = {
            p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()
        }
        self.paths[(name, version)] = path
        return super().load(name, version, path)


def _config(models):
    return text_format.Parse(model_config_text(models), model_server_config_pb2.ModelServerConfig())


def _write(tmp_path: Path, offset: int = 0) -> Path:
    root = tmp_path / f"version-{offset}-{next(_buckets)}"
    for relative, data in FILES.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(data + str(offset).encode())
    return root


@pytest.fixture
def bucket(object_store, monkeypatch):
    for key, value in object_store.env.items():
        monkeypatch.setenv(key, value)
    name = f"models-{next(_buckets)}"
    object_store.create_bucket(name)
    return object_store, name


@pytest.fixture
def loads():
    return CopyingLoads()


def _core(loads, tmp_path, **storage):
    options = ObjectStorageOptions(
        cache_dir=str(tmp_path / "cache"), store=StoreOptions(timeout_s=1.0, attempts=2), **storage
    )
    return ServerCore(
        ServerOptions(file_system_poll_wait_seconds=0, max_num_load_retries=0, object_storage=options),
        load=loads.load,
        unload=loads.unload,
    )


@pytest.fixture
def core(loads, tmp_path):
    core = _core(loads, tmp_path)
    yield core
    core.stop()


def _copies(core) -> list[str]:
    root = core.version_cache().root
    return sorted(n for n in os.listdir(root) if not n.startswith("."))


def _scan(core) -> None:
    """One poll of every model, finished."""
    core.source.poll()
    until(lambda: not core.source._scanning, "the scans")


def _poll_until(core, condition, what):
    def check():
        core.source.poll()
        return condition()

    until(check, what)


def test_discovery_swap_and_deletion(core, loads, bucket, tmp_path):
    emulator, name = bucket
    base = emulator.url(name, "models/m")
    emulator.publish_tree(_write(tmp_path, 1), f"{base}/1")
    core.reload_config(_config([{"name": "m", "base_path": base}]), timeout=60)  # waits for version 1
    assert states(core.lifecycle, "m") == {1: "AVAILABLE"}
    assert loads.seen[("m", 1)] == {path: data + b"1" for path, data in FILES.items()}  # the whole version
    assert loads.paths[("m", 1)].startswith(str(tmp_path / "cache"))
    assert len(_copies(core)) == 1

    emulator.publish_tree(_write(tmp_path, 2), f"{base}/0002")  # a new version while serving
    _poll_until(core, lambda: states(core.lifecycle, "m") == {2: "AVAILABLE", 1: "END"}, "the swap to 2")
    assert loads.unloaded == [("m", 1)]
    assert _copies(core) == [os.path.basename(loads.paths[("m", 2)])]  # 1's copy went with its unload

    emulator.delete_tree(f"{base}/0002/")  # deleted: version 1 is the latest again, and loads before 2 goes
    _poll_until(core, lambda: states(core.lifecycle, "m") == {2: "END", 1: "AVAILABLE"}, "1 back, 2 gone")
    assert loads.unloaded == [("m", 1), ("m", 2)] and loads.calls[("m", 1)] == 2
    assert _copies(core) == [os.path.basename(loads.paths[("m", 1)])]


def test_policies_and_labels_apply_to_complete_versions(core, loads, bucket, tmp_path):
    emulator, name = bucket
    base = emulator.url(name, "p")
    for version in (1, 2, 3):
        emulator.publish_tree(_write(tmp_path, version), f"{base}/{version}")
    core.reload_config(_config([{"name": "p", "base_path": base, "policy": "specific { versions: 1 versions: 3 }"}]))
    _poll_until(core, lambda: states(core.lifecycle, "p") == {3: "AVAILABLE", 1: "AVAILABLE"}, "1 and 3")
    core.reload_config(
        _config(
            [{"name": "p", "base_path": base, "policy": "specific { versions: 1 versions: 3 }", "labels": {"old": 1}}]
        )
    )
    with core.servable(model_pb2.ModelSpec(name="p", version_label="old")) as servable:
        assert servable.version == 1
    assert ("p", 2) not in loads.calls


def test_an_incomplete_version_is_never_handed_to_the_loader(loads, bucket, tmp_path):
    emulator, name = bucket
    base = emulator.url(name, "inc")
    emulator.publish_tree(_write(tmp_path, 1), f"{base}/1")
    core = _core(loads, tmp_path, quiet_seconds=-1)  # marked versions only
    try:
        core.reload_config(_config([{"name": "inc", "base_path": base}]), timeout=60)
        version = _write(tmp_path, 2)
        # Every file but one, then a marker whose manifest names them all (a sync that copied the marker early):
        files = emulator.upload_tree(version, f"{base}/2", order=[p for p in FILES if p != "saved_model.pb"])
        emulator.put(f"{base}/2/{MARKER}", manifest({f: (version / f).stat().st_size for f in FILES}))
        # Version 3: all its files, no marker (--object_storage_quiet_seconds=-1 waits for one).
        emulator.upload_tree(_write(tmp_path, 3), f"{base}/3")
        for _ in range(5):
            _scan(core)
        assert states(core.lifecycle, "inc") == {1: "AVAILABLE"}
        assert set(loads.calls) == {("inc", 1)} and files
        emulator.upload_tree(version, f"{base}/2", order=["saved_model.pb"])  # the last file: now complete
        _poll_until(core, lambda: states(core.lifecycle, "inc").get(2) == "AVAILABLE", "version 2 once complete")
        assert loads.seen[("inc", 2)] == {path: data + b"2" for path, data in FILES.items()}
        emulator.put(f"{base}/3/{MARKER}", b"")  # a plain marker, as `touch _SUCCESS` after a sync writes
        _poll_until(core, lambda: states(core.lifecycle, "inc").get(3) == "AVAILABLE", "version 3 once marked")
    finally:
        core.stop()


def test_an_unmarked_version_is_served_once_whole_and_quiet(loads, bucket, tmp_path):
    emulator, name = bucket
    base = emulator.url(name, "quiet")
    core = _core(loads, tmp_path, quiet_seconds=1.0)
    try:
        version = _write(tmp_path, 1)
        emulator.upload_tree(version, f"{base}/1", order=["saved_model.pb", "variables/variables.index"])
        with pytest.raises(ServingError) as info:  # no complete version: the reload's wait ends, the model stays
            core.reload_config(_config([{"name": "q", "base_path": base}]), timeout=1.5)
        assert info.value.code_name == "DEADLINE_EXCEEDED"
        for _ in range(4):  # a data shard is missing: never whole, however quiet
            _scan(core)
            threading.Event().wait(0.4)
        assert not loads.calls
        emulator.upload_tree(version, f"{base}/1", order=list(FILES)[:1] + list(FILES)[2:3])
        _poll_until(core, lambda: states(core.lifecycle, "q").get(1) == "AVAILABLE", "the quiet, whole version")
        assert loads.seen[("q", 1)] == {path: data + b"1" for path, data in FILES.items()}
    finally:
        core.stop()


def test_the_cache_is_bounded_and_a_version_that_does_not_fit_fails_clearly(loads, bucket, tmp_path):
    emulator, name = bucket
    base = emulator.url(name, "big")
    size = sum(len(d) + 1 for d in FILES.values())
    core = _core(loads, tmp_path, cache_bytes=size + 10)  # one version fits, not two
    try:
        emulator.publish_tree(_write(tmp_path, 1), f"{base}/1")
        core.reload_config(_config([{"name": "big", "base_path": base}]), timeout=60)
        assert core.version_cache().used_bytes == size
        emulator.publish_tree(_write(tmp_path, 2), f"{base}/2")
        _poll_until(core, lambda: states(core.lifecycle, "big").get(2) == "END", "version 2 to fail")
        (status,) = [s for s in core.lifecycle.statuses("big") if s.version == 2]
        assert status.error.code_name == "RESOURCE_EXHAUSTED"
        assert f"needs {size} bytes; the object-storage cache holds {size} of its {size + 10}" in status.error.message
        assert states(core.lifecycle, "big")[1] == "AVAILABLE"  # the old version keeps serving
        assert len(_copies(core)) == 1 and core.version_cache().used_bytes == size
    finally:
        core.stop()


def test_a_reload_naming_a_missing_bucket_is_refused_whole(core, loads, bucket, tmp_path):
    emulator, name = bucket
    emulator.publish_tree(_write(tmp_path, 1), emulator.url(name, "a/1"))
    core.reload_config(_config([{"name": "a", "base_path": emulator.url(name, "a")}]), timeout=60)
    missing = emulator.url("no-such-bucket", "b")
    with pytest.raises(ServingError) as info:
        core.reload_config(
            _config([{"name": "a", "base_path": emulator.url(name, "a")}, {"name": "b", "base_path": missing}])
        )
    assert info.value.code_name == "INVALID_ARGUMENT"
    assert info.value.message.startswith(f"Could not find base path {missing} for servable b with error NOT_FOUND: ")


def test_a_hanging_endpoint_is_the_models_status_and_holds_nothing_else(loads, tmp_path, monkeypatch):
    local = tmp_path / "local"
    (local / "1").mkdir(parents=True)
    with HangingEndpoint() as hanging:
        monkeypatch.setenv("AWS_ENDPOINT_URL", hanging.endpoint)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        core = _core(loads, tmp_path)
        try:
            config = _config([{"name": "local", "base_path": local}, {"name": "hung", "base_path": "s3://b/hung"}])
            core.reload_config(config, timeout=60)  # start-up: not held by the bucket that hangs
            assert states(core.lifecycle, "local") == {1: "AVAILABLE"}
            with pytest.raises(ServingError) as info:
                core.version_states(model_pb2.ModelSpec(name="hung"))
            assert info.value.code_name == "DEADLINE_EXCEEDED"
            assert info.value.message == (
                "Could not find any versions of model hung: s3://b/hung/: the endpoint did not answer within 1 s "
                "(2 attempts)"
            )
            (local / "2").mkdir()
            core.source.poll()  # the other model's polling goes on
            until(lambda: states(core.lifecycle, "local").get(2) == "AVAILABLE", "local version 2")
        finally:
            core.stop()


def test_access_denied_is_the_models_status(loads, tmp_path, monkeypatch):
    with S3Emulator(iam_free_actions=5) as s3:  # two buckets, a user and its key: then IAM decides
        s3.create_bucket("open")
        s3.create_bucket("closed")
        iam = s3.client("iam")
        iam.create_user(UserName="server")
        key = iam.create_access_key(UserName="server")["AccessKey"]
        s3.put("s3://open/m/1/saved_model.pb", b"")  # the 5th free action
        for name, value in s3.env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
        core = _core(loads, tmp_path)
        try:
            core.reload_config(_config([{"name": "denied", "base_path": "s3://closed/m"}]), timeout=60)
            with pytest.raises(ServingError) as info:
                core.version_states(model_pb2.ModelSpec(name="denied"))
            assert info.value.code_name == "PERMISSION_DENIED"
            assert info.value.message.startswith(
                "Could not find any versions of model denied: s3://closed/m/: access denied (AccessDenied"
            )
        finally:
            core.stop()


def test_a_cache_left_by_a_server_that_died_is_removed_and_a_live_one_kept(tmp_path):
    from serving.core.version_cache import VersionCache

    options = ObjectStorageOptions(cache_dir=str(tmp_path))
    live = VersionCache(options)  # holds its lock, as a running server does
    dead = tmp_path / "serving-cache-dead"
    (dead / "m-1-0000").mkdir(parents=True)
    (dead / ".lock").touch()  # its server is gone: nobody holds the lock
    foreign = tmp_path / "serving-cache-not-ours"
    foreign.mkdir()  # no lock file: not a cache this code made
    second = VersionCache(options)
    try:
        assert not dead.exists() and foreign.is_dir() and os.path.isdir(live.root)
    finally:
        live.close()
        second.close()
    assert not os.path.exists(live.root) and not os.path.exists(second.root)
