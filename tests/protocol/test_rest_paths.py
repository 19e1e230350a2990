"""The REST path grammar: what the clients build, the server parses back to the same call."""

import pytest

from protocol import rest_paths
from protocol.rest_paths import PathError, RestCall


@pytest.mark.parametrize(
    "call",
    [
        RestCall("status", "efficientnet"),
        RestCall("metadata", "detr", version=3),
        RestCall("predict", "a b/c:d%", label="canary/é"),
        RestCall("classify", "m", version=(1 << 63) - 1),
        RestCall("regress", "m", label="stable"),
    ],
)
def test_build_then_parse_is_the_same_call(call):
    path = rest_paths.model_path(call.model, call.version, call.label, call.verb)
    assert rest_paths.is_api_path(path)
    method = "GET" if call.verb in ("status", "metadata") else "POST"
    assert rest_paths.parse(method, path) == call


def test_built_paths_are_percent_encoded():
    assert rest_paths.model_path("a b/c", label="x/y", verb="predict") == "/v1/models/a%20b%2Fc/labels/x%2Fy:predict"
    assert rest_paths.model_path("m", 7, verb="metadata") == "/v1/models/m/versions/7/metadata"


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/v1/models/m:predict"),
        ("POST", "/v1/models/m"),
        ("PUT", "/v1/models/m"),
        ("GET", "/v1/models/m/versions/abc"),
        ("GET", "/v1/models/m/versions/1/labels/x"),
        ("POST", "/v1/models/m:PREDICTX"),
        ("POST", "/v1/models/m:explain"),
    ],
)
def test_malformed_paths_name_the_request(method, path):
    with pytest.raises(PathError, match=f"^Malformed request: {method} "):
        rest_paths.parse(method, path)


def test_official_messages_and_case():
    with pytest.raises(PathError, match="^Missing model name in request.$"):
        rest_paths.parse("GET", "/v1/models")
    with pytest.raises(PathError, match="^Failed to convert version: 9223372036854775808 to numeric.$"):
        rest_paths.parse("GET", "/v1/models/m/versions/9223372036854775808")
    with pytest.raises(PathError, match="^Failed to convert version: 9{5000} to numeric.$"):
        rest_paths.parse("POST", "/v1/models/m/versions/" + "9" * 5000 + ":predict")  # past int()'s 4,300 digits
    assert rest_paths.parse("GET", "/v1/models/m/versions/" + "0" * 5000 + "7").version == 7
    assert rest_paths.parse("GET", "/v1/models/m/versions/9223372036854775807").version == (1 << 63) - 1
    assert rest_paths.parse("POST", "/V1/Models/m/Versions/2:Predict") == RestCall("predict", "m", version=2)
    assert not rest_paths.is_api_path("/v2/models/m") and not rest_paths.is_api_path("/monitoring/prometheus/metrics")


def test_building_refuses_an_ambiguous_address():
    with pytest.raises(ValueError, match="not both"):
        rest_paths.model_path("m", 1, "stable")
    with pytest.raises(ValueError, match="model name"):
        rest_paths.model_path("")
