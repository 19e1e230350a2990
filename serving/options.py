"""Every setting of a running server in one object, built once from its flags; each part reads its own.

serving/flags.py says what the command line accepts; `ServerOptions.from_flags` is the one place that turns
flags into settings (defaults resolved, units converted, caps derived from the machine).
"""

from __future__ import annotations

import argparse
import os
import resource
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from serving.request_limits import RequestLimits

if TYPE_CHECKING:  # servable.py imports TensorFlow; flags are checked before TensorFlow is imported
    from serving.servable import ServableOptions

# The most gRPC connections by default (else half the open-file limit): gRPC cannot evict a connection to admit
# another, so its cap is the descriptors it may really use, not a round number an idle-socket flood reaches. An
# idle HTTP/2 connection costs grpc about 15 KB (4,200 of them measured +63 MiB), so this many cost about 1 GB.
MAX_GRPC_CONNECTIONS = 65_536
DEFAULT_METRICS_PATH = "/monitoring/prometheus/metrics"


@dataclass(frozen=True)
class ServerOptions:
    # gRPC (TF Serving's API on --port, and --grpc_socket_path)
    grpc_host: str = "0.0.0.0"
    grpc_port: int = 8500
    grpc_socket_path: str = ""
    grpc_workers: int = 64
    grpc_max_connections: int = 4096
    grpc_channel_arguments: str = ""
    grpc_health_service: bool = False
    tensor_content_responses: bool = False  # --enable_serialization_as_tensor_content
    model_management: str = "on"  # who may call HandleReloadConfigRequest (serving/management.py)
    # REST (--rest_api_port; 0 = off)
    rest_host: str = "0.0.0.0"
    rest_port: int = 0
    rest_workers: int = 64
    rest_timeout_ms: int = 30000
    rest_cors: bool = False
    rest_max_body_bytes: int = 1 << 30  # after gzip decoding
    rest_max_connections: int = 4096
    rest_read_timeout_ms: int = 30000
    metrics_path: str | None = None  # Prometheus text on the REST port, when monitoring is on
    # every request, on every API
    limits: RequestLimits = field(default_factory=RequestLimits)
    # models: polling, loading, retries
    file_system_poll_wait_seconds: int = 1
    allow_labels_for_unavailable: bool = False
    max_num_load_retries: int = 5
    load_retry_interval_s: float = 60.0
    num_load_threads: int = 0  # 0: serving.core.workers.default_threads()
    num_unload_threads: int = 0
    # each loaded version (its Session, run admission, warmup; batching is added once the scheduler runs);
    # None: ServableOptions' defaults
    servable: ServableOptions | None = None

    @classmethod
    def from_flags(cls, args: argparse.Namespace, metrics_path: str | None = None) -> ServerOptions:
        """The settings `args` (serving.flags.parse_flags) ask for on this machine."""
        from serving.servable import ServableOptions

        file_limit = open_file_limit()
        return cls(
            grpc_host=args.grpc_host,
            grpc_port=args.port,
            grpc_socket_path=args.grpc_socket_path,
            grpc_workers=worker_count(args.grpc_max_threads),
            grpc_max_connections=max(8, min(MAX_GRPC_CONNECTIONS, file_limit // 2)),
            grpc_channel_arguments=args.grpc_channel_arguments,
            grpc_health_service=args.enable_grpc_healthcheck_service,
            tensor_content_responses=args.enable_serialization_as_tensor_content,
            model_management=args.model_management,
            rest_host=args.rest_api_host,
            rest_port=args.rest_api_port,
            rest_workers=worker_count(args.rest_api_num_threads),
            rest_timeout_ms=args.rest_api_timeout_in_ms,
            rest_cors=args.rest_api_enable_cors_support,
            rest_max_body_bytes=args.max_request_body_bytes,
            rest_max_connections=rest_connection_cap(args.rest_api_max_connections, file_limit),
            rest_read_timeout_ms=max(args.rest_api_read_timeout_in_ms, 1),
            metrics_path=metrics_path,
            limits=RequestLimits(
                max_tensor_elements=max(args.max_tensor_elements, 0),
                max_expansion_bytes=max(args.max_request_expansion_bytes, 0),
            ),
            file_system_poll_wait_seconds=args.file_system_poll_wait_seconds,
            allow_labels_for_unavailable=args.allow_version_labels_for_unavailable_models,
            max_num_load_retries=args.max_num_load_retries,
            load_retry_interval_s=max(args.load_retry_interval_micros, 0) / 1e6,
            num_load_threads=max(args.num_load_threads, 0),
            num_unload_threads=max(args.num_unload_threads, 0),
            servable=ServableOptions(
                session=session_settings(args),
                method_check=args.enable_signature_method_name_check,
                max_concurrent_runs=run_concurrency(args.max_concurrent_runs_per_model),
                warmup_iterations=max(args.num_request_iterations_for_warmup, 1) if args.enable_model_warmup else 0,
            ),
        )


def session_settings(args: argparse.Namespace):
    """The Session every model is loaded into (server.cc's SessionBundleConfig): --saved_model_tags,
    --tensorflow_session_config_file, the parallelism flags, --per_process_gpu_memory_fraction and
    --mixed_precision."""
    from serving.errors import Code, ServingError
    from serving.session_bundle import SessionSettings

    intra, inter = args.tensorflow_intra_op_parallelism, args.tensorflow_inter_op_parallelism
    if intra <= 0 and inter <= 0:
        intra = inter = args.tensorflow_session_parallelism
    config_text = ""
    if args.tensorflow_session_config_file:
        try:
            with open(args.tensorflow_session_config_file, encoding="utf-8") as f:
                config_text = f.read()
        except OSError as e:
            raise ServingError(Code.NOT_FOUND, f"{args.tensorflow_session_config_file}: {e.strerror}") from None
    return SessionSettings.build(
        tags=[t for t in args.saved_model_tags.split(",") if t],
        config_text=config_text,
        intra_op_threads=intra,
        inter_op_threads=inter,
        gpu_memory_fraction=args.per_process_gpu_memory_fraction,
        mixed_precision=args.mixed_precision,
    )


def worker_count(flag: int) -> int:
    """--grpc_max_threads / --rest_api_num_threads: the flag, or enough threads that requests waiting for a
    model never hold the ones that could run."""
    return flag if flag > 0 else max(64, 8 * (os.cpu_count() or 1))


def run_concurrency(flag: int) -> int:
    """--max_concurrent_runs_per_model: by default two runs per CPU (B0 at 32 clients on 2 CPUs, runs at once:
    1 -> 37 img/s, 2 -> 42-66, 4 -> 48-78, 8 -> 47-50, no limit -> 44-52; docs/performance.md)."""
    return flag if flag >= 0 else 2 * max(1, os.cpu_count() or 1)


def open_file_limit() -> int:
    """Raises the soft RLIMIT_NOFILE to the hard one (as Go servers do) and returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = 1 << 20 if hard == resource.RLIM_INFINITY else hard
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


def rest_connection_cap(flag: int, file_limit: int) -> int:
    """--rest_api_max_connections: the flag, or a quarter of the open-file limit (at most 4096); gRPC may use
    half (it cannot evict: 4,200 sockets that never sent the HTTP/2 preface made Predict and grpc.health.v1
    UNAVAILABLE under a cap of 4096), models and TensorFlow keep the rest."""
    return flag if flag > 0 else max(8, min(4096, file_limit // 4))
