"""Wires flags, the serving core, gRPC and REST together.

Start-up blocks until models are loaded; SIGTERM stops cleanly."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import logging
import signal
import sys
import threading

from serving import config as config_lib
from serving.core.allocator import keep_freed_memory_for_reuse
from serving.errors import ServingError
from serving.health import HealthReporter

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
        self._stop = threading.Event()  # set when shutting down: no longer ready (v2 health), polling ends

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

        from serving.api.tfs_grpc import channel_options
        from serving.batching import Batching, BatchScheduler
        from serving.core.server_core import ServerCore
        from serving.options import DEFAULT_METRICS_PATH, ServerOptions

        channel_options(a.grpc_channel_arguments)  # a malformed list fails start-up before any model loads
        prometheus = self.monitoring.prometheus_config
        metrics_path = (prometheus.path or DEFAULT_METRICS_PATH) if prometheus.enable else None
        options = ServerOptions.from_flags(a, metrics_path)
        self.scheduler = BatchScheduler(batching) if batching is not None else None
        if self.scheduler is not None:
            batching_rule = Batching(self.scheduler, a.enable_per_model_batching_parameters)
            servable = dataclasses.replace(options.servable, batching=batching_rule)
            options = dataclasses.replace(options, servable=servable)
        self.options = options
        self._observe(options)
        self.manager = ServerCore(options)
        self.manager.reload_config(model_config)
        # TensorFlow and the models leave millions of tracked objects; without freezing them, a full
        # collection triggered by a large JSON body costs hundreds of milliseconds.
        gc.freeze()

    @staticmethod
    def _observe(options) -> None:
        """Tracing (from the OTEL_* environment) and the access log (--access_log), before any request."""
        from serving import tracing
        from serving.logs import access

        tracing.configure()
        try:
            access.LOG.open(options.access_log)
        except OSError as e:
            raise ServingError(
                config_lib.Code.INVALID_ARGUMENT, f"--access_log={options.access_log}: {e.strerror or e}"
            ) from None

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
        from serving.api import v2_grpc
        from serving.api.tfs_grpc import build_server
        from serving.api.tfs_rest import RestServer

        o = self.options
        self.grpc_server = build_server(self.manager, o, self.grpc_credentials)
        v2_grpc.add_to_server(self.grpc_server, self.manager, o, self._stop)
        self.health = HealthReporter(self.grpc_server) if o.grpc_health_service else None
        if o.grpc_socket_path:
            _bind_unix_socket(self.grpc_server, o.grpc_socket_path)
        self.grpc_server.start()
        log.info("Using %s", "SSL credentials" if self.grpc_credentials is not None else "InsecureServerCredentials")
        log.info("Running gRPC ModelServer at %s:%d ...", o.grpc_host, o.grpc_port)
        if o.rest_port != 0:
            if o.rest_port == o.grpc_port:
                log.error(
                    "server_options.http_port cannot be same as grpc_port. Please use a different port for "
                    "HTTP/REST API. Skipped exporting HTTP/REST API."
                )
            else:
                self.rest = RestServer(self.manager, o, self._stop)
                try:
                    await self.rest.start(o.rest_host, o.rest_port, self.rest_ssl_context)
                    log.info(
                        "Exporting %s API at:%s:%d ...",
                        "HTTPS/REST" if self.rest_ssl_context else "HTTP/REST",
                        o.rest_host,
                        o.rest_port,
                    )
                except OSError as e:  # like the official server: log it and keep serving gRPC
                    log.error("Failed to start HTTP Server at %s:%d: %s", o.rest_host, o.rest_port, e)
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
        from serving import tracing
        from serving.logs import access

        access.LOG.close()
        tracing.shutdown()

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
    keep_freed_memory_for_reuse()  # before a model allocates
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
