"""Versions on disk: odd names skipped, missing or unreadable base paths, the version policies."""

from __future__ import annotations

import pytest

from protocol.generated.tensorflow_serving.config import model_server_config_pb2
from serving.core.versions import aspired_versions, list_versions
from serving.errors import ServingError


def test_odd_names_are_skipped_not_raised(tmp_path):
    for name in ("1", "0002", "²", "١", "v3", "1.5", "0x10", "99999999999999999999"):
        (tmp_path / name).mkdir()
    (tmp_path / "notes.txt").write_text("x")
    assert list_versions(str(tmp_path), "m") == {1: str(tmp_path / "1"), 2: str(tmp_path / "0002")}


def test_missing_base_path_has_the_official_message(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(ServingError) as info:
        list_versions(str(missing), "m")
    assert info.value.code_name == "INVALID_ARGUMENT"
    assert (
        info.value.message
        == f"Could not find base path {missing} for servable m with error NOT_FOUND: {missing} not found"
    )


def test_unreadable_base_path_is_a_serving_error(tmp_path):
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("x")
    with pytest.raises(ServingError) as info:
        list_versions(str(not_a_directory), "m")
    assert info.value.code_name == "INVALID_ARGUMENT"


def _model(base, policy=""):
    from google.protobuf import text_format

    return text_format.Parse(
        f'name: "m" base_path: "{base}" model_platform: "tensorflow" {policy}', model_server_config_pb2.ModelConfig()
    )


def test_policies_choose_from_what_is_on_disk(tmp_path):
    for name in ("1", "2", "3", "²"):
        (tmp_path / name).mkdir()
    assert set(aspired_versions(_model(tmp_path))) == {3}
    assert set(aspired_versions(_model(tmp_path, "model_version_policy { latest { num_versions: 2 } }"))) == {2, 3}
    assert set(aspired_versions(_model(tmp_path, "model_version_policy { all {} }"))) == {1, 2, 3}
    assert set(aspired_versions(_model(tmp_path, "model_version_policy { specific { versions: 1 versions: 9 } }"))) == {
        1
    }
