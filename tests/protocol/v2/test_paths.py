"""The v2 REST URL grammar: what the server parses is what the clients build."""

import pytest

from protocol.v2 import paths
from protocol.v2.paths import V2Call


@pytest.mark.parametrize(
    "method, path, call",
    [
        ("GET", "/v2", V2Call(paths.SERVER_METADATA)),
        ("GET", "/v2/health/live", V2Call(paths.SERVER_LIVE)),
        ("GET", "/v2/health/ready", V2Call(paths.SERVER_READY)),
        ("GET", "/v2/models/detr", V2Call(paths.MODEL_METADATA, "detr")),
        ("GET", "/v2/models/detr/versions/3", V2Call(paths.MODEL_METADATA, "detr", "3")),
        ("GET", "/v2/models/detr/versions/stable/ready", V2Call(paths.MODEL_READY, "detr", "stable")),
        ("POST", "/v2/models/my%20model/infer", V2Call(paths.INFER, "my model")),
        ("POST", "/v2/models/a%2Fb/versions/2/infer", V2Call(paths.INFER, "a/b", "2")),
        ("POST", "/v2/repository/index", V2Call(paths.REPOSITORY_INDEX)),
        ("POST", "/v2/repository/models/detr/load", V2Call(paths.REPOSITORY_LOAD, "detr")),
        ("POST", "/v2/repository/models/detr/unload", V2Call(paths.REPOSITORY_UNLOAD, "detr")),
    ],
)
def test_parse(method, path, call):
    assert paths.parse(method, path) == call


@pytest.mark.parametrize(
    "method, path, code",
    [
        ("GET", "/v2/models", "NOT_FOUND"),
        ("GET", "/v2/models/detr/config", "NOT_FOUND"),
        ("GET", "/v2/models/detr/versions/1/stats", "NOT_FOUND"),
        ("GET", "/v2/health", "NOT_FOUND"),
        ("GET", "/v2/models/detr/infer", "INVALID_ARGUMENT"),
        ("POST", "/v2/models/detr", "INVALID_ARGUMENT"),
        ("DELETE", "/v2/repository/index", "INVALID_ARGUMENT"),
    ],
)
def test_errors(method, path, code):
    with pytest.raises(paths.PathError) as error:
        paths.parse(method, path)
    assert error.value.code == code


def test_built_paths_parse_back():
    for kind in (paths.MODEL_METADATA, paths.MODEL_READY, paths.INFER):
        for version in ("", "7", "canary/2"):
            built = paths.model_path("a b/c", version, kind)
            assert paths.parse(paths.METHODS[kind], built) == V2Call(kind, "a b/c", version)
    for kind in (paths.REPOSITORY_LOAD, paths.REPOSITORY_UNLOAD):
        assert paths.parse("POST", paths.repository_path("x/y", kind)) == V2Call(kind, "x/y")


def test_is_v2_path():
    assert paths.is_v2_path("/v2") and paths.is_v2_path("/v2/models/x")
    assert not paths.is_v2_path("/v1/models/x") and not paths.is_v2_path("/v2x")


def test_versions_and_labels():
    assert paths.version_or_label("") == (None, None)
    assert paths.version_or_label("0003") == (3, None)
    assert paths.version_or_label("stable") == (None, "stable")
    assert paths.version_or_label("-1") == (None, "-1")
    with pytest.raises(ValueError, match="larger than any int64"):
        paths.version_or_label("9" * 5000)
    assert paths.version_string(3) == "3" and paths.version_string(label="canary") == "canary"
    assert paths.version_string() == ""
