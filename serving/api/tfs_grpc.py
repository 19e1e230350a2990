"""TF Serving's gRPC API: tensorflow.serving.PredictionService and ModelService, on serving/ops."""

from __future__ import annotations

import logging
from concurrent import futures

import grpc

from protocol.generated.tensorflow_serving.apis import (
    model_management_pb2,
    model_service_pb2_grpc,
    prediction_service_pb2_grpc,
)
from protocol.limits import MAX_MESSAGE_BYTES
from protocol.numbers import simple_atoi
from serving import management
from serving.api.rpc import deadline_of, rpc
from serving.core.server_core import ServerCore
from serving.errors import Code, ServingError, invalid_argument
from serving.ops import inference, model_info
from serving.ops.predict import predict_request
from serving.options import ServerOptions
from serving.request_limits import RequestLimits

log = logging.getLogger("serving")


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, manager: ServerCore, as_content: bool, limits: RequestLimits = RequestLimits()):
        self.manager = manager
        self.as_content = as_content
        self.limits = limits

    @rpc("Predict")
    def Predict(self, request, context):
        return predict_request(self.manager, request, self.as_content, self.limits, deadline_of(context))

    @rpc("Classify")
    def Classify(self, request, context):
        return inference.classify(self.manager, request, deadline_of(context), self.limits)

    @rpc("Regress")
    def Regress(self, request, context):
        return inference.regress(self.manager, request, deadline_of(context), self.limits)

    @rpc("MultiInference")
    def MultiInference(self, request, context):
        return inference.multi_inference(self.manager, request, deadline_of(context), self.limits)

    @rpc()
    def GetModelMetadata(self, request, context):
        return model_info.get_model_metadata(self.manager, request)


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, manager: ServerCore, model_management: str = "on"):
        self.manager = manager
        self.model_management = model_management

    @rpc()
    def GetModelStatus(self, request, context):
        return model_info.get_model_status(self.manager, request)

    @rpc()
    def HandleReloadConfigRequest(self, request, context):
        management.check_reload_allowed(self.model_management, context.peer())
        response = model_management_pb2.ReloadConfigResponse()
        if request.config.WhichOneof("config") != "model_config_list":
            error = ServingError(
                Code.INVALID_ARGUMENT,
                "ServerModelConfig type not supported by HandleReloadConfigRequest. "
                "Only ModelConfigList is currently supported",
            )
        else:
            try:
                self.manager.reload_config(request.config, timeout=context.time_remaining())
                error = None
            except ServingError as e:
                error = e
        for name in request.metric_names:
            response.metric.add(name=name, int64_value_increase=0)
        if error is not None:
            log.error("ReloadConfig failed: %s", error.message)
            response.status.error_code = error.code_number
            response.status.error_message = error.message
            raise error
        return response


# Connections are shed by time, the only way grpcio offers (it cannot evict one to admit another; a proxy in
# front could, at the cost of every byte through Python and of the peer's address): each idle connection
# counts against grpc.max_allowed_incoming_connections (ServerOptions.grpc_max_connections) only this long.
DEFAULT_CHANNEL_ARGUMENTS = {
    "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
    "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
    "grpc.so_reuseport": 0,
    # a connection that has not finished its TLS handshake and HTTP/2 preface by then is closed (gRPC: 120 s)
    "grpc.server_handshake_timeout_ms": 5_000,
    # a connection with no RPC for this long gets GOAWAY; clients reconnect on their next call (gRPC: never)
    "grpc.max_connection_idle_ms": 300_000,
    # an idle connection is pinged this often, and closed when the ping is not answered in time, so a peer that
    # vanished without closing does not hold a place (gRPC: every 2 hours)
    "grpc.keepalive_time_ms": 60_000,
    "grpc.keepalive_timeout_ms": 20_000,
}


def parse_channel_arguments(text: str) -> dict[str, int | str]:
    """`--grpc_channel_arguments`: comma-separated key=value; a value that is an int32 (absl::SimpleAtoi)
    is passed as an int, anything else as a string, as the official server does."""
    args: dict[str, int | str] = {}
    for item in filter(None, text.split(",")):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise invalid_argument(f"--grpc_channel_arguments: expected key=value, got {item!r}")
        value = value.split("=")[0]  # the official parser keeps what stands between the first two '='
        number = simple_atoi(value, 32)
        args[key] = value if number is None else number
    return args


def channel_options(text: str, max_connections: int | None = None) -> list[tuple[str, int | str]]:
    """The server's channel arguments: the built-in defaults (and the connection cap, when given), each
    overridden by the flag's value for its key."""
    cap = {} if max_connections is None else {"grpc.max_allowed_incoming_connections": max_connections}
    return list({**DEFAULT_CHANNEL_ARGUMENTS, **cap, **parse_channel_arguments(text)}.items())


def build_server(
    manager: ServerCore, options: ServerOptions, credentials: grpc.ServerCredentials | None = None
) -> grpc.Server:
    """The gRPC server on options.grpc_host:grpc_port with TF Serving's services; connections capped at
    options.grpc_max_connections (grpc.max_allowed_incoming_connections)."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=options.grpc_workers, thread_name_prefix="grpc"),
        options=channel_options(options.grpc_channel_arguments, options.grpc_max_connections),
        maximum_concurrent_rpcs=None,
    )
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionService(manager, options.tensor_content_responses, options.limits), server
    )
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(manager, options.model_management), server)
    host, port = options.grpc_host, options.grpc_port
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        bound = (
            server.add_secure_port(address, credentials)
            if credentials is not None
            else server.add_insecure_port(address)
        )
    except RuntimeError:
        bound = 0
    if bound == 0:
        raise ServingError(Code.INVALID_ARGUMENT, f"Failed to BuildAndStart gRPC server: cannot bind {address}")
    return server
