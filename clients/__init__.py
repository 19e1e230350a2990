"""Thin clients for TensorFlow Serving (the official server or ``python -m serving``) and for servers of the
Open Inference Protocol (KServe v2: ``python -m serving``, Triton, KServe's runtimes), one ``predict`` on all.

    from clients import RestClient, GrpcClient, classify_image, detect, generate, segment
    from clients import V2RestClient, V2GrpcClient

Names are imported on first use, so ``import clients`` stays fast.
"""

from importlib import import_module
from typing import Any

_EXPORTS = {
    "RestClient": "clients.rest",
    "GrpcClient": "clients.grpc_client",
    "V2RestClient": "clients.v2_rest",
    "V2GrpcClient": "clients.v2_grpc",
    "ServingError": "clients.errors",
    "Detection": "clients.models",
    "classify_image": "clients.models",
    "classify_images": "clients.models",
    "detect": "clients.models",
    "detect_many": "clients.models",
    "generate": "clients.models",
    "Segment": "clients.models",
    "Segmentation": "clients.models",
    "segment": "clients.models",
    "segment_many": "clients.models",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'clients' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
