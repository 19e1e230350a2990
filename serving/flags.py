"""Command-line flags of `tensorflow_model_server`, with the same names, defaults and forms.

Accepts `--flag=value` and `--flag value`; boolean flags also take the bare `--flag` and
`--flag=true|false|1|0`. Unknown flags are an error.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from protocol.limits import MAX_EXPANSION_BYTES
from serving.management import MODES as MODEL_MANAGEMENT_MODES
from serving.request_limits import IN_FLIGHT_REQUESTS


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _add_bool(parser: argparse.ArgumentParser, name: str, default: bool, help_text: str) -> None:
    parser.add_argument(
        f"--{name}",
        type=_bool,
        nargs="?",
        const=True,
        default=default,
        metavar="true|false",
        help=f"{help_text} (default {str(default).lower()})",
    )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m serving",
        description="TensorFlow-Serving-compatible model server (gRPC and REST).",
        allow_abbrev=False,
    )
    p.add_argument("--port", type=int, default=8500, help="gRPC port; 0 disables gRPC (default 8500)")
    p.add_argument("--grpc_host", default="0.0.0.0", help="address the gRPC server binds (default 0.0.0.0)")
    p.add_argument(
        "--rest_api_port",
        type=int,
        default=0,
        help="HTTP/REST port; 0 (the default) disables REST; must differ from --port",
    )
    p.add_argument("--rest_api_host", default="0.0.0.0", help="address the REST server binds (default 0.0.0.0)")
    p.add_argument(
        "--rest_api_num_threads",
        type=int,
        default=0,
        help="threads running REST inference; 0 = chosen from the CPU count",
    )
    p.add_argument(
        "--rest_api_timeout_in_ms",
        type=int,
        default=30000,
        help="REST request timeout in ms; over it the answer is 504 (default 30000; <=0 = none)",
    )
    _add_bool(p, "rest_api_enable_cors_support", False, "add CORS headers to REST responses")
    p.add_argument(
        "--max_request_body_bytes",
        type=int,
        default=1 << 30,
        help="largest accepted REST request body after decompression; larger gets 413 (default 1 GiB)",
    )
    p.add_argument(
        "--rest_api_max_connections",
        type=int,
        default=0,
        help="most REST connections open at once; at the cap a new connection closes the oldest one "
        "that has no request in progress, or gets 503 (default 0 = a quarter of the open-file "
        "limit, at most 4096)",
    )
    p.add_argument(
        "--rest_api_read_timeout_in_ms",
        type=int,
        default=30000,
        help="time a REST client has to send a request's headers (from connecting or from its previous "
        "answer) and again its body, and to read the answer; then the connection closes (default 30000)",
    )
    p.add_argument(
        "--max_tensor_elements",
        type=int,
        default=0,
        help="most elements one request tensor may declare (REST and gRPC); more is INVALID_ARGUMENT "
        "(default 0 = no cap, as officially)",
    )
    p.add_argument(
        "--max_request_expansion_bytes",
        type=int,
        default=MAX_EXPANSION_BYTES,
        help="most bytes the server builds for one request beyond what it carried: gRPC typed fields shorter "
        "than their shape, filled up to it as TensorFlow does, and a classify/regress context copied into every "
        "example (REST and gRPC); more is INVALID_ARGUMENT; requests in flight hold at most "
        f"{IN_FLIGHT_REQUESTS} times this together, later ones wait their turn (not an official flag; default 64 MiB)",
    )
    p.add_argument(
        "--max_concurrent_runs_per_model",
        type=int,
        default=-1,
        help="most runs of one model version at once; later requests wait their turn in arrival "
        "order, so none is starved (not an official flag; default -1 = twice the number of CPUs, "
        "0 = no limit, as officially)",
    )
    _add_bool(p, "enable_batching", False, "enable dynamic batching")
    p.add_argument(
        "--batching_parameters_file", default="", help="text BatchingParameters proto; needs --enable_batching"
    )
    _add_bool(
        p,
        "enable_per_model_batching_parameters",
        False,
        "with --enable_batching: batch each version with the queue settings of its own batching_params.pbtxt "
        "(versions without one are not batched); the batch threads stay --batching_parameters_file's",
    )
    _add_bool(
        p,
        "allow_version_labels_for_unavailable_models",
        False,
        "allow version labels to point at versions that are not AVAILABLE yet",
    )
    p.add_argument(
        "--model_config_file",
        default="",
        help="text ModelServerConfig proto (overrides --model_name/--model_base_path)",
    )
    p.add_argument(
        "--model_config_file_poll_wait_seconds",
        type=int,
        default=0,
        help="seconds between re-reads of --model_config_file; 0 = read once",
    )
    p.add_argument(
        "--model_management",
        choices=MODEL_MANAGEMENT_MODES,
        default="on",
        help="who may call HandleReloadConfigRequest, which replaces the whole model list: on = any client "
        "(as officially; the default), loopback = clients on 127.0.0.0/8, ::1 or --grpc_socket_path only, "
        "off = nobody (PERMISSION_DENIED). Not an official flag",
    )
    p.add_argument("--model_name", default="default", help="model name (default 'default')")
    p.add_argument("--model_base_path", default="", help="directory holding the model's integer version directories")
    p.add_argument(
        "--file_system_poll_wait_seconds",
        type=int,
        default=1,
        help="seconds between scans for new versions; 0 = scan once; <0 = never",
    )
    p.add_argument("--max_num_load_retries", type=int, default=5, help="load retries after a failure (default 5)")
    p.add_argument(
        "--load_retry_interval_micros",
        type=int,
        default=60_000_000,
        help="wait between load retries in microseconds (default 1 minute)",
    )
    p.add_argument(
        "--num_load_threads",
        type=int,
        default=0,
        help="threads loading versions; 0 = 4 x CPUs (officially 0 loads one at a time)",
    )
    p.add_argument(
        "--num_unload_threads",
        type=int,
        default=0,
        help="threads unloading versions; 0 = 4 x CPUs (officially 0 unloads one at a time)",
    )
    _add_bool(p, "flush_filesystem_caches", True, "accepted for compatibility; no effect")
    p.add_argument(
        "--tensorflow_session_parallelism",
        type=int,
        default=0,
        help="threads for both intra- and inter-op parallelism; 0 = auto",
    )
    p.add_argument("--tensorflow_intra_op_parallelism", type=int, default=0, help="intra-op threads; 0 = auto")
    p.add_argument(
        "--tensorflow_session_config_file",
        default="",
        help="a text tensorflow.ConfigProto every model's Session starts from (the flags above then apply)",
    )
    p.add_argument("--tensorflow_inter_op_parallelism", type=int, default=0, help="inter-op threads; 0 = auto")
    p.add_argument("--saved_model_tags", default="serve", help="comma-separated MetaGraph tags to load (default serve)")
    p.add_argument(
        "--grpc_channel_arguments",
        default="",
        help="comma-separated key=value gRPC server arguments; they override the built-in ones",
    )
    p.add_argument(
        "--ssl_config_file",
        default="",
        help="text SSLConfig proto (server_key, server_cert, custom_ca, client_verify): gRPC over TLS",
    )
    p.add_argument(
        "--rest_api_ssl_config_file",
        default="",
        help="text SSLConfig proto for HTTPS on the REST port (not an official flag; may be the same file)",
    )
    p.add_argument("--grpc_max_threads", type=int, default=0, help="gRPC worker threads; 0 = chosen from the CPU count")
    _add_bool(p, "enable_model_warmup", True, "replay assets.extra/tf_serving_warmup_requests before serving a version")
    p.add_argument(
        "--num_request_iterations_for_warmup",
        type=int,
        default=0,
        help="times each warmup record is replayed; used when > 0",
    )
    p.add_argument("--monitoring_config_file", default="", help="text MonitoringConfig proto (Prometheus endpoint)")
    _add_bool(
        p,
        "enable_signature_method_name_check",
        False,
        "require classify/regress/predict method_name on signatures like TF1 models",
    )
    _add_bool(
        p,
        "enable_serialization_as_tensor_content",
        False,
        "write gRPC output tensors as tensor_content instead of typed value fields",
    )
    _add_bool(p, "version", False, "print the version and exit")
    _add_official_extras(p)
    return p


def _add_official_extras(p: argparse.ArgumentParser) -> None:
    """The remaining tensorflow_model_server 2.21 flags: health service, socket, GPU, precision, no-ops."""
    _add_bool(
        p,
        "enable_grpc_healthcheck_service",
        False,
        "serve grpc.health.v1.Health: SERVING once the models are loaded, NOT_SERVING while draining",
    )
    p.add_argument("--grpc_socket_path", default="", help="also serve gRPC on this UNIX domain socket")
    p.add_argument(
        "--per_process_gpu_memory_fraction",
        type=float,
        default=0.0,
        help="fraction of each GPU's memory a model's Session may take (0: TensorFlow's default)",
    )
    p.add_argument(
        "--mixed_precision", default="", help="bfloat16: grappler's oneDNN auto-mixed-precision rewrite for every model"
    )
    _add_bool(
        p,
        "xla_cpu_compilation_enabled",
        False,
        "accepted; jit_compile signatures always run here (officially they fail without it)",
    )
    _add_bool(p, "xla_gpu_compilation_enabled", False, "accepted; as --xla_cpu_compilation_enabled")
    _add_bool(p, "enable_profiler", True, "accepted; the TensorFlow profiler service is not served")
    for name, default, help_text in _NOT_APPLIED:
        if isinstance(default, bool):
            _add_bool(p, name, default, help_text)
        else:
            p.add_argument(f"--{name}", type=type(default), default=default, help=help_text)


# Official flags this server accepts but cannot apply: (flag, official default, why). A value other
# than the default gets one warning line at start-up (see `not_applied_warnings`).
_NOT_APPLIED: tuple[tuple[str, object, str], ...] = (
    ("use_alts_credentials", False, "ALTS needs Google infrastructure; not supported"),
    ("platform_config_file", "", "only the tensorflow platform exists here; its options come from the flags"),
    ("remove_unused_fields_from_bundle_metagraph", True, "the MetaGraph's graph is always dropped after loading"),
    ("prefer_tflite_model", False, "TF Lite models are not served"),
    ("num_tflite_pools", 1, "TF Lite models are not served"),
    ("num_tflite_interpreters_per_pool", 1, "TF Lite models are not served"),
    ("thread_pool_factory_config_file", "", "custom inference thread pools are not supported"),
    ("skip_initialize_tpu", False, "TPUs are not supported"),
)


def not_applied_warnings(args: argparse.Namespace) -> list[str]:
    """One line per accepted official flag whose non-default value this server does not apply."""
    lines = [
        f"--{name}={getattr(args, name)} is accepted but not applied: {why}"
        for name, default, why in _NOT_APPLIED
        if getattr(args, name) != default
    ]
    if args.mixed_precision not in ("", "bfloat16"):
        lines.append(f"--mixed_precision={args.mixed_precision} is not applied: only bfloat16 is supported")
    return lines


def parse_flags(argv: Sequence[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)
