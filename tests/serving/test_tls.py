"""Transport security with certificates the tests make: `--ssl_config_file` (gRPC, as the official
server applies it) and `--rest_api_ssl_config_file` (HTTPS REST), against the project's clients."""

from __future__ import annotations

import grpc
import numpy as np
import pytest

from clients.errors import ServingError
from clients.tfs_grpc import GrpcClient
from clients.tfs_rest import RestClient
from serving.testing.server_process import ServerProcess, run_server
from tests.serving import certificates

X = np.array([1.0, 3.0], np.float32)
HALF_PLUS_THREE = {"y": np.array([3.5, 4.5], np.float32)}  # half_plus_two version 2: y = 0.5x + 3


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    directory = tmp_path_factory.mktemp("pki")
    ca = certificates.CertificateAuthority()
    rogue = certificates.CertificateAuthority("someone else's CA")
    files = {"dir": directory, "ca_pem": ca.pem, "ca_file": directory / "ca.pem"}
    files["ca_file"].write_bytes(ca.pem)
    files["server"] = ca.issue("127.0.0.1", server=True)
    files["client"] = ca.issue("a trusted client")
    files["rogue"] = rogue.issue("an unknown client")
    files["client_files"] = files["client"].write(directory, "client")
    files["rogue_files"] = files["rogue"].write(directory, "rogue")
    for name, verify in (("mtls", True), ("tls", False)):
        path = directory / f"{name}.config"
        path.write_text(certificates.ssl_config_text(files["server"], ca.pem if verify else None, verify))
        files[name] = path
    return files


def _server(model_root, config):
    return ServerProcess(
        model_name="half_plus_two",
        model_base_path=model_root / "half_plus_two",
        args=[
            f"--ssl_config_file={config}",
            f"--rest_api_ssl_config_file={config}",
            "--file_system_poll_wait_seconds=0",
        ],
    )


@pytest.fixture(scope="module")
def mtls_server(model_root, pki):
    with _server(model_root, pki["mtls"]) as server:
        yield server


@pytest.fixture(scope="module")
def tls_server(model_root, pki):
    with _server(model_root, pki["tls"]) as server:
        yield server


def _grpc_predict(server, **tls):
    with GrpcClient(server.grpc_address, timeout=20, retries=0, **tls) as client:
        return client.predict("half_plus_two", {"x": X})


def _rest_predict(server, scheme="https", **tls):
    with RestClient(f"{scheme}://127.0.0.1:{server.rest_port}", timeout=20, retries=0, **tls) as client:
        return client.predict("half_plus_two", {"x": X})


def _equal(outputs):
    return set(outputs) == {"y"} and np.allclose(outputs["y"], HALF_PLUS_THREE["y"])


def test_grpc_with_client_verification_takes_a_client_certificate_from_the_ca(mtls_server, pki):
    client = pki["client"]
    credentials = grpc.ssl_channel_credentials(pki["ca_pem"], client.key, client.cert)
    assert _equal(_grpc_predict(mtls_server, credentials=credentials))
    assert "Using SSL credentials" in mtls_server.log()


@pytest.mark.parametrize("tls", ["no client certificate", "a certificate from another CA", "plaintext"])
def test_grpc_with_client_verification_refuses_everyone_else(mtls_server, pki, tls):
    if tls == "no client certificate":
        options = {"root_certificates": pki["ca_pem"]}
    elif tls == "a certificate from another CA":
        rogue = pki["rogue"]
        options = {"credentials": grpc.ssl_channel_credentials(pki["ca_pem"], rogue.key, rogue.cert)}
    else:
        options = {}
    with pytest.raises(ServingError) as info:
        _grpc_predict(mtls_server, **options)
    assert info.value.code == "UNAVAILABLE"


def test_rest_with_client_verification(mtls_server, pki):
    assert _equal(_rest_predict(mtls_server, verify=str(pki["ca_file"]), cert=tuple(map(str, pki["client_files"]))))
    for refused in (
        {"verify": str(pki["ca_file"])},
        {"verify": str(pki["ca_file"]), "cert": tuple(map(str, pki["rogue_files"]))},
    ):
        with pytest.raises(ServingError) as info:
            _rest_predict(mtls_server, **refused)
        assert info.value.code == "UNAVAILABLE"
    with pytest.raises(ServingError):
        _rest_predict(mtls_server, scheme="http")


def test_server_only_tls_with_the_clients_tls_options(tls_server, pki):
    assert _equal(_grpc_predict(tls_server, tls=True, root_certificates=pki["ca_pem"]))
    assert _equal(_rest_predict(tls_server, verify=str(pki["ca_file"])))
    with pytest.raises(ServingError) as info:  # the system roots do not know the tests' CA
        _grpc_predict(tls_server, tls=True)
    assert info.value.code == "UNAVAILABLE"
    with pytest.raises(ServingError) as info:
        _rest_predict(tls_server)
    assert info.value.code == "UNAVAILABLE"


def test_rest_verifies_against_the_ca_bundle_the_environment_names(tls_server, pki, monkeypatch):
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki["ca_file"]))  # requests' rule, read when the client is made
    assert _equal(_rest_predict(tls_server))
    with pytest.raises(ServingError) as info:  # a bundle the caller names is used, not the environment's
        _rest_predict(tls_server, verify=str(pki["rogue_files"][0]))
    assert info.value.code == "UNAVAILABLE"


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "needs both server_key and server_cert"),
        ('server_key: "k" server_cert: "c" client_verify: true', "sets client_verify without custom_ca"),
        ('server_key: "not a key" server_cert: "not a certificate"', "does not hold a usable key, certificate and CA"),
        ("server_kee: 1", "Invalid protobuf file"),
    ],
)
def test_a_bad_ssl_config_fails_start_up_with_one_line(tmp_path, text, message):
    config = tmp_path / "ssl.config"
    config.write_text(text)
    result = run_server([f"--ssl_config_file={config}", f"--model_base_path={tmp_path}"])
    assert result.returncode == 255
    assert message in result.stderr and "Traceback" not in result.stderr


def test_alts_and_ssl_together_fail_start_up_as_officially(tmp_path, pki):
    result = run_server(["--use_alts_credentials", f"--ssl_config_file={pki['tls']}", f"--model_base_path={tmp_path}"])
    assert result.returncode == 255
    assert "Either use_alts_credentials must be false or ssl_config_file must be empty." in result.stderr
