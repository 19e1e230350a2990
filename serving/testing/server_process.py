"""Reusable test helpers: tiny real SavedModels and `python -m serving` as a real subprocess.

Other suites import these:

    from serving.testing.models import build_half_plus_two
    from serving.testing.server_process import ServerProcess

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
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
# The interpreter that runs `python -m serving`: this one, unless the tests run in the client-only
# venv (tests/clients/test_client_install.py), which has no TensorFlow and names the full one.
SERVER_PYTHON = os.environ.get("KTS_SERVER_PYTHON", sys.executable)


def wait_for(condition, timeout: float = 90.0, what: str = "condition", interval: float = 0.25):
    """Polls `condition()` every `interval` s until it returns something truthy and returns that; AssertionError
    after `timeout` s. The one wait of the tests and benchmarks: a condition that must also watch something
    (a process still running) raises its own error."""
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
    """ModelServerConfig text from dicts: name, base_path, optional policy (text), labels {label: version} and
    logging (filename_prefix, sampling_rate)."""
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
        if model.get("logging"):
            prefix, rate = model["logging"]
            lines.append(
                f'    logging_config {{ log_collector_config {{ type: "tfrecord" filename_prefix: "{prefix}" }} '
                f"sampling_config {{ sampling_rate: {rate} }} }}"
            )
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


def accepts_connections(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_until_listening(
    process: subprocess.Popen,
    ports: Sequence[int],
    timeout: float,
    what: str = "the server",
    log: Callable[[], str] = str,
    interval: float = 0.2,
) -> None:
    """Waits until `process` accepts connections on every one of `ports` on 127.0.0.1: RuntimeError with the tail
    of `log()` if it exits first, AssertionError after `timeout` s."""

    def listening() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode} before it opened its ports:\n{log()[-4000:]}")
        return all(accepts_connections(port) for port in ports)

    wait_for(listening, timeout, f"{what} to open ports {list(ports)}", interval)


def run_server(args: Sequence[str], timeout: float = 120.0) -> subprocess.CompletedProcess:
    """Runs `python -m serving` with `args` (a free gRPC port on loopback added) until it exits: for start-up
    checks that must fail before any port opens."""
    flags = [f"--port={free_port()}", "--grpc_host=127.0.0.1", *args]
    return subprocess.run(
        [SERVER_PYTHON, "-m", "serving", *flags], cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout
    )


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

    def rest_predict(self, path: str, instances: list, timeout: float = 60.0):
        """POST /v1/models/{path}:predict with {"instances": instances}; the `requests` Response."""
        import requests

        return requests.post(
            f"{self.rest_url}/v1/models/{path}:predict", json={"instances": instances}, timeout=timeout
        )

    def versions(self, model: str) -> dict[int, dict]:
        """The model's version statuses (GET /v1/models/{model}), version -> entry; {} while it is unknown."""
        return version_statuses(self.rest_url, model)

    def state(self, model: str, version: int) -> str:
        """One version's state (AVAILABLE, LOADING, END...), "" while the server does not know it."""
        return self.versions(model).get(version, {}).get("state", "")

    def peak_rss_bytes(self) -> int:
        """The server process's peak resident memory so far (VmHWM)."""
        return _status_kib(self.process.pid, "VmHWM") * 1024

    def rss_bytes(self) -> int:
        return _status_kib(self.process.pid, "VmRSS") * 1024

    def minor_faults(self) -> int:
        """Pages the server process has touched for the first time since it got them (/proc/PID/stat minflt):
        memory handed back to the system and taken again costs one a 4 KiB page."""
        return int(Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()[7])

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
        ports = [self.grpc_port] + ([self.rest_port] if self.rest_port else [])
        try:
            wait_until_listening(self.process, ports, self.startup_timeout, log=self.log)
        except AssertionError:
            self.stop()
            raise TimeoutError(f"server not ready after {self.startup_timeout}s:\n{self.log()[-4000:]}") from None

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
