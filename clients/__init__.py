"""Thin clients for TensorFlow Serving (the official server or ``python -m serving``).

    from clients import RestClient, GrpcClient, classify_image, detect, generate, segment

Names are imported on first use, so ``import clients`` stays fast.
"""

from importlib import import_module
from typing import Any

_EXPORTS = {
    "RestClient": "clients.rest",
    "GrpcClient": "clients.grpc_client",
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
