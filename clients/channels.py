"""gRPC for the clients of both protocols: channels to one server or several replicas, and calls within
one deadline.

A target string is one gRPC channel with the `round_robin` load balancing policy, so a DNS name with
several addresses (a Kubernetes headless Service, `dns:///name:8500`) or an `ipv4:` list spreads calls
over every address gRPC resolves; a list of targets is one channel each, taken in turn by
`clients.replicas`, which also retries UNAVAILABLE on another replica (the retry rule is there).
Message limits are raised from gRPC's 4 MB default (images and generated batches exceed it), every
call carries one deadline over all its attempts, and TLS is optional.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import grpc

from clients import trace_context
from clients.errors import ServingError
from clients.replicas import Replicas, RetryableError, addresses
from protocol.limits import MAX_MESSAGE_BYTES

# gRPC waits up to 120 s between reconnection attempts by default; a replica that comes back should
# get calls again sooner.
MAX_RECONNECT_BACKOFF_MS = 10_000
SERVICE_CONFIG = json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})

S = TypeVar("S")


@dataclass(frozen=True)
class Endpoint(Generic[S]):
    """One target: its channel and the client's stubs on it."""

    channel: grpc.Channel
    stubs: S


class GrpcTransport(Generic[S]):
    """`target` is `host:port`, any gRPC target (`dns:///name:port`, `ipv4:10.0.0.1:8500,10.0.0.2:8500`),
    or a list of targets of replicas serving the same models; `stubs(channel)` makes a client's stubs.

    `retries` bounds the extra attempts per call, `backoff` (seconds) the pause before a replica is
    tried again. `tls=True` uses the system roots (or `root_certificates` PEM); `credentials`
    overrides both.
    """

    def __init__(
        self,
        target: str | Sequence[str],
        stubs: Callable[[grpc.Channel], S],
        *,
        timeout: float,
        tls: bool,
        root_certificates: bytes | None,
        credentials: grpc.ChannelCredentials | None,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        retries: int,
        backoff: float,
    ):
        self.targets = addresses(target)
        self.timeout = timeout
        options = [
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.service_config", SERVICE_CONFIG),
            ("grpc.max_reconnect_backoff_ms", MAX_RECONNECT_BACKOFF_MS),
        ]
        if credentials is None and (tls or root_certificates is not None):
            credentials = grpc.ssl_channel_credentials(root_certificates=root_certificates)
        if credentials is not None:
            channels = [grpc.secure_channel(t, credentials, options=options) for t in self.targets]
        else:
            channels = [grpc.insecure_channel(t, options=options) for t in self.targets]
        self.replicas = Replicas([Endpoint(c, stubs(c)) for c in channels], retries=retries, backoff=backoff)

    def close(self) -> None:
        for endpoint in self.replicas.endpoints:
            endpoint.channel.close()

    def call(self, method: Callable[[S], grpc.UnaryUnaryMultiCallable], request) -> Any:
        """`method(stubs)(request)` on one replica after another (`clients.replicas`), within one deadline."""
        deadline = time.monotonic() + self.timeout

        def send(endpoint: Endpoint[S]):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ServingError("DEADLINE_EXCEEDED", f"no answer within {self.timeout} s")
            try:
                return method(endpoint.stubs)(request, timeout=remaining, metadata=trace_context.metadata())
            except grpc.RpcError as e:
                error = ServingError.from_grpc(e)
                if error.code == "UNAVAILABLE":
                    raise RetryableError(error) from e
                raise error from e

        return self.replicas.call(send)
