"""Reusable test helpers: tiny real SavedModels and `python -m serving` as a real subprocess.

Other suites import these:

    from tests.serving.server_process import ServerProcess, build_half_plus_two
    base = build_half_plus_two(tmp_path / "half_plus_two")
    with ServerProcess(model_name="half_plus_two", model_base_path=base) as server:
        requests.post(f"{server.rest_url}/v1/models/half_plus_two:predict", json={"instances": [1.0]})

Servers bind 127.0.0.1 on free ports, are ready when both ports accept connections (the server
opens them only after its models loaded) and are stopped with SIGTERM.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from protocol.layout import WARMUP_FILE
from protocol.methods import CLASSIFY_METHOD, REGRESS_METHOD

REPO_ROOT = Path(__file__).resolve().parents[2]
# The interpreter that runs `python -m serving`: this one, unless the tests run in the client-only
# venv (tests/clients/test_client_install.py), which has no TensorFlow and names the full one.
SERVER_PYTHON = os.environ.get("KTS_SERVER_PYTHON", sys.executable)


def _tensorflow():
    """TensorFlow for building a SavedModel; in the client-only venv the test skips instead."""
    import pytest

    return pytest.importorskip("tensorflow", reason="builds a SavedModel: the client-only venv has no TensorFlow")


# ---------------------------------------------------------------------------- models


def set_method_names(version_dir: str | os.PathLike, methods: Mapping[str, str]) -> None:
    """Rewrites signature method_name in saved_model.pb (tf.saved_model.save always writes predict)."""
    from tensorflow.core.protobuf import saved_model_pb2

    path = Path(version_dir) / "saved_model.pb"
    model = saved_model_pb2.SavedModel()
    model.ParseFromString(path.read_bytes())
    for meta_graph in model.meta_graphs:
        for key, method in methods.items():
            meta_graph.signature_def[key].method_name = method
    path.write_bytes(model.SerializeToString())


def build_half_plus_two(
    base_path: str | os.PathLike, version: int = 1, slope: float = 0.5, offset: float = 2.0, warmup: bool = False
) -> Path:
    """y = slope*x + offset with signatures serving_default (x -> y), classify_x_to_y, regress_x_to_y.

    classify/regress take serialized tf.Example `inputs` with float feature `x` and carry the
    classify/regress method_name; classify answers `scores` only (label "").
    """
    tf = _tensorflow()

    module = tf.Module()
    module.slope = tf.Variable(slope, dtype=tf.float32)
    module.offset = tf.Variable(offset, dtype=tf.float32)

    def line(x):
        return module.slope * x + module.offset

    def parse(serialized):
        features = tf.io.parse_example(serialized, {"x": tf.io.FixedLenFeature([1], tf.float32)})
        return line(features["x"])

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
    def predict(x):
        return {"y": line(x)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    def classify(inputs):
        return {"scores": parse(inputs)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    def regress(inputs):
        return {"outputs": parse(inputs)}

    module.predict, module.classify, module.regress = predict, classify, regress
    version_dir = Path(base_path) / str(version)
    tf.saved_model.save(
        module,
        str(version_dir),
        signatures={"serving_default": predict, "classify_x_to_y": classify, "regress_x_to_y": regress},
    )
    set_method_names(version_dir, {"classify_x_to_y": CLASSIFY_METHOD, "regress_x_to_y": REGRESS_METHOD})
    if warmup:
        from export.pipeline.warmup import write_warmup_requests

        write_warmup_requests(
            version_dir / WARMUP_FILE, "", {"serving_default": {"x": np.array([1.0, 2.0], np.float32)}}
        )
    return Path(base_path)


def build_strings(base_path: str | os.PathLike, version: int = 1) -> Path:
    """String in, strings out: `text` -> `upper` (text) and `text_bytes` (same bytes, b64 over REST), `length`."""
    tf = _tensorflow()

    module = tf.Module()

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def serve(text):
        return {
            "upper": tf.strings.upper(text),
            "text_bytes": tf.identity(text),
            "length": tf.strings.length(text, unit="BYTE"),
        }

    module.serve = serve
    tf.saved_model.save(module, str(Path(base_path) / str(version)), signatures={"serving_default": serve})
    return Path(base_path)


def build_multi_io(base_path: str | os.PathLike, version: int = 1) -> Path:
    """Two inputs, three outputs: a float [N,2], b int64 [N] -> total = sum(a)+b, doubled = 2a, flag = b>0."""
    tf = _tensorflow()

    module = tf.Module()

    @tf.function(
        input_signature=[tf.TensorSpec([None, 2], tf.float32, name="a"), tf.TensorSpec([None], tf.int64, name="b")]
    )
    def serve(a, b):
        return {"total": tf.reduce_sum(a, axis=1) + tf.cast(b, tf.float32), "doubled": 2.0 * a, "flag": b > 0}

    module.serve = serve
    tf.saved_model.save(module, str(Path(base_path) / str(version)), signatures={"serving_default": serve})
    return Path(base_path)


def build_any_shape(base_path: str | os.PathLike, version: int = 1) -> Path:
    """json_tensor_test.cc's three inputs, of any shape: `int_tensor` int32 -> `int_doubled`, `str_tensor` ->
    `str` (the same strings), `bin_tensor` -> `bin_bytes` (the same bytes, b64 over REST)."""
    tf = _tensorflow()

    module = tf.Module()
    specs = [
        tf.TensorSpec(None, tf.int32, name="int_tensor"),
        tf.TensorSpec(None, tf.string, name="str_tensor"),
        tf.TensorSpec(None, tf.string, name="bin_tensor"),
    ]

    @tf.function(input_signature=specs)
    def serve(int_tensor, str_tensor, bin_tensor):
        return {"int_doubled": 2 * int_tensor, "str": tf.identity(str_tensor), "bin_bytes": tf.identity(bin_tensor)}

    module.serve = serve
    tf.saved_model.save(module, str(Path(base_path) / str(version)), signatures={"serving_default": serve})
    return Path(base_path)


def build_float16(base_path: str | os.PathLike, version: int = 1) -> Path:
    """A half-precision input `h` [N] -> `doubled` float32 (REST cannot carry half: 501)."""
    tf = _tensorflow()

    module = tf.Module()

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float16, name="h")])
    def serve(h):
        return {"doubled": 2.0 * tf.cast(h, tf.float32)}

    module.serve = serve
    tf.saved_model.save(module, str(Path(base_path) / str(version)), signatures={"serving_default": serve})
    return Path(base_path)


def build_slow(base_path: str | os.PathLike, version: int = 1) -> Path:
    """`seconds` float [N] -> `slept` (the same values) after spinning max(seconds) of wall time.

    Pure TensorFlow ops (a while loop on tf.timestamp), so the delay survives SavedModel export;
    it keeps one core busy while it waits, so tests use it for a few seconds at most.
    """
    tf = _tensorflow()

    module = tf.Module()

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="seconds")])
    def serve(seconds):
        wait = tf.cast(tf.reduce_max(tf.concat([seconds, [0.0]], 0)), tf.float64)
        start = tf.timestamp()
        elapsed = tf.while_loop(lambda t: t < wait, lambda t: [tf.timestamp() - start], [tf.constant(0.0, tf.float64)])
        return {"slept": seconds + 0.0 * tf.cast(elapsed, tf.float32)}

    module.serve = serve
    tf.saved_model.save(module, str(Path(base_path) / str(version)), signatures={"serving_default": serve})
    return Path(base_path)


def build_turnstile(base_path: str | os.PathLike, version: int = 1) -> Path:
    """`seconds` float [N] -> `order` int64 [N]: how many runs started before this one ended (1 for the first
    run), and `running` int64 [N]: the runs in progress when this one started (itself included); the run spins
    max(seconds) of wall time between the two. Shows the order and the overlap of model runs in a server."""
    tf = _tensorflow()

    module = tf.Module()
    module.started = tf.Variable(0, dtype=tf.int64)
    module.in_progress = tf.Variable(0, dtype=tf.int64)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="seconds")])
    def serve(seconds):
        with tf.control_dependencies(
            [module.in_progress.assign_add(1, read_value=False), module.started.assign_add(1, read_value=False)]
        ):
            running, order = module.in_progress.read_value(), module.started.read_value()
        wait = tf.cast(tf.reduce_max(tf.concat([seconds, [0.0]], 0)), tf.float64)
        start = tf.timestamp() + 0.0 * tf.cast(running + order, tf.float64)
        (elapsed,) = tf.while_loop(
            lambda t: t < wait, lambda t: [tf.timestamp() - start], [tf.constant(0.0, tf.float64)]
        )
        with tf.control_dependencies([elapsed]):
            module.in_progress.assign_sub(1)
        rows = tf.shape(seconds, out_type=tf.int64)
        return {"order": tf.fill(rows, order), "running": tf.fill(rows, running)}

    module.serve = serve
    tf.saved_model.save(module, str(Path(base_path) / str(version)), signatures={"serving_default": serve})
    return Path(base_path)


def build_fill(base_path: str | os.PathLike, version: int = 1) -> Path:
    """`count` int64 [1] -> `values` float32 [count] of 0.5: a tiny request that asks for a large answer."""
    import tensorflow as tf

    module = tf.Module()

    @tf.function(input_signature=[tf.TensorSpec([1], tf.int64, name="count")])
    def serve(count):
        return {"values": tf.fill(tf.cast(count, tf.int32), 0.5)}

    module.serve = serve
    tf.saved_model.save(module, str(Path(base_path) / str(version)), signatures={"serving_default": serve})
    return Path(base_path)


def build_sum(base_path: str | os.PathLike, version: int = 1) -> Path:
    """`x` float32 [n] -> `total` float32 [1]: a large request that asks for a tiny answer."""
    import tensorflow as tf

    module = tf.Module()

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
    def serve(x):
        return {"total": tf.reduce_sum(x, keepdims=True)}

    module.serve = serve
    tf.saved_model.save(module, str(Path(base_path) / str(version)), signatures={"serving_default": serve})
    return Path(base_path)


def wait_for(condition, timeout: float = 90.0, what: str = "condition", interval: float = 0.25):
    """Polls `condition()` until it returns something truthy and returns that; AssertionError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def version_statuses(rest_url: str, model: str) -> dict[int, dict]:
    """GET /v1/models/{model}: version -> its status entry ({} while the model is unknown)."""
    import requests

    reply = requests.get(f"{rest_url}/v1/models/{model}", timeout=30)
    if reply.status_code != 200:
        return {}
    return {int(entry["version"]): entry for entry in reply.json()["model_version_status"]}


def model_config_text(models: Sequence[Mapping]) -> str:
    """ModelServerConfig text from dicts: name, base_path, optional policy (text) and labels {label: version}."""
    blocks = []
    for model in models:
        lines = [
            f'    name: "{model["name"]}"',
            f'    base_path: "{model["base_path"]}"',
            '    model_platform: "tensorflow"',
        ]
        if model.get("policy"):
            lines.append(f"    model_version_policy {{ {model['policy']} }}")
        for label, version in (model.get("labels") or {}).items():
            lines.append(f'    version_labels {{ key: "{label}" value: {version} }}')
        blocks.append("  config {\n" + "\n".join(lines) + "\n  }")
    return "model_config_list {\n" + "\n".join(blocks) + "\n}\n"


METRICS_PATH = "/monitoring/prometheus/metrics"
MONITORING_CONFIG = f'prometheus_config {{ enable: true path: "{METRICS_PATH}" }}\n'  # for --monitoring_config_file


def batches_run(rest_url: str) -> tuple[float, float]:
    """(batches run, rows in them) so far, from the batcher's processed_batch_size histogram on the Prometheus
    page of a server started with MONITORING_CONFIG: how many model runs the batcher made of the requests."""
    import re

    import requests

    text = requests.get(rest_url + METRICS_PATH, timeout=30).text
    found = dict(
        re.findall(
            r"^:tensorflow:serving:batching_session:processed_batch_size_(count|sum) ([0-9.e+]+)$", text, re.MULTILINE
        )
    )
    return float(found.get("count", 0)), float(found.get("sum", 0))


# ---------------------------------------------------------------------------- server process


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _accepts(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


class ServerProcess:
    """`python -m serving` on 127.0.0.1 free ports; a context manager that stops it with SIGTERM."""

    def __init__(
        self,
        *,
        model_name: str | None = None,
        model_base_path: str | os.PathLike | None = None,
        model_config_file: str | os.PathLike | None = None,
        args: Sequence[str] = (),
        rest: bool = True,
        startup_timeout: float = 180.0,
        env: Mapping[str, str] | None = None,
        open_file_limit: int | None = None,
        grpc_port: int | None = None,
        rest_port: int | None = None,
    ):
        """Free ports unless `grpc_port`/`rest_port` are given (a server restarted where it was)."""
        self.grpc_port = grpc_port or free_port()
        self.rest_port = (rest_port or free_port()) if rest else 0
        flags = [f"--port={self.grpc_port}", "--grpc_host=127.0.0.1"]
        if rest:
            flags += [f"--rest_api_port={self.rest_port}", "--rest_api_host=127.0.0.1"]
        if model_name is not None:
            flags.append(f"--model_name={model_name}")
        if model_base_path is not None:
            flags.append(f"--model_base_path={model_base_path}")
        if model_config_file is not None:
            flags.append(f"--model_config_file={model_config_file}")
        self.command = [SERVER_PYTHON, "-m", "serving", *flags, *args]
        self.startup_timeout = startup_timeout
        self.env = {
            **os.environ,
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
            **(env or {}),
        }
        self.process: subprocess.Popen | None = None
        self._log = tempfile.NamedTemporaryFile(prefix="serving-", suffix=".log", delete=False)
        self.returncode: int | None = None
        self.open_file_limit = open_file_limit  # RLIMIT_NOFILE (soft and hard) of the server process

    @property
    def grpc_address(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    def peak_rss_bytes(self) -> int:
        """The server process's peak resident memory so far (VmHWM)."""
        return _status_kib(self.process.pid, "VmHWM") * 1024

    def rss_bytes(self) -> int:
        return _status_kib(self.process.pid, "VmRSS") * 1024

    def reset_peak_rss(self) -> None:
        """Starts a new VmHWM measurement from the current RSS (Linux: write 5 to clear_refs)."""
        Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")

    def log_bytes(self) -> int:
        return Path(self._log.name).stat().st_size

    def log(self) -> str:
        return Path(self._log.name).read_text(errors="replace")

    def start(self, wait: bool = True) -> ServerProcess:
        limit = self.open_file_limit

        def limit_files() -> None:
            import resource

            resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

        self.process = subprocess.Popen(
            self.command,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=str(REPO_ROOT),
            preexec_fn=limit_files if limit else None,
        )
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        ports = [self.grpc_port] + ([self.rest_port] if self.rest_port else [])
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"server exited with {self.process.returncode} before it was ready:\n{self.log()[-4000:]}"
                )
            if all(_accepts(p) for p in ports):
                return
            time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"server not ready after {self.startup_timeout}s:\n{self.log()[-4000:]}")

    def wait_exit(self, timeout: float = 120.0) -> int:
        self.returncode = self.process.wait(timeout=timeout)
        return self.returncode

    def kill(self) -> int:
        """SIGKILL: a crash, no drain (what a lost machine or an OOM kill looks like to clients)."""
        self.process.kill()
        self.returncode = self.process.wait()
        self._log.close()
        return self.returncode

    def stop(self, timeout: float = 60.0) -> int | None:
        """SIGTERM, then wait; kills only if it does not exit in time. Returns the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.returncode = self.process.returncode
        self._log.close()
        return self.returncode

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
