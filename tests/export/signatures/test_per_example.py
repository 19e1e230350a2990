"""Per-example settings: a scalar or one value per row, and what that buys, batching of DETR and StyleGAN.

The helper alone, then the exported DETR and StyleGAN behind a batching `python -m serving`: requests
whose settings come one per example (as the client helpers send them) are merged into one model run,
counted by the batcher's Prometheus histograms; requests with scalar settings, which the official
batcher refuses, run alone here.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import requests
import tensorflow as tf

from clients import RestClient
from clients import tasks as helpers
from export.signatures.per_example import per_example
from serving.testing.server_process import MONITORING_CONFIG, ServerProcess, batches_run
from tests.fixtures.pictures import sample_picture

# a batch closes when it holds 4 rows, or 10 s after its first request
BATCHING = (
    "max_batch_size { value: 4 }\nbatch_timeout_micros { value: 10000000 }\n"
    "max_enqueued_batches { value: 8 }\nnum_batch_threads { value: 1 }\n"
)


def test_a_scalar_or_one_value_is_repeated_and_a_vector_is_kept():
    rows = tf.constant(3)
    assert per_example(tf.constant(0.5), rows, "x").numpy().tolist() == [0.5, 0.5, 0.5]
    assert per_example(tf.constant([2]), rows, "x").numpy().tolist() == [2, 2, 2]
    assert per_example(tf.constant([1, 2, 3]), rows, "x").numpy().tolist() == [1, 2, 3]
    with pytest.raises(tf.errors.InvalidArgumentError, match="x must be a scalar or have one value per example"):
        per_example(tf.constant([1, 2]), rows, "x")


@pytest.fixture(scope="module")
def batching_server(models_repo, tmp_path_factory):
    work = tmp_path_factory.mktemp("per_example_batching")
    (work / "batching.config").write_text(BATCHING)
    (work / "monitoring.config").write_text(MONITORING_CONFIG)
    config = work / "models.config"
    config.write_text(
        "model_config_list {\n"
        + "".join(
            f'  config {{ name: "{name}" base_path: "{models_repo / name}" model_platform: "tensorflow" }}\n'
            for name in ("detr", "stylegan")
        )
        + "}\n"
    )
    with ServerProcess(
        model_config_file=config,
        startup_timeout=600,
        args=[
            "--enable_batching",
            f"--batching_parameters_file={work / 'batching.config'}",
            f"--monitoring_config_file={work / 'monitoring.config'}",
            "--file_system_poll_wait_seconds=0",
            "--rest_api_timeout_in_ms=300000",
        ],
    ) as server:
        yield server


def _concurrently(calls):
    with ThreadPoolExecutor(len(calls)) as pool:
        return [f.result() for f in [pool.submit(call) for call in calls]]


def test_stylegan_requests_with_per_image_psi_share_one_run(batching_server, models_server):
    # Each image alone, from the session's server of the same export without batching (here, a request alone
    # would wait out the batch timeout: 10 s each).
    with RestClient(models_server.rest_url, timeout=300) as unbatched:
        alone = [helpers.generate(unbatched, [s], psi=p)[0] for s, p in [(1, 0.7), (2, 0.5), (3, 1.0), (4, 0.0)]]
    with RestClient(batching_server.rest_url, timeout=300) as client:
        before = batches_run(batching_server.rest_url)
        together = _concurrently(
            [
                lambda s=seed, p=psi: helpers.generate(client, [s], psi=p)[0]
                for seed, psi in [(1, 0.7), (2, 0.5), (3, 1.0), (4, 0.0)]
            ]
        )
        after = batches_run(batching_server.rest_url)
    assert (after[0] - before[0], after[1] - before[1]) == (1, 4)  # four requests, one model run
    for a, b in zip(alone, together):  # batch 1 against batch 4: kernels may differ in the last float bit
        assert np.abs(np.asarray(a, int) - np.asarray(b, int)).max() <= 1


def test_detr_requests_with_per_image_threshold_share_one_run(batching_server):
    picture = sample_picture("china.jpg")
    with RestClient(batching_server.rest_url, timeout=300) as client:
        before = batches_run(batching_server.rest_url)
        answers = _concurrently(  # four, so the batch closes full instead of waiting out its timeout
            [
                lambda: helpers.detect(client, picture, score_threshold=0.0, max_detections=2),
                lambda: helpers.detect(client, picture, score_threshold=1.0),
            ]
            * 2
        )
        after = batches_run(batching_server.rest_url)
    assert (after[0] - before[0], after[1] - before[1]) == (1, 4)
    assert [len(found) for found in answers] == [2, 0, 2, 0]


def test_scalar_settings_still_work_and_run_alone_here(batching_server):
    """The official batcher answers INVALID_ARGUMENT ("input tensors must have at least one dimension") to a
    rank-0 input; this server runs such a request alone instead."""
    before = batches_run(batching_server.rest_url)
    reply = requests.post(
        f"{batching_server.rest_url}/v1/models/stylegan:predict",
        timeout=300,
        json={"signature_name": "generate_png", "inputs": {"seeds": [1, 2], "truncation_psi": 0.7}},
    )
    assert reply.status_code == 200 and len(reply.json()["outputs"]) == 2
    assert batches_run(batching_server.rest_url) == before
