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
    "RestClient": "clients.tfs_rest",
    "GrpcClient": "clients.tfs_grpc",
    "V2RestClient": "clients.v2_rest",
    "V2GrpcClient": "clients.v2_grpc",
    "ServingError": "clients.errors",
    "Detection": "clients.tasks",
    "classify_image": "clients.tasks",
    "classify_images": "clients.tasks",
    "detect": "clients.tasks",
    "detect_many": "clients.tasks",
    "generate": "clients.tasks",
    "Segment": "clients.tasks",
    "Segmentation": "clients.tasks",
    "segment": "clients.tasks",
    "segment_many": "clients.tasks",
}


def test_public_names_import():
    from clients import (  # noqa: F401
        Detection,
        GrpcClient,
        RestClient,
        Segment,
        Segmentation,
        ServingError,
        V2GrpcClient,
        V2RestClient,
        classify_image,
        classify_images,
        detect,
        detect_many,
        generate,
        segment,
        segment_many,
    )

    assert sorted(clients.__all__) == sorted(EXPORTS)
    for name, module in EXPORTS.items():
        assert getattr(clients, name) is getattr(import_module(module), name)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        clients.nope  # noqa: B018


def test_import_clients_loads_no_transport():
    code = (
        "import sys, clients; print(sorted(m for m in sys.modules if m.startswith(('clients.', 'grpc', 'requests'))))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert run.stdout.strip() == "[]"


def test_no_client_or_protocol_module_loads_tensorflow():
    """The client install has no TensorFlow: importing every client and protocol module must not need it."""
    code = (
        "import pkgutil, sys, importlib, clients, protocol\n"
        "names = [m.name for p in (clients, protocol) for m in pkgutil.walk_packages(p.__path__, p.__name__ + '.')\n"
        "         if m.name != 'clients.__main__']\n"
        "for name in names:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except ModuleNotFoundError as e:  # s3/gcs need the [object-storage] extra's SDKs, nothing else may\n"
        "        if not (name.startswith('protocol.object_store.') and e.name.split('.')[0] in ('boto3', 'google')):\n"
        "            raise\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'tensorflow_serving', 'keras'))\n"
        "print(len(names), loaded)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    count, loaded = run.stdout.split(" ", 1)
    assert int(count) > 30 and loaded.strip() == "[]"
    issue = "import clients, sys; assert not any(m.startswith('tensorflow') for m in sys.modules)"
    subprocess.run([sys.executable, "-c", issue], cwd=ROOT, check=True)
