"""`clients` exports its public names lazily: each resolves to the object in its module, and a bare
`import clients` loads none of the transports."""
from __future__ import annotations

import subprocess
import sys
from importlib import import_module
from pathlib import Path

import pytest

import clients

ROOT = Path(__file__).resolve().parents[2]
EXPORTS = {
    "RestClient": "clients.rest",
    "GrpcClient": "clients.grpc_client",
    "ServingError": "clients.errors",
    "Detection": "clients.models",
    "classify_image": "clients.models",
    "classify_images": "clients.models",
    "detect": "clients.models",
    "detect_many": "clients.models",
    "generate": "clients.models",
}


def test_public_names_import():
    from clients import (  # noqa: F401
        Detection, GrpcClient, RestClient, ServingError, classify_image, classify_images, detect, detect_many, generate)

    assert sorted(clients.__all__) == sorted(EXPORTS)
    for name, module in EXPORTS.items():
        assert getattr(clients, name) is getattr(import_module(module), name)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        clients.nope  # noqa: B018


def test_import_clients_loads_no_transport():
    code = "import sys, clients; print(sorted(m for m in sys.modules if m.startswith(('clients.', 'grpc', 'requests'))))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert run.stdout.strip() == "[]"
