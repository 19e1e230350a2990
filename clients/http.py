"""HTTP for the REST clients of both protocols: one pooled `requests.Session` over one server or several
replicas (round robin, failover and the retry rule of `clients.replicas`: refused or dropped
connections, 503 answers and read timeouts are tried again, on another replica when there is one).

Bodies go out as bytes the caller encoded (orjson for JSON, the binary framing for v2 tensors); an
answer other than 200 becomes a `ServingError` from its `{"error": ...}` body.

The environment requests reads (HTTP(S)_PROXY and NO_PROXY, REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE, ~/.netrc) is
read once, when the transport is made, for each replica: requests reads it again on every call, which cost
~0.6 ms a call (most of a REST call's time in the client).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from requests.utils import get_environ_proxies, get_netrc_auth

from clients import trace_context
from clients.errors import ServingError
from clients.replicas import Replicas, RetryableError, addresses
from protocol.json_text import loads

# A replica that does not accept a connection within this (a dead host drops packets rather than
# refusing) is left for the next one instead of holding the call for the whole timeout.
CONNECT_TIMEOUT_S = 10.0
JSON_HEADERS = {"Content-Type": "application/json"}


def retry_after(response: requests.Response) -> float | None:
    """Seconds a 503's Retry-After asks for (a number or an HTTP date), if it says."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class _Environment:
    """What requests would take from the environment for one replica's URL."""

    proxies: dict[str, str]
    auth: tuple[str, str] | None
    verify: bool | str

    @classmethod
    def of(cls, url: str, verify: bool | str) -> _Environment:
        if verify is True:  # requests' rule: the bundle the environment names replaces the default one
            verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        return cls(get_environ_proxies(url), get_netrc_auth(url), verify)


class HttpTransport:
    """`url` is a base URL (`http://127.0.0.1:8501`, `https://host:8501`) or a list of replicas' base URLs.

    `retries` bounds the extra attempts per call, `backoff` (seconds) the pause before a replica is
    tried again. `verify` and `cert` are passed to requests: `verify` a CA bundle path (or False to
    skip verification), `cert` a client certificate path or a (certificate, key) pair of paths.
    """

    def __init__(
        self,
        url: str | Sequence[str],
        *,
        timeout: float,
        retries: int,
        backoff: float,
        pool_size: int,
        verify: bool | str,
        cert: str | tuple[str, str] | None,
    ):
        self.urls = [u.rstrip("/") for u in addresses(url)]
        self.timeout = timeout
        self.cert = cert
        self.replicas = Replicas(self.urls, retries=retries, backoff=backoff)
        self.session = requests.Session()
        self.session.trust_env = False  # read once, here, not on every call
        self._environment = {u: _Environment.of(u, verify) for u in self.urls}
        # No urllib3 retries: every failed attempt comes back to `Replicas`, which picks where to retry.
        adapter = HTTPAdapter(pool_connections=max(pool_size, len(self.urls)), pool_maxsize=pool_size, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def close(self) -> None:
        self.session.close()

    def call(
        self, method: str, path: str, body: bytes | None = None, headers: Mapping[str, str] | None = None
    ) -> requests.Response:
        """The 200 answer of one replica or another; ServingError for any other."""
        return self.replicas.call(lambda url: self._send(url, method, path, body, headers))

    def call_json(self, method: str, path: str, body: bytes | None = None) -> Any:
        """`call` with a JSON body (already encoded) and a JSON answer, decoded."""
        response = self.call(method, path, body, JSON_HEADERS if body is not None else None)
        try:
            return loads(response.content)
        except ValueError as e:
            raise ServingError("INTERNAL", f"non-JSON answer from {path}: {response.text[:200]!r}") from e

    def _send(
        self, url: str, method: str, path: str, body: bytes | None, headers: Mapping[str, str] | None
    ) -> requests.Response:
        """One attempt on one replica."""
        connect = min(CONNECT_TIMEOUT_S, self.timeout)
        trace = trace_context.headers()
        if trace:
            headers = {**(headers or {}), **trace}
        environment = self._environment[url]
        try:
            response = self.session.request(
                method,
                url + path,
                data=body,
                headers=headers,
                proxies=environment.proxies,
                auth=environment.auth,
                verify=environment.verify,
                cert=self.cert,
                timeout=(connect, self.timeout),
            )
        except requests.exceptions.ConnectTimeout as e:
            raise RetryableError(ServingError("UNAVAILABLE", f"{url}: no connection within {connect} s")) from e
        except requests.exceptions.Timeout as e:
            raise RetryableError(ServingError("DEADLINE_EXCEEDED", f"{url}: no answer within {self.timeout} s")) from e
        except (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError) as e:
            raise RetryableError(ServingError("UNAVAILABLE", f"{url}: {e}")) from e  # refused, reset or cut off
        if response.status_code == 503:
            raise RetryableError(ServingError.from_http(503, response.content), retry_after(response))
        if response.status_code != 200:
            raise ServingError.from_http(response.status_code, response.content)
        return response
