"""Thin clients for TensorFlow Serving (the official server or ``python -m serving``) and for servers of the
Open Inference Protocol (KServe v2: ``python -m serving``, Triton, KServe's runtimes), one ``predict`` on all.

    from clients import RestClient, GrpcClient, classify_image, detect, generate, segment
    from clients import V2RestClient, V2GrpcClient

Names are imported on first use, so ``import clients`` stays fast.
"""

from importlib import import_module
from typing import Any

_EXPORTS = {
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

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'clients' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
