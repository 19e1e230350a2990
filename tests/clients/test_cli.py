"""`python -m clients …` as a user runs it, against real servers on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from clients.cli import parse_seeds
from serving.testing.server_process import free_port
from tests.fixtures.pictures import sample_picture

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "clients", *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300
    )


def where(transport: str, server) -> list[str]:
    return ["--rest", server.rest_url] if transport == "rest" else ["--grpc", server.grpc_address]


def test_parse_seeds():
    assert parse_seeds("0-3,10") == [0, 1, 2, 3, 10]
    assert parse_seeds("5") == [5]


@pytest.mark.parametrize("transport", ["rest", "grpc"])
def test_status_metadata_predict(tiny_server, transport):
    status = run_cli(*where(transport, tiny_server), "status", "hpt", "--label", "stable")
    assert status.returncode == 0, status.stderr
    assert status.stdout.strip() == "hpt version 1: AVAILABLE (OK)"
    metadata = run_cli(*where(transport, tiny_server), "metadata", "multi_io")
    assert "in  a: DT_FLOAT [-1, 2]" in metadata.stdout and "out flag: DT_BOOL [-1]" in metadata.stdout
    predict = run_cli(
        *where(transport, tiny_server), "predict", "multi_io", "--inputs", '{"a": [[1.0, 2.0]], "b": [3]}'
    )
    assert predict.returncode == 0, predict.stderr
    assert json.loads(predict.stdout) == {"total": [6.0], "doubled": [[2.0, 4.0]], "flag": [True]}


@pytest.mark.parametrize("transport", ["rest", "grpc"])
def test_the_open_inference_protocol(tiny_server, transport):
    v2 = ["--protocol", "v2", *where(transport, tiny_server)]
    status = run_cli(*v2, "status", "hpt", "--label", "stable")
    assert status.returncode == 0, status.stderr
    assert status.stdout.strip() == "hpt version 1: AVAILABLE (OK)"
    metadata = run_cli("metadata", "multi_io", *v2)  # the flags after the command too
    assert "in  a: DT_FLOAT [-1, 2]" in metadata.stdout and "out flag: DT_BOOL [-1]" in metadata.stdout
    predict = run_cli(*v2, "predict", "multi_io", "--inputs", '{"a": [[1.0, 2.0]], "b": [3]}')
    assert predict.returncode == 0, predict.stderr
    assert json.loads(predict.stdout) == {"total": [6.0], "doubled": [[2.0, 4.0]], "flag": [True]}
    missing = run_cli(*v2, "predict", "nope", "--inputs", "[1.0]")
    assert missing.returncode == 1 and "error: NOT_FOUND: " in missing.stderr


@pytest.mark.parametrize("transport", ["rest", "grpc"])
def test_errors_are_one_line_and_exit_1(tiny_server, transport):
    result = run_cli(*where(transport, tiny_server), "status", "nope")
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]  # TF logs its own lines
    assert len(errors) == 1 and errors[0].startswith("error: NOT_FOUND: ")


@pytest.mark.slow
@pytest.mark.parametrize("transport", ["rest", "grpc"])
def test_image_commands_write_results(models_server, transport, tmp_path):
    photo = tmp_path / "china.jpg"
    photo.write_bytes(sample_picture("china.jpg"))
    top = run_cli(*where(transport, models_server), "classify-image", str(photo), str(photo))
    assert top.returncode == 0, top.stderr
    assert top.stdout.count(f"{photo}:") == 2 and len(top.stdout.strip().splitlines()) == 12
    detect = run_cli(
        *where(transport, models_server),
        "detect",
        str(photo),
        "--threshold",
        "0",
        "--max-detections",
        "4",
        "--out",
        str(tmp_path / "boxes"),
    )
    assert detect.returncode == 0, detect.stderr
    drawn = Image.open(tmp_path / "boxes" / "china_detections.png")
    assert drawn.size == (640, 427) and "4 detections" in detect.stdout
    grid_path = tmp_path / "grid.png"
    generate = run_cli(
        *where(transport, models_server),
        "generate",
        "--seeds",
        "0-4",
        "--batch-size",
        "2",
        "--columns",
        "5",
        "--out",
        str(grid_path),
    )
    assert generate.returncode == 0, generate.stderr
    assert "generated: 5/5" in generate.stderr  # progress over three batches
    grid = Image.open(grid_path)
    assert grid.size[0] == 5 * grid.size[1]


@pytest.mark.slow
@pytest.mark.parametrize("transport", ["rest", "grpc"])
def test_segment_writes_pictures_and_segment_maps(panoptic_server, transport, tmp_path):
    photo = tmp_path / "china.jpg"
    photo.write_bytes(sample_picture("china.jpg"))
    segment = run_cli(*where(transport, panoptic_server), "segment", str(photo), "--out", str(tmp_path / "out"))
    assert segment.returncode == 0, segment.stderr
    header = segment.stdout.splitlines()[0]
    assert header.startswith(f"{photo}: ") and " segments -> " in header
    count = int(header.split(": ")[1].split()[0])
    assert count > 0 and len(segment.stdout.strip().splitlines()) == 1 + count
    assert Image.open(tmp_path / "out" / "china_panoptic.png").size == (640, 427)
    segment_map = Image.open(tmp_path / "out" / "china_segments.png")
    assert segment_map.size == (640, 427) and segment_map.mode == "RGB"


@pytest.mark.parametrize("transport", ["rest", "grpc"])
def test_transport_flag_after_the_command(tiny_server, transport):
    status = run_cli("status", "hpt", "--label", "stable", *where(transport, tiny_server))
    assert status.returncode == 0, status.stderr
    assert status.stdout.strip() == "hpt version 1: AVAILABLE (OK)"


def test_exactly_one_transport_is_required(tiny_server):
    for args in (
        ["status", "hpt"],
        ["--rest", tiny_server.rest_url, "status", "hpt", "--grpc", tiny_server.grpc_address],
    ):
        result = run_cli(*args)
        assert result.returncode == 2 and "give one of --rest URL or --grpc HOST:PORT" in result.stderr


def test_detect_threshold_flag_is_the_library_keyword():
    from clients.cli import build_parser

    for flag in ("--score-threshold", "--threshold"):
        args = build_parser().parse_args(["--rest", "http://x", "detect", "a.jpg", flag, "0.25"])
        assert args.score_threshold == 0.25


@pytest.mark.parametrize("transport", ["rest", "grpc"])
def test_several_addresses_fail_over_past_a_dead_one(tiny_server, transport):
    """The first call of a fresh client goes to the first address: here a port nobody listens on."""
    dead = free_port()
    if transport == "rest":  # one comma-separated flag
        args = ["--rest", f"http://127.0.0.1:{dead},{tiny_server.rest_url}", "status", "hpt", "--label", "stable"]
    else:  # the flag repeated, before and after the command
        args = ["--grpc", f"127.0.0.1:{dead}", "status", "hpt", "--label", "stable", "--grpc", tiny_server.grpc_address]
    status = run_cli(*args)
    assert status.returncode == 0, status.stderr
    assert status.stdout.strip() == "hpt version 1: AVAILABLE (OK)"
