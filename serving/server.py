"""Wires flags, the serving core, gRPC and REST together.

Start-up blocks until models are loaded; SIGTERM stops cleanly."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import resource
import signal
import sys
import threading

from serving import config as config_lib
from serving.health import HealthReporter
from serving.status import ServingError

log = logging.getLogger("serving")

VERSION = "python-serving 0.1.0 (tensorflow_model_server compatible)"


def check_parallelism(args: argparse.Namespace) -> None:
    """All three thread-count flags at once is an error, as officially."""
    intra, inter = args.tensorflow_intra_op_parallelism, args.tensorflow_inter_op_parallelism
    if intra > 0 and inter > 0 and args.tensorflow_session_parallelism > 0:
        raise ServingError(
            config_lib.Code.INVALID_ARGUMENT,
            "Either configure server_options.tensorflow_session_parallelism or "
            "(server_options.tensorflow_intra_op_parallelism, "
            "server_options.tensorflow_inter_op_parallelism) separately. You cannot configure all.",
        )


def session_settings(args: argparse.Namespace):
    """The Session every model is loaded into (server.cc's SessionBundleConfig): --saved_model_tags,
    --tensorflow_session_config_file, the parallelism flags, --per_process_gpu_memory_fraction and
    --mixed_precision."""
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
            raise ServingError(
                config_lib.Code.NOT_FOUND, f"{args.tensorflow_session_config_file}: {e.strerror}"
            ) from None
    return SessionSettings.build(
        tags=[t for t in args.saved_model_tags.split(",") if t],
        config_text=config_text,
        intra_op_threads=intra,
        inter_op_threads=inter,
        gpu_memory_fraction=args.per_process_gpu_memory_fraction,
        mixed_precision=args.mixed_precision,
    )


def _worker_count(flag: int) -> int:
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


def connection_cap(flag: int, file_limit: int) -> int:
    """--rest_api_max_connections: a quarter of the open-file limit, at most 4096. REST evicts connections
    that have no request in progress at its cap, so a modest cap locks nobody out."""
    return flag if flag > 0 else max(8, min(4096, file_limit // 4))


# The most gRPC connections by default: an idle HTTP/2 connection costs grpc about 15 KB (4,200 of them
# measured +63 MiB; +48 MiB before the preface), so this many cost about 1 GB.
MAX_GRPC_CONNECTIONS = 65_536


def grpc_connection_cap(file_limit: int) -> int:
    """grpc.max_allowed_incoming_connections: half the open-file limit, at most MAX_GRPC_CONNECTIONS (REST has a
    quarter, models and TensorFlow keep the rest). gRPC cannot evict a connection to admit another, so its cap
    is the descriptors it may really use, not a round number an idle-socket flood reaches: 4,200 sockets that
    never sent the HTTP/2 preface made Predict and grpc.health.v1 UNAVAILABLE under the old cap of 4096."""
    return max(8, min(MAX_GRPC_CONNECTIONS, file_limit // 2))


class Server:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.manager = None
        self.grpc_server = None
        self.rest = None
        self.grpc_credentials = None
        self.rest_ssl_context = None
        self.health: HealthReporter | None = None
        self._config_poller: threading.Thread | None = None
        self._stop = threading.Event()

    # ------------------------------------------------------------------ start-up
    def _validate(self) -> None:
        a = self.args
        if a.port == 0:
            raise ServingError(
                config_lib.Code.INVALID_ARGUMENT,
                "At least one of server_options.grpc_port or server_options.grpc_socket_path must be set.",
            )
        if a.use_alts_credentials and a.ssl_config_file:
            raise ServingError(
                config_lib.Code.INVALID_ARGUMENT,
                "Either use_alts_credentials must be false or ssl_config_file must be empty.",
            )
        if not a.model_base_path and not a.model_config_file:
            raise ServingError(
                config_lib.Code.INVALID_ARGUMENT,
                "Both server_options.model_base_path and server_options.model_config_file are empty!",
            )
        if not a.enable_batching and a.batching_parameters_file:
            raise ServingError(
                config_lib.Code.INVALID_ARGUMENT,
                "server_options.batching_parameters_file is set without setting "
                "server_options.enable_batching to true.",
            )

    def _initial_config(self):
        a = self.args
        if a.model_config_file:
            return config_lib.load_model_server_config(a.model_config_file)
        log.info(
            "Building single TensorFlow model file config:  model_name: %s model_base_path: %s",
            a.model_name,
            a.model_base_path,
        )
        return config_lib.single_model_config(a.model_name, a.model_base_path)

    def build(self) -> None:
        """Everything up to and including loading the models; ports are not open yet."""
        self._validate()
        a = self.args
        model_config = self._initial_config()
        config_lib.validate_model_config(model_config)  # fail before TensorFlow is imported
        batching = config_lib.load_batching_parameters(a.batching_parameters_file) if a.enable_batching else None
        self.monitoring = config_lib.load_monitoring_config(a.monitoring_config_file)
        self._load_transport_security()
        check_parallelism(a)
        import tensorflow as tf

        tf.get_logger().setLevel(logging.ERROR)

        from protocol.object_store import StoreOptions
        from serving.batching import Batching, BatchScheduler
        from serving.core.lifecycle import LifecycleOptions
        from serving.core.remote_versions import ObjectStorageOptions
        from serving.core.server_core import CoreOptions, ServerCore
        from serving.grpc_service import channel_options
        from serving.servable import ServableOptions

        channel_options(a.grpc_channel_arguments)  # a malformed list fails start-up before any model loads

        self.scheduler = BatchScheduler(batching) if batching is not None else None
        servable = ServableOptions(
            session=session_settings(a),
            method_check=a.enable_signature_method_name_check,
            max_concurrent_runs=run_concurrency(a.max_concurrent_runs_per_model),
            batching=Batching(self.scheduler, a.enable_per_model_batching_parameters) if self.scheduler else None,
            warmup_iterations=max(a.num_request_iterations_for_warmup, 1) if a.enable_model_warmup else 0,
        )
        options = CoreOptions(
            servable=servable,
            file_system_poll_wait_seconds=a.file_system_poll_wait_seconds,
            allow_labels_for_unavailable=a.allow_version_labels_for_unavailable_models,
            lifecycle=LifecycleOptions(
                max_num_load_retries=a.max_num_load_retries,
                load_retry_interval_s=max(a.load_retry_interval_micros, 0) / 1e6,
                num_load_threads=max(a.num_load_threads, 0),
                num_unload_threads=max(a.num_unload_threads, 0),
            ),
            object_storage=ObjectStorageOptions(
                cache_dir=a.object_storage_cache_dir,
                cache_bytes=max(a.object_storage_cache_bytes, 0),
                quiet_seconds=a.object_storage_quiet_seconds,
                store=StoreOptions(timeout_s=max(a.object_storage_timeout_seconds, 0.1)),
            ),
        )
        self.manager = ServerCore(options)
        self.manager.reload_config(model_config)
        # TensorFlow and the models leave millions of tracked objects; without freezing them, a full
        # collection triggered by a large JSON body costs hundreds of milliseconds.
        gc.freeze()

    def _load_transport_security(self) -> None:
        """Reads --ssl_config_file (gRPC) and --rest_api_ssl_config_file (REST) before any model loads."""
        from serving import tls

        a = self.args
        self.grpc_credentials = (
            tls.grpc_credentials(tls.load_ssl_config(a.ssl_config_file)) if a.ssl_config_file else None
        )
        self.rest_ssl_context = (
            tls.server_context(tls.load_ssl_config(a.rest_api_ssl_config_file)) if a.rest_api_ssl_config_file else None
        )

    async def serve(self) -> None:
        """Opens the ports, polls, and waits for SIGTERM/SIGINT; then drains and returns."""
        from serving.grpc_service import build_server
        from serving.limits import RequestLimits
        from serving.rest import RestOptions, RestServer

        a = self.args
        limits = RequestLimits(
            max_tensor_elements=max(a.max_tensor_elements, 0),
            max_expansion_bytes=max(a.max_request_expansion_bytes, 0),
        )
        file_limit = open_file_limit()
        self.grpc_server = build_server(
            self.manager,
            a.grpc_host,
            a.port,
            _worker_count(a.grpc_max_threads),
            a.enable_serialization_as_tensor_content,
            a.grpc_channel_arguments,
            self.grpc_credentials,
            limits,
            grpc_connection_cap(file_limit),
            model_management=a.model_management,
        )
        self.health = HealthReporter(self.grpc_server) if a.enable_grpc_healthcheck_service else None
        if a.grpc_socket_path:
            _bind_unix_socket(self.grpc_server, a.grpc_socket_path)
        self.grpc_server.start()
        log.info("Using %s", "SSL credentials" if self.grpc_credentials is not None else "InsecureServerCredentials")
        log.info("Running gRPC ModelServer at %s:%d ...", a.grpc_host, a.port)
        if a.rest_api_port != 0:
            if a.rest_api_port == a.port:
                log.error(
                    "server_options.http_port cannot be same as grpc_port. Please use a different port for "
                    "HTTP/REST API. Skipped exporting HTTP/REST API."
                )
            else:
                prometheus = self.monitoring.prometheus_config
                metrics_path = (prometheus.path or "/monitoring/prometheus/metrics") if prometheus.enable else None
                options = RestOptions(
                    timeout_ms=a.rest_api_timeout_in_ms,
                    cors=a.rest_api_enable_cors_support,
                    max_body_bytes=a.max_request_body_bytes,
                    metrics_path=metrics_path,
                    max_connections=connection_cap(a.rest_api_max_connections, file_limit),
                    read_timeout_ms=max(a.rest_api_read_timeout_in_ms, 1),
                    limits=limits,
                )
                self.rest = RestServer(self.manager, options, _worker_count(a.rest_api_num_threads))
                try:
                    await self.rest.start(a.rest_api_host, a.rest_api_port, self.rest_ssl_context)
                    log.info(
                        "Exporting %s API at:%s:%d ...",
                        "HTTPS/REST" if self.rest_ssl_context else "HTTP/REST",
                        a.rest_api_host,
                        a.rest_api_port,
                    )
                except OSError as e:  # like the official server: log it and keep serving gRPC
                    log.error("Failed to start HTTP Server at %s:%d: %s", a.rest_api_host, a.rest_api_port, e)
                    await self.rest.stop()
                    self.rest = None
        self.manager.start_polling()
        self._start_config_polling()
        if self.health is not None:
            self.health.serving()

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        log.info("Shutting down: no new requests; finishing the ones in flight")
        await self.shutdown()

    async def shutdown(self) -> None:
        if self.health is not None:
            self.health.draining()
        self._stop.set()
        grpc_done = self.grpc_server.stop(grace=30) if self.grpc_server is not None else None
        if self.rest is not None:
            await self.rest.stop()
        if grpc_done is not None:
            await asyncio.get_running_loop().run_in_executor(None, grpc_done.wait)
        self.manager.stop()
        if self.scheduler is not None:
            self.scheduler.stop()

    def _start_config_polling(self) -> None:
        a = self.args
        if a.model_config_file_poll_wait_seconds <= 0 or not a.model_config_file:
            return

        def poll() -> None:
            while not self._stop.wait(a.model_config_file_poll_wait_seconds):
                try:
                    new_config = config_lib.load_model_server_config(a.model_config_file)
                except ServingError as e:
                    log.error("Failed to read ModelServerConfig file: %s", e.message)
                    continue
                try:
                    self.manager.reload_config(new_config)
                except ServingError as e:
                    log.error("PollFilesystemAndReloadConfig failed to ReloadConfig: %s", e.message)

        self._config_poller = threading.Thread(target=poll, name="config_poll", daemon=True)
        self._config_poller.start()


def _bind_unix_socket(server, path: str) -> None:
    """--grpc_socket_path: the same gRPC services on a UNIX domain socket."""
    try:
        bound = server.add_insecure_port(f"unix:{path}")
    except RuntimeError:
        bound = 0
    if not bound:
        raise ServingError(
            config_lib.Code.INVALID_ARGUMENT, f"Failed to BuildAndStart gRPC server: cannot bind unix:{path}"
        )
    log.info("Running gRPC ModelServer at UNIX socket %s ...", path)


def main(argv: list[str] | None = None) -> int:
    from serving.flags import not_applied_warnings, parse_flags

    args = parse_flags(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s.%(msecs)03d %(levelname).1s serving] %(message)s",
        datefmt="%Y-%m-%d %H:%M:%S",
    )
    for line in not_applied_warnings(args):
        log.warning("%s", line)
    if args.version:
        import tensorflow as tf

        print(f"TensorFlow ModelServer: {VERSION}\nTensorFlow Library: {tf.__version__}")
        return 0
    server = Server(args)

    def stop_during_start_up(signum, frame):  # SIGTERM before the ports open: nothing in flight
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop_during_start_up)
    try:
        server.build()
    except ServingError as e:
        print(f"Failed to start server. Error: {e}", file=sys.stderr, flush=True)
        return 255
    try:
        asyncio.run(server.serve())
    except ServingError as e:
        print(f"Failed to start server. Error: {e}", file=sys.stderr, flush=True)
        return 255
    log.info("Server stopped")
    return 0
