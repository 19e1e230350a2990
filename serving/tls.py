"""Transport security from a text `tensorflow.serving.SSLConfig` (server_key, server_cert, custom_ca,
client_verify), for gRPC exactly as the official server applies `--ssl_config_file`, and for REST.

gRPC (model_servers/server.cc BuildServerCredentials): the key and certificate pair; `custom_ca`
becomes the root certificates clients are verified against; `client_verify` requires and
verifies a client certificate, otherwise none is requested. REST uses the same four fields:
an `ssl.SSLContext` with the pair, and with `client_verify` a client certificate signed by
`custom_ca` required. Where the official binary CHECK-fails on a bad file, start-up fails with a
clear message instead.
"""

from __future__ import annotations

import os
import ssl
import tempfile

import grpc

from serving.config import read_text_proto
from serving.errors import invalid_argument
from serving.protos import SSLConfig


def load_ssl_config(path: str) -> SSLConfig:
    """Parses and checks the file: the key and certificate must form a pair; client_verify needs custom_ca."""
    config = read_text_proto(path, SSLConfig())
    if not config.server_key or not config.server_cert:
        raise invalid_argument(f"SSLConfig in {path} needs both server_key and server_cert (PEM text)")
    if config.client_verify and not config.custom_ca:
        raise invalid_argument(
            f"SSLConfig in {path} sets client_verify without custom_ca: clients' certificates "
            "need the CA that signs them"
        )
    try:
        server_context(config)
    except (ssl.SSLError, ValueError) as e:
        raise invalid_argument(f"SSLConfig in {path} does not hold a usable key, certificate and CA: {e}") from None
    return config


def grpc_credentials(config: SSLConfig) -> grpc.ServerCredentials:
    """SslServerCredentials as the official server builds them."""
    return grpc.ssl_server_credentials(
        [(config.server_key.encode(), config.server_cert.encode())],
        root_certificates=config.custom_ca.encode() if config.custom_ca else None,
        require_client_auth=config.client_verify,
    )


def server_context(config: SSLConfig) -> ssl.SSLContext:
    """A TLS server context for REST with the same key, certificate, CA and client verification."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # The ssl module reads a key and certificate only from files: write them to a private directory
    # for the duration of the call.
    with tempfile.TemporaryDirectory(prefix="serving-tls-") as directory:
        key, cert = os.path.join(directory, "key.pem"), os.path.join(directory, "cert.pem")
        for path, text in ((key, config.server_key), (cert, config.server_cert)):
            with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
                f.write(text)
        context.load_cert_chain(cert, key)
    if config.client_verify:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cadata=config.custom_ca)
    return context
