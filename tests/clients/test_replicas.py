"""Clients across replicas: round robin, failover and the retry rule.

First `clients.replicas.Replicas` alone (the policy is a pure function of what the attempts
returned), then three real `python -m serving` replicas on 127.0.0.1 serving half_plus_two: calls
spread over all three (counted by each replica's Prometheus metrics), a replica killed under load
loses no request on either transport, and one that comes back is used again.
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import requests

from clients import http as http_module
from clients import replicas as replicas_module
from clients.cli import split_addresses
from clients.errors import ServingError
from clients.replicas import Replicas, RetryableError, addresses
from clients.tfs_grpc import GrpcClient
from clients.tfs_rest import RestClient
from deploy.image import CONFIG_DIR
from serving.testing.server_process import ServerProcess, model_config_text, wait_for

# ---------------------------------------------------------------------------- the policy alone


class Attempts:
    """A `send` for Replicas.call that answers, fails over or refuses as scripted per endpoint."""

    def __init__(self, script: dict[str, list[str]]):
        self.script = script  # endpoint -> outcomes in order: "ok", "down", "busy" (503 + Retry-After), "bad"
        self.seen: list[str] = []

    def __call__(self, endpoint: str) -> str:
        self.seen.append(endpoint)
        outcome = self.script[endpoint].pop(0) if self.script[endpoint] else "ok"
        if outcome == "down":
            raise RetryableError(ServingError("UNAVAILABLE", f"{endpoint} is down"))
        if outcome == "busy":
            raise RetryableError(ServingError("UNAVAILABLE", f"{endpoint} is busy"), retry_after=0.2)
        if outcome == "bad":
            raise ServingError("INVALID_ARGUMENT", "bad input")
        return endpoint


def test_calls_take_the_replicas_in_turn():
    replicas = Replicas(["a", "b", "c"], retries=3, backoff=0.0)
    answers = [replicas.call(Attempts({"a": [], "b": [], "c": []})) for _ in range(7)]
    assert answers == ["a", "b", "c", "a", "b", "c", "a"]


def test_an_unanswered_attempt_goes_to_the_next_replica_at_once(monkeypatch):
    pauses = []
    monkeypatch.setattr(replicas_module.time, "sleep", pauses.append)
    replicas = Replicas(["a", "b", "c"], retries=3, backoff=1.0)
    attempts = Attempts({"a": ["down"], "b": ["down"], "c": []})
    assert replicas.call(attempts) == "c"
    assert attempts.seen == ["a", "b", "c"] and pauses == []  # no pause before a replica not yet tried


def test_attempts_are_bounded_and_the_last_failure_is_raised(monkeypatch):
    pauses = []
    monkeypatch.setattr(replicas_module.time, "sleep", pauses.append)
    replicas = Replicas(["a", "b"], retries=4, backoff=1.0)
    attempts = Attempts({"a": ["down"] * 9, "b": ["down"] * 9})
    with pytest.raises(ServingError) as err:
        replicas.call(attempts)
    assert attempts.seen == ["a", "b", "a", "b", "a"]  # retries + 1 attempts
    assert err.value.code == "UNAVAILABLE" and err.value.message == "a is down"
    # A pause only before a replica already tried in this call: backoff * 2**n, jittered to half.
    assert len(pauses) == 3 and 0.5 <= pauses[0] <= 1.0 and 0.5 <= pauses[1] <= 1.0 and 1.0 <= pauses[2] <= 2.0


def test_an_answer_is_never_retried():
    replicas = Replicas(["a", "b"], retries=3, backoff=0.0)
    attempts = Attempts({"a": ["bad"], "b": []})
    with pytest.raises(ServingError, match="INVALID_ARGUMENT"):
        replicas.call(attempts)
    assert attempts.seen == ["a"]


def test_a_failed_replica_cools_down_then_is_used_again(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(replicas_module.time, "monotonic", lambda: now[0])
    replicas = Replicas(["a", "b", "c"], retries=3, backoff=0.0)
    assert replicas.call(Attempts({"a": [], "b": [], "c": []})) == "a"
    assert replicas.call(Attempts({"a": [], "b": ["down"], "c": []})) == "c"
    # b cools down for COOLDOWN_S[0]: a turn that would start at b goes to the next replica.
    assert [replicas.call(Attempts({"a": [], "b": [], "c": []})) for _ in range(3)] == ["c", "a", "c"]
    now[0] += replicas_module.COOLDOWN_S[0]
    assert [replicas.call(Attempts({"a": [], "b": [], "c": []})) for _ in range(3)] == ["c", "a", "b"]


def test_consecutive_failures_lengthen_the_cool_down_up_to_its_cap(monkeypatch):
    now = [0.0]
    monkeypatch.setattr(replicas_module.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(replicas_module.time, "sleep", lambda s: None)
    replicas = Replicas(["a"], retries=6, backoff=0.0)
    with pytest.raises(ServingError):
        replicas.call(Attempts({"a": ["down"] * 7}))
    first, longest = replicas_module.COOLDOWN_S
    assert replicas._cool_until == [min(longest, first * 2**6)]
    replicas.call(Attempts({"a": []}))  # alone, it is still tried; its answer ends the cool-down
    assert replicas._cool_until == [0.0]


def test_retry_after_is_honoured_up_to_a_bound(monkeypatch):
    pauses = []
    monkeypatch.setattr(replicas_module.time, "sleep", pauses.append)
    replicas = Replicas(["a"], retries=1, backoff=0.01)
    assert replicas.call(Attempts({"a": ["busy"]})) == "a"
    assert pauses == [0.2]


def test_pauses_are_bounded_however_many_retries(monkeypatch):
    pauses = []
    monkeypatch.setattr(replicas_module.time, "sleep", pauses.append)
    replicas = Replicas(["a"], retries=12, backoff=1.0)
    assert replicas.call(Attempts({"a": ["down"] * 11 + ["busy"]})) == "a"
    assert len(pauses) == 12 and max(pauses) <= replicas_module.MAX_PAUSE_S
    assert pauses[-1] >= replicas_module.MAX_PAUSE_S / 2  # 2**11 s of backoff, capped then jittered


def test_addresses_take_one_or_a_list():
    assert addresses("127.0.0.1:8500") == ["127.0.0.1:8500"]
    assert addresses(["a:1", " b:2 "]) == ["a:1", "b:2"]
    for bad in ([], "", ["a:1", ""]):
        with pytest.raises(ValueError, match="server address"):
            addresses(bad)


def test_cli_flags_split_lists_but_keep_grpc_address_lists_whole():
    assert split_addresses(["a:1,b:2", "c:3"]) == ["a:1", "b:2", "c:3"]
    assert split_addresses(["ipv4:127.0.0.1:1,127.0.0.1:2"]) == ["ipv4:127.0.0.1:1,127.0.0.1:2"]
    assert split_addresses(["http://a:8501, http://b:8501"]) == ["http://a:8501", "http://b:8501"]


@contextmanager
def silent_port() -> Iterator[int]:
    """A port where connecting never completes, as with a dead host that drops packets: a listening
    socket whose one-slot backlog is taken and never accepted, so further SYNs get no answer."""
    with socket.socket() as server, socket.socket() as first:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        first.connect(server.getsockname())
        yield server.getsockname()[1]


def test_rest_leaves_a_server_that_does_not_accept_for_the_next(tiny_server, monkeypatch):
    monkeypatch.setattr(http_module, "CONNECT_TIMEOUT_S", 0.5)  # 10 s by default
    with silent_port() as port:
        with RestClient(f"http://127.0.0.1:{port}", retries=0, timeout=60) as alone, pytest.raises(ServingError) as err:
            alone.status("hpt")
        assert err.value.code == "UNAVAILABLE" and "no connection within 0.5 s" in err.value.message
        with RestClient([f"http://127.0.0.1:{port}", tiny_server.rest_url], timeout=60) as pair:
            (status,) = pair.status("hpt", version=1)  # a new client's first call tries the silent port first
        assert status.state == "AVAILABLE"


# ---------------------------------------------------------------------------- three real replicas

PREDICT_COUNT = re.compile(r"^:tensorflow:serving:request_latency_count\{([^}]*)\} (\S+)$", re.MULTILINE)


class ReplicaSet:
    """Three `python -m serving` processes serving hpt (version 2 of the tiny repository: y = x/2 + 3).

    Like the Kubernetes Deployments, each closes a client's gRPC connection after a while
    (grpc.max_connection_age_ms, here 2 s so it happens during every test): clients of a headless
    Service reconnect and resolve its name again, and must lose no call doing so.
    """

    def __init__(self, config: Path, count: int = 3):
        self.args = [
            "--monitoring_config_file=" + str(CONFIG_DIR / "monitoring.config"),
            "--grpc_channel_arguments=grpc.max_connection_age_ms=2000,grpc.max_connection_age_grace_ms=10000",
        ]
        self.config = config
        self.servers = [ServerProcess(model_config_file=config, args=self.args) for _ in range(count)]
        try:
            for server in self.servers:
                server.start(wait=False)
            for server in self.servers:
                server.wait_ready()
        except BaseException:
            self.close()
            raise

    def predictions(self, indices: list[int] | None = None) -> list[int]:
        """Predict calls each replica (or those of `indices`) answered since it started: its Prometheus
        latency count for hpt, REST (`predict`) and gRPC (`Predict`)."""
        counts = []
        for index in range(len(self.servers)) if indices is None else indices:
            server = self.servers[index]
            page = requests.get(f"{server.rest_url}/monitoring/prometheus/metrics", timeout=30).text
            total = 0
            for labels, value in PREDICT_COUNT.findall(page):
                if 'model_name="hpt"' in labels and re.search(r'API="[Pp]redict"', labels):
                    total += int(float(value))
            counts.append(total)
        return counts

    def kill(self, index: int) -> None:
        self.servers[index].kill()

    def restart(self, index: int) -> None:
        """The same replica again, on its old ports."""
        old = self.servers[index]
        self.servers[index] = ServerProcess(
            model_config_file=self.config, args=self.args, grpc_port=old.grpc_port, rest_port=old.rest_port
        ).start()

    def close(self) -> None:
        for server in self.servers:
            if server.process is not None:
                server.stop()


@pytest.fixture(scope="module")
def replica_set(tiny_repo, tmp_path_factory) -> Iterator[ReplicaSet]:
    config = tmp_path_factory.mktemp("replicas") / "hpt.config"
    config.write_text(model_config_text([{"name": "hpt", "base_path": str(tiny_repo / "hpt")}]))
    replica_set = ReplicaSet(config)
    try:
        yield replica_set
    finally:
        replica_set.close()


KINDS = ["rest", "grpc", "grpc-ipv4"]


def client_of(kind: str, replica_set: ReplicaSet, **options):
    """rest: a list of base URLs; grpc: a list of targets (a channel each); grpc-ipv4: one `ipv4:`
    target listing the three addresses (gRPC's own round_robin over them, as over a headless Service)."""
    servers = replica_set.servers
    if kind == "rest":
        return RestClient([s.rest_url for s in servers], **options)
    if kind == "grpc":
        return GrpcClient([s.grpc_address for s in servers], **options)
    return GrpcClient("ipv4:" + ",".join(s.grpc_address for s in servers), **options)


def delta(after: list[int], before: list[int]) -> list[int]:
    return [a - b for a, b in zip(after, before)]


@pytest.mark.parametrize("kind", KINDS)
def test_calls_spread_over_every_replica(replica_set, kind):
    before = replica_set.predictions()
    with client_of(kind, replica_set) as client:
        for k in range(30):
            np.testing.assert_allclose(client.predict("hpt", np.float32([k]))["y"], [k / 2 + 3])
    spread = delta(replica_set.predictions(), before)
    assert sum(spread) == 30
    if kind == "grpc-ipv4":
        # gRPC's round_robin takes the connections that are ready; at first not all three may be.
        assert all(n > 0 for n in spread), spread
    else:
        assert spread == [10, 10, 10]


def run_load(
    call: Callable[[int], None], threads: int, per_thread: int, when_done: int, action: Callable[[], None]
) -> tuple[list[BaseException], int]:
    """`call(i)` for threads x per_thread values of i; `action()` once `when_done` calls have finished.
    Returns the failures and how many calls had finished when the action ran."""
    done, failures = [0], []
    lock = threading.Lock()

    def worker(first: int) -> None:
        for i in range(first, first + per_thread):
            try:
                call(i)
            except BaseException as e:  # noqa: BLE001 - every failure is reported by the test
                with lock:
                    failures.append(e)
            with lock:
                done[0] += 1

    workers = [threading.Thread(target=worker, args=(t * per_thread,), daemon=True) for t in range(threads)]
    for w in workers:
        w.start()
    wait_for(
        lambda: done[0] >= when_done or not any(w.is_alive() for w in workers),
        600,
        f"{when_done} calls to finish",
        interval=0.005,
    )
    finished_at_action = done[0]
    action()
    for w in workers:
        w.join(timeout=600)
    assert not any(w.is_alive() for w in workers), "load threads did not finish"
    return failures, finished_at_action


def wait_until_used(replica_set: ReplicaSet, index: int, client, deadline_s: float = 120.0) -> int:
    """Calls until replica `index` answers some of them; returns how many calls that took."""
    calls = 0

    def used() -> bool:
        nonlocal calls
        if replica_set.predictions()[index]:
            return True
        for _ in range(5):
            client.predict("hpt", np.float32([1.0]))
            calls += 1
        return False

    wait_for(used, deadline_s, f"replica {index} to get calls back", interval=0.2)
    return calls


@pytest.mark.parametrize("kind", KINDS)
def test_a_replica_killed_under_load_loses_no_request_and_is_used_again_when_back(replica_set, kind):
    threads, per_thread, victim = 4, 100, 1
    total = threads * per_thread
    with client_of(kind, replica_set, timeout=60) as client:
        client.metadata("hpt")  # the metadata read is not part of the load

        def call(i: int) -> None:
            y = client.predict("hpt", np.float32([i]))["y"]
            np.testing.assert_allclose(y, [i / 2 + 3])

        survivors = [i for i in range(len(replica_set.servers)) if i != victim]
        at_kill: list[int] = []

        def kill() -> None:
            at_kill.extend(replica_set.predictions())
            replica_set.kill(victim)

        failures, finished = run_load(call, threads, per_thread, when_done=total // 8, action=kill)
        assert not failures, f"{len(failures)} of {total} calls failed, first: {failures[0]!r}"
        assert finished < total, "the load was over before the kill"
        after = replica_set.predictions(survivors)
        assert all(count > at_kill[i] for count, i in zip(after, survivors)), (at_kill, after)

        replica_set.restart(victim)
        calls = wait_until_used(replica_set, victim, client)
        print(
            f"{kind}: {finished}/{total} calls done at the kill, none lost; "
            f"the restarted replica answered again within {calls} calls"
        )


def test_reload_config_goes_to_one_server_only():
    with GrpcClient(["127.0.0.1:1", "127.0.0.1:2"]) as client:
        with pytest.raises(ValueError, match="changes one server"):
            client.reload_config("model_config_list {}")


def test_a_dns_target_resolves_through_grpc(replica_set):
    """`dns:///name:port`, as for a headless Service (here a name with one address: localhost)."""
    server = replica_set.servers[0]
    before = replica_set.predictions([0])[0]
    with GrpcClient(f"dns:///localhost:{server.grpc_port}") as client:
        for k in range(3):
            np.testing.assert_allclose(client.predict("hpt", np.float32([k]))["y"], [k / 2 + 3])
    assert replica_set.predictions([0])[0] - before == 3
