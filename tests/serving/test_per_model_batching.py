"""--enable_per_model_batching_parameters: each version's own batching_params.pbtxt, as the official server.

Observed through what a client sees (a request larger than the queue's max_batch_size is refused) and
the batcher's Prometheus histograms (batches run, rows in them); nothing is timed.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from protocol.layout import BATCHING_PARAMS_FILE
from serving.testing.models import build_half_plus_two
from serving.testing.server_process import MONITORING_CONFIG, ServerProcess, batches_run, model_config_text

GLOBAL = "max_batch_size { value: 2 }\nbatch_timeout_micros { value: 0 }\nnum_batch_threads { value: 1 }\n"
# a batch closes when it holds 4 rows, or 5 s after its first request: 4 concurrent requests make one batch
OWN = "max_batch_size { value: 4 }\nbatch_timeout_micros { value: 5000000 }\nmax_enqueued_batches { value: 4 }\n"


@pytest.fixture(scope="module")
def repository(tmp_path_factory):
    root = tmp_path_factory.mktemp("per_model_batching")
    build_half_plus_two(root / "own")
    (root / "own" / "1" / BATCHING_PARAMS_FILE).write_text(OWN)
    build_half_plus_two(root / "none")
    build_half_plus_two(root / "broken")
    (root / "broken" / "1" / BATCHING_PARAMS_FILE).write_text("max_batch_size { value: 4 }\nallowed_batch_sizes: 3\n")
    (root / "global.config").write_text(GLOBAL)
    (root / "monitoring.config").write_text(MONITORING_CONFIG)
    for config, names in (("models.config", ("own", "none")), ("broken.config", ("own", "broken"))):
        (root / config).write_text(model_config_text([{"name": n, "base_path": root / n} for n in names]))
    return root


def _serve(root, per_model: bool, config: str = "models.config"):
    return ServerProcess(
        model_config_file=root / config,
        args=[
            "--file_system_poll_wait_seconds=0",
            "--enable_model_warmup=false",
            "--max_num_load_retries=0",
            "--enable_batching",
            f"--batching_parameters_file={root / 'global.config'}",
            f"--monitoring_config_file={root / 'monitoring.config'}",
            f"--enable_per_model_batching_parameters={'true' if per_model else 'false'}",
        ],
    )


@pytest.fixture(scope="module")
def server(repository):
    with _serve(repository, per_model=True) as process:
        yield process


def _predict(server, model: str, values: list[float]) -> requests.Response:
    return requests.post(f"{server.rest_url}/v1/models/{model}:predict", json={"instances": values}, timeout=60)


def test_a_version_with_its_own_parameters_is_batched_with_them(server):
    assert _predict(server, "own", [1.0, 2.0, 3.0]).json() == {"predictions": [2.5, 3.0, 3.5]}  # global max is 2
    refused = _predict(server, "own", [1.0] * 5)
    assert refused.status_code == 400 and "larger than maximum input batch size 4" in refused.json()["error"]
    before = batches_run(server.rest_url)
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda x: _predict(server, "own", [x]).json(), [0.0, 2.0, 4.0, 6.0]))
    assert answers == [{"predictions": [2.0]}, {"predictions": [3.0]}, {"predictions": [4.0]}, {"predictions": [5.0]}]
    after = batches_run(server.rest_url)
    assert (after[0] - before[0], after[1] - before[1]) == (1, 4)  # one batch held the four requests


def test_a_version_without_the_file_is_not_batched(server):
    before = batches_run(server.rest_url)
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda x: _predict(server, "none", [x]).json(), [0.0, 2.0, 4.0, 6.0]))
    assert answers == [{"predictions": [2.0]}, {"predictions": [3.0]}, {"predictions": [4.0]}, {"predictions": [5.0]}]
    assert _predict(server, "none", [1.0] * 5).status_code == 200  # no queue, so no batch size limit
    assert batches_run(server.rest_url) == before


def test_a_file_that_does_not_validate_fails_the_load_with_its_error(repository):
    server = _serve(repository, per_model=True, config="broken.config")
    with pytest.raises(RuntimeError, match="Last entry in allowed_batch_sizes must match max_batch_size"):
        server.start()  # a model of the initial config that cannot load stops start-up, as officially
    assert server.process.returncode == 255


def test_without_the_flag_the_files_are_ignored(repository):
    with _serve(repository, per_model=False) as server:
        refused = _predict(server, "own", [1.0, 2.0, 3.0])  # the global max_batch_size 2 applies
        assert refused.status_code == 400 and "larger than maximum input batch size 2" in refused.json()["error"]
        assert _predict(server, "none", [1.0, 2.0, 3.0]).status_code == 400
