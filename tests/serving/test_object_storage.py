"""`python -m serving` with models in object storage, against real S3 and GCS protocol servers on 127.0.0.1
(moto with IAM on, gcp-storage-emulator), over real REST and gRPC: a model served from a bucket, a version
published while requests flow (no request fails, the answers switch), a partial upload never served, a
deleted version unloaded with its local copy, and buckets that hang or deny access reported on their own
model while the others serve and reloads answer. The tests run in order against one server per store.
"""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

import grpc
import pytest
import requests
from google.protobuf import text_format
from tensorflow_serving.apis import model_management_pb2, model_service_pb2_grpc
from tensorflow_serving.config import model_server_config_pb2

from protocol.object_store.marker import MARKER, manifest
from serving.testing.models import build_half_plus_two
from serving.testing.server_process import ServerProcess, model_config_text, version_statuses
from tests.fixtures.object_storage import GCSEmulator, HangingEndpoint, S3Emulator

pytest.importorskip("boto3", reason="the [object-storage] extra is not installed")
pytest.importorskip("google.cloud.storage", reason="the [object-storage] extra is not installed")

SHARD = "variables/variables.data-00000-of-00001"
_names = itertools.count()


@pytest.fixture(scope="module", params=["s3", "gs"])
def setup(request, tmp_path_factory):
    """The server, its store, a local staging area of built versions, and the other scheme hanging."""
    root = tmp_path_factory.mktemp(f"object-storage-{request.param}")
    staging = root / "staging"
    for version in (1, 2, 3):
        build_half_plus_two(staging, version=version, offset=float(version), warmup=True)
    build_half_plus_two(root / "local", version=1, offset=10.0)
    with HangingEndpoint() as hanging:
        if request.param == "s3":
            store = S3Emulator.with_access_control(readable=["models"], unreadable=["closed"])
            other = {"STORAGE_EMULATOR_HOST": hanging.endpoint, "GOOGLE_CLOUD_PROJECT": "p"}
        else:
            store = GCSEmulator()
            other = {"AWS_ENDPOINT_URL": hanging.endpoint, "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}
        with store as emulator:
            if request.param == "gs":
                emulator.create_bucket("models")
            emulator.publish_tree(staging / "1", emulator.url("models", "hp2/1"))
            hung_scheme = "gs" if request.param == "s3" else "s3"
            models = [
                {"name": "hp2", "base_path": emulator.url("models", "hp2")},
                {"name": "local", "base_path": root / "local"},
                {"name": "hung", "base_path": f"{hung_scheme}://bucket/hung"},
            ]
            if request.param == "s3":
                models.append({"name": "denied", "base_path": "s3://closed/m"})
            config = root / "models.config"
            config.write_text(model_config_text(models))
            cache = root / "cache"
            server = ServerProcess(
                model_config_file=config,
                env={**emulator.server_env, **other},
                args=[
                    "--file_system_poll_wait_seconds=1",
                    "--object_storage_timeout_seconds=1",
                    f"--object_storage_cache_dir={cache}",
                    "--max_num_load_retries=0",
                ],
            )
            with server:
                yield {
                    "server": server,
                    "emulator": emulator,
                    "staging": staging,
                    "cache": cache,
                    "hung_scheme": hung_scheme,
                    "hanging": hanging,
                    "models": models,
                }
            assert server.returncode == 0, server.log()[-3000:]
            assert not list(cache.iterdir()), "the server's cache outlived it"


def _predict(server, model, x=2.0):
    return requests.post(f"{server.rest_url}/v1/models/{model}:predict", json={"instances": [x]}, timeout=30)


def _wait(condition, what, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _copies(cache: Path) -> list[str]:
    return sorted(p.name.rsplit("-", 1)[0] for p in cache.glob("serving-cache-*/*") if p.is_dir())


def _reload(server, models):
    config = text_format.Parse(model_config_text(models), model_server_config_pb2.ModelServerConfig())
    with grpc.insecure_channel(server.grpc_address) as channel:
        stub = model_service_pb2_grpc.ModelServiceStub(channel)
        return stub.HandleReloadConfigRequest(model_management_pb2.ReloadConfigRequest(config=config), timeout=120)


def test_a_model_in_a_bucket_serves_and_failing_buckets_are_their_models_status(setup):
    server = setup["server"]
    assert _predict(server, "hp2").json() == {"predictions": [2.0]}  # 0.5 * 2 + 1, from the bucket's version 1
    assert _predict(server, "local").json() == {"predictions": [11.0]}
    assert _copies(setup["cache"]) == ["hp2-1"]
    hung = requests.get(f"{server.rest_url}/v1/models/hung", timeout=30)
    assert hung.status_code == 504
    assert hung.json()["error"] == (
        f"Could not find any versions of model hung: {setup['hung_scheme']}://bucket/hung/: the endpoint did "
        "not answer within 1 s (3 attempts)"
    )
    assert setup["hanging"].accepted >= 1
    if any(m["name"] == "denied" for m in setup["models"]):
        denied = requests.get(f"{server.rest_url}/v1/models/denied", timeout=30)
        assert denied.status_code == 403
        assert denied.json()["error"].startswith(
            "Could not find any versions of model denied: s3://closed/m/: access denied (AccessDenied"
        )


def test_a_version_published_while_serving_is_swapped_in_without_a_failed_request(setup):
    server, emulator = setup["server"], setup["emulator"]
    answers: list[tuple[int, object]] = []
    stop = threading.Event()

    def clients():
        while not stop.is_set() and len(answers) < 5000:
            reply = _predict(server, "hp2")
            answers.append((reply.status_code, reply.json()))

    thread = threading.Thread(target=clients)
    thread.start()
    try:
        _wait(lambda: len(answers) >= 5, "requests to flow")
        emulator.publish_tree(setup["staging"] / "2", emulator.url("models", "hp2/2"))
        published = time.monotonic()
        _wait(lambda: version_statuses(server.rest_url, "hp2").get(2, {}).get("state") == "AVAILABLE", "version 2")
        available = time.monotonic() - published
        _wait(lambda: answers[-1][1] == {"predictions": [3.0]}, "answers from version 2")
        count = len(answers)
        _wait(lambda: len(answers) >= count + 5, "requests after the swap")
    finally:
        stop.set()
        thread.join(60)
    assert all(status == 200 for status, _ in answers), [a for a in answers if a[0] != 200][:3]
    assert {str(body) for _, body in answers} == {"{'predictions': [2.0]}", "{'predictions': [3.0]}"}
    _wait(lambda: version_statuses(server.rest_url, "hp2").get(1, {}).get("state") == "END", "version 1 unloaded")
    _wait(lambda: _copies(setup["cache"]) == ["hp2-2"], "version 1's copy removed")
    print(f"\n{emulator.scheme}: marker written -> version 2 AVAILABLE in {available:.2f} s ({len(answers)} requests)")


def test_a_partial_upload_is_never_served(setup):
    server, emulator, staging = setup["server"], setup["emulator"], setup["staging"]
    url = emulator.url("models", "hp2/3")
    files = sorted(p.relative_to(staging / "3").as_posix() for p in (staging / "3").rglob("*") if p.is_file())
    # Every file but the weights, and a marker copied early (as a sync of a finished export might).
    emulator.upload_tree(staging / "3", url, order=[f for f in files if f != SHARD])
    emulator.put(f"{url}/{MARKER}", manifest({f: (staging / "3" / f).stat().st_size for f in files}))
    deadline = time.monotonic() + 5  # five polls
    while time.monotonic() < deadline:
        assert 3 not in version_statuses(server.rest_url, "hp2")
        assert _predict(server, "hp2").json() == {"predictions": [3.0]}
        time.sleep(0.25)
    emulator.upload_tree(staging / "3", url, order=[SHARD])
    _wait(lambda: version_statuses(server.rest_url, "hp2").get(3, {}).get("state") == "AVAILABLE", "version 3")
    assert _predict(server, "hp2").json() == {"predictions": [4.0]}


def test_a_deleted_version_is_unloaded_and_its_copy_removed(setup):
    server, emulator = setup["server"], setup["emulator"]
    emulator.delete_tree(emulator.url("models", "hp2/3/"))
    _wait(lambda: version_statuses(server.rest_url, "hp2").get(3, {}).get("state") == "END", "version 3 unloaded")
    assert version_statuses(server.rest_url, "hp2")[2]["state"] == "AVAILABLE"
    assert _predict(server, "hp2").json() == {"predictions": [3.0]}
    _wait(lambda: _copies(setup["cache"]) == ["hp2-2"], "version 3's copy removed")


def test_a_version_the_exporter_publishes_is_served(setup, monkeypatch):
    from export.pipeline import write_version
    from tests.export.pipeline.exportables import half_plus_two

    server, emulator = setup["server"], setup["emulator"]
    for key, value in emulator.env.items():
        monkeypatch.setenv(key, value)
    published = write_version(half_plus_two(), models_dir=emulator.url("models", "exports"), name="keras_hp2")
    assert published == emulator.url("models", "exports/keras_hp2/1")
    exported = {"name": "keras_hp2", "base_path": emulator.url("models", "exports/keras_hp2")}
    assert _reload(server, [*setup["models"], exported]).status.error_code == 0  # waits for its version 1
    reply = requests.post(f"{server.rest_url}/v1/models/keras_hp2:predict", json={"instances": [[6.0]]}, timeout=30)
    assert reply.json() == {"predictions": [[5.0]]}
    assert _copies(setup["cache"]) == ["hp2-2", "keras_hp2-1"]


def test_reloads_answer_whatever_the_buckets_do(setup):
    server, emulator = setup["server"], setup["emulator"]
    models = setup["models"]
    started = time.monotonic()
    hung_too = {"name": "hung2", "base_path": f"{setup['hung_scheme']}://bucket/other"}
    assert _reload(server, [*models, hung_too]).status.error_code == 0  # accepted, its status says why it waits
    assert time.monotonic() - started < 60
    missing = {"name": "ghost", "base_path": emulator.url("no-such-bucket", "m")}
    if emulator.scheme == "gs":  # a bucket that does not exist is refused, as a missing local path is
        with pytest.raises(grpc.RpcError) as info:
            _reload(server, [*models, missing])
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert info.value.details().startswith(
            f"Could not find base path {missing['base_path']} for servable ghost with error NOT_FOUND: "
        )
    else:  # S3 answers AccessDenied for a bucket the credentials may not read, whether it exists or not
        assert _reload(server, [*models, missing]).status.error_code == 0
        url = f"{server.rest_url}/v1/models/ghost"
        _wait(lambda: requests.get(url, timeout=30).status_code == 403, "ghost's status")
        assert "s3://no-such-bucket/m/: access denied" in requests.get(url, timeout=30).json()["error"]
    assert _predict(server, "hp2").json() == {"predictions": [3.0]}
    assert _predict(server, "local").json() == {"predictions": [11.0]}
    _reload(server, [m for m in models if m["name"] != "hp2"])  # removed: unloaded, its copy removed
    _wait(lambda: _predict(server, "hp2").status_code == 404, "hp2 to be removed")
    _wait(lambda: _copies(setup["cache"]) == [], "hp2's copy removed")
