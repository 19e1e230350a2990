"""The REST clients honour the proxies the environment names (HTTP_PROXY / NO_PROXY), read once when the
client is made (tests/serving/test_tls.py: REQUESTS_CA_BUNDLE)."""

from __future__ import annotations

import numpy as np
import pytest

from clients.tfs_rest import RestClient
from clients.v2_rest import V2RestClient
from tests.clients.proxy import MisbehavingProxy


@pytest.fixture
def environment(monkeypatch):
    """A clean proxy environment (lower case wins in urllib; both spellings are cleared)."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch


@pytest.mark.parametrize("client_class", [RestClient, V2RestClient], ids=["tfs", "v2"])
def test_calls_go_through_the_proxy_the_environment_names(tiny_server, environment, client_class):
    with MisbehavingProxy(tiny_server.rest_url) as proxy:
        environment.setenv("http_proxy", proxy.url)
        with client_class(tiny_server.rest_url, retries=0) as client:
            environment.delenv("http_proxy")  # read when the client was made
            np.testing.assert_allclose(client.predict("hpt", [2.0], version=1)["y"], [3.0])
        sent = [r.path for r in proxy.requests]
    assert sent and all(path.startswith(tiny_server.rest_url + "/v") for path in sent)  # the absolute form
    assert any(path.endswith("/versions/1:predict") or path.endswith("/versions/1/infer") for path in sent)


def test_no_proxy_sends_calls_straight_to_the_server(tiny_server, environment):
    with MisbehavingProxy(tiny_server.rest_url) as proxy:
        environment.setenv("http_proxy", proxy.url)
        environment.setenv("no_proxy", "127.0.0.1")
        with RestClient(tiny_server.rest_url, retries=0) as client:
            np.testing.assert_allclose(client.predict("hpt", [2.0], version=1)["y"], [3.0])
        assert proxy.requests == []
