"""Start-up: flag forms, and the ways start-up fails (each a real process that must exit non-zero)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from serving.flags import parse_flags
from serving.testing.models import build_half_plus_two
from serving.testing.server_process import REPO_ROOT, ServerProcess, model_config_text, run_server


def test_flag_forms_match_tensorflow_model_server():
    args = parse_flags(
        [
            "--port=9000",
            "--rest_api_port",
            "9001",
            "--enable_model_warmup=false",
            "--enable_batching",
            "--rest_api_enable_cors_support=true",
            "--model_name=m",
            "--model_base_path=/models/m",
        ]
    )
    assert (args.port, args.rest_api_port, args.enable_model_warmup, args.enable_batching) == (9000, 9001, False, True)
    assert args.rest_api_enable_cors_support is True and args.model_name == "m"
    defaults = parse_flags([])
    assert (defaults.port, defaults.rest_api_port, defaults.rest_api_timeout_in_ms) == (8500, 0, 30000)
    assert (defaults.model_name, defaults.file_system_poll_wait_seconds, defaults.enable_model_warmup) == (
        "default",
        1,
        True,
    )
    assert (defaults.rest_api_host, defaults.grpc_host) == ("0.0.0.0", "0.0.0.0")


def test_unknown_flag_is_a_clear_error():
    result = subprocess.run(
        [sys.executable, "-m", "serving", "--model_nmae=x"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert "unrecognized arguments: --model_nmae=x" in result.stderr


def test_bad_model_config_fails_like_the_official_server(tmp_path):
    config = tmp_path / "bad.config"
    config.write_text("model_config_list { config { name: 'x' base_path: '/m' bogus_field: 1 } }")
    result = run_server([f"--model_config_file={config}", "--rest_api_port=0"])
    assert result.returncode != 0
    assert "Error parsing text-format tensorflow.serving.ModelServerConfig" in result.stderr
    assert f"Failed to start server. Error: INVALID_ARGUMENT: Invalid protobuf file: '{config}'" in result.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "Both server_options.model_base_path and server_options.model_config_file are empty!"),
        (
            ["--model_base_path=/x", "--batching_parameters_file=/b"],
            "server_options.batching_parameters_file is set without setting server_options.enable_batching to true.",
        ),
        (["--model_base_path=relative/dir"], "Expected model default to have an absolute path or URI"),
    ],
)
def test_invalid_options_fail_start_up(args, message):
    result = run_server(args)
    assert result.returncode != 0
    assert message in result.stderr


def test_label_on_unloaded_version_fails_start_up_without_the_flag(tmp_path):
    base = tmp_path / "hp2"
    base.mkdir()
    config = tmp_path / "models.config"
    config.write_text(model_config_text([{"name": "hp2", "base_path": base, "labels": {"stable": 1}}]))
    result = run_server([f"--model_config_file={config}"])
    assert result.returncode != 0
    assert (
        "Request to assign label to version 1 of model hp2, which is not currently available for inference"
        in result.stderr
    )


@pytest.mark.slow
def test_broken_latest_version_fails_start_up_and_ignores_non_integer_dirs(tmp_path):
    base = tmp_path / "hp2"
    build_half_plus_two(base, version=1)
    (base / "2").mkdir()  # looks like a version, holds no SavedModel
    (base / "v7").mkdir()  # not a version at all
    server = ServerProcess(model_name="hp2", model_base_path=base, args=["--max_num_load_retries=0"])
    server.start(wait=False)
    code = server.wait_exit(timeout=180)
    assert code != 0
    log = server.log()
    assert "1 model(s) did not become available: {{{name: hp2 version: 2} due to error:" in log
    assert "version: 7" not in log
