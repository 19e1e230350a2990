"""`--model_management`: who may call HandleReloadConfigRequest, which replaces the whole model list.

`on` (the default, as officially) is what TF Serving's own tests and tests/deploy/image/test_healthcheck.py
rely on: a reload over TCP from localhost. `off` refuses every caller; `loopback` takes 127.0.0.0/8, ::1
and the UNIX socket and refuses everyone else. A non-loopback caller is made without leaving the machine:
the server and its clients run in a network namespace of their own (`unshare`) whose loopback interface
also carries 192.0.2.1 (TEST-NET-1, documentation-only), so a call to 192.0.2.1 comes from 192.0.2.1.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap

import pytest

from clients.errors import ServingError
from clients.tfs_grpc import GrpcClient
from serving.flags import parse_flags
from serving.management import is_loopback_peer
from serving.testing.models import build_half_plus_two
from serving.testing.server_process import REPO_ROOT, SERVER_PYTHON, ServerProcess, model_config_text

TEST_NET = "192.0.2.1"


@pytest.fixture(scope="module")
def hpt(tmp_path_factory):
    return build_half_plus_two(tmp_path_factory.mktemp("management") / "hpt")


@pytest.mark.parametrize(
    "peer, local",
    [
        ("ipv4:127.0.0.1:51234", True),
        ("ipv4:127.3.2.1:51234", True),
        ("ipv6:[::1]:51234", True),
        ("ipv6:%5B::1%5D:51234", True),  # how gRPC Python writes it
        ("ipv6:[::ffff:127.0.0.1]:51234", True),
        ("ipv6:%5B::ffff:127.0.0.1%5D:51234", True),
        ("unix:/run/tfs.sock", True),
        ("unix:", True),
        (f"ipv4:{TEST_NET}:51234", False),
        ("ipv6:[2001:db8::1]:51234", False),
        ("ipv6:[::ffff:192.0.2.1]:51234", False),
        ("ipv6:%5Bfe80::1%25eth0%5D:51234", False),
        ("ipv6:%5B2001:db8::1%5D:51234", False),
        ("unix-abstract:tfs", False),
        ("", False),
    ],
)
def test_loopback_peers(peer, local):
    assert is_loopback_peer(peer) is local


def test_the_default_is_the_official_behaviour():
    assert parse_flags([]).model_management == "on"
    with pytest.raises(SystemExit):
        parse_flags(["--model_management=sometimes"])


def test_off_refuses_every_reload_and_changes_nothing(hpt):
    config = model_config_text([{"name": "hpt", "base_path": hpt}])
    with ServerProcess(model_name="hpt", model_base_path=hpt, args=["--model_management=off"]) as server:
        with GrpcClient(server.grpc_address, timeout=60, retries=0) as client:
            with pytest.raises(ServingError) as refused:
                client.reload_config(model_config_text([{"name": "bogus", "base_path": hpt}]))
            assert refused.value.code == "PERMISSION_DENIED"
            assert "--model_management=off" in refused.value.message
            with pytest.raises(ServingError, match="PERMISSION_DENIED|refused"):
                client.reload_config(config)
            assert client.status("hpt")[0].state == "AVAILABLE"
            assert client.predict("hpt", [2.0])["y"].tolist() == [3.0]
        assert "Refused HandleReloadConfigRequest from ipv4:127.0.0.1:" in server.log()


IN_NAMESPACE = textwrap.dedent(
    """
    import json, sys
    import grpc
    from google.protobuf import text_format
    from protocol.generated.tensorflow_serving.apis import (
        get_model_status_pb2, model_management_pb2, model_service_pb2_grpc)
    from serving.testing.server_process import ServerProcess, model_config_text

    base, socket_path = sys.argv[1], sys.argv[2]

    def reload(target, name):
        request = model_management_pb2.ReloadConfigRequest()
        text_format.Parse(model_config_text([{"name": name, "base_path": base}]), request.config)
        with grpc.insecure_channel(target) as channel:
            try:
                model_service_pb2_grpc.ModelServiceStub(channel).HandleReloadConfigRequest(request, timeout=120)
                return "OK"
            except grpc.RpcError as e:
                return f"{e.code().name}: {e.details()}"

    def state(target):
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = "hpt"
        with grpc.insecure_channel(target) as channel:
            answer = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(request, timeout=60)
        return get_model_status_pb2.ModelVersionStatus.State.Name(answer.model_version_status[0].state)

    args = ["--model_management=loopback", "--grpc_host=::", f"--grpc_socket_path={socket_path}"]
    with ServerProcess(model_name="hpt", model_base_path=base, rest=False, args=args) as server:
        port = server.grpc_port
        results = {"test-net": reload(f"{TEST_NET}:{port}", "bogus")}
        results["available after"] = state(f"127.0.0.1:{port}")
        results["loopback"] = reload(f"127.0.0.1:{port}", "hpt")
        results["ipv6 loopback"] = reload(f"[::1]:{port}", "hpt")
        results["unix"] = reload(f"unix:{socket_path}", "hpt")
        results["log"] = [line for line in server.log().splitlines() if "Refused" in line]
    print(json.dumps(results))
    """
).replace("TEST_NET", repr(TEST_NET))


def _namespace_works() -> bool:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return False
    probe = subprocess.run(["unshare", "-rn", "ip", "link", "set", "lo", "up"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not _namespace_works(), reason="no network namespaces here (unshare -rn, iproute2)")
def test_loopback_takes_loopback_and_the_socket_and_refuses_other_addresses(hpt, tmp_path):
    script = tmp_path / "in_namespace.py"
    script.write_text(IN_NAMESPACE)
    setup = f'ip link set lo up && ip addr add {TEST_NET}/32 dev lo && exec "$0" "$@"'
    run = subprocess.run(
        ["unshare", "-rn", "sh", "-c", setup, SERVER_PYTHON, str(script), str(hpt), str(tmp_path / "tfs.sock")],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO_ROOT,
        env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads(run.stdout.strip().splitlines()[-1])
    refusal = results["test-net"]
    assert refusal.startswith("PERMISSION_DENIED: HandleReloadConfigRequest refused: this server takes it only from ")
    assert "(--model_management=loopback)" in refusal and TEST_NET in refusal, refusal
    assert results["available after"] == "AVAILABLE"  # the refused reload (a bogus model only) unloaded nothing
    assert results["loopback"] == results["ipv6 loopback"] == results["unix"] == "OK", results
    assert len(results["log"]) == 1 and TEST_NET in results["log"][0]
