"""The Open Inference Protocol over gRPC: inference.GRPCInferenceService on the gRPC port, beside TF Serving's
services, on serving/ops (serving/api/v2.py has what it shares with the REST front end).

Inputs come in `raw_input_contents` or their typed `contents`; the answer's outputs go raw when the request
sent raw inputs (what Triton's and KServe's clients do) or an output has no typed field (FP16, BF16), else
typed. Errors are the RPC's status: INVALID_ARGUMENT for a malformed request, NOT_FOUND for a model or version
not served, FAILED_PRECONDITION for an unknown signature, UNIMPLEMENTED for what the protocol cannot carry.
"""

from __future__ import annotations

import threading

import grpc
from google.protobuf import json_format

from protocol.generated.inference import open_inference_pb2 as pb
from protocol.generated.inference import open_inference_pb2_grpc
from protocol.v2 import datatypes, grpc_tensors, parameters
from serving.api import v2
from serving.api.rpc import deadline_of, rpc
from serving.core.server_core import ServerCore
from serving.errors import invalid_argument
from serving.ops.predict import Prediction
from serving.options import ServerOptions

SERVICE = "inference.GRPCInferenceService"


def _infer_model(request) -> str:
    return request.model_name


class InferenceService(open_inference_pb2_grpc.GRPCInferenceServiceServicer):
    def __init__(self, core: ServerCore, options: ServerOptions, stopping: threading.Event):
        self.core = core
        self.options = options
        self.stopping = stopping

    @rpc(api="v2")
    def ServerLive(self, request, context):
        return pb.ServerLiveResponse(live=True)

    @rpc(api="v2")
    def ServerReady(self, request, context):
        return pb.ServerReadyResponse(ready=v2.server_ready(self.core, self.stopping.is_set()))

    @rpc(api="v2")
    def ModelReady(self, request, context):
        return pb.ModelReadyResponse(ready=v2.model_ready(self.core, request.name, request.version))

    @rpc(api="v2")
    def ServerMetadata(self, request, context):
        return pb.ServerMetadataResponse(**v2.server_metadata())

    @rpc(api="v2")
    def ModelMetadata(self, request, context):
        document = v2.model_metadata(self.core, request.name, request.version)
        return json_format.ParseDict(document, pb.ModelMetadataResponse())

    @rpc("ModelInfer", _infer_model, api="v2")
    def ModelInfer(self, request, context):
        request_parameters = parameters.to_dict(request.parameters)
        deadline = deadline_of(context, v2.timeout_of(request_parameters))
        arrays = read_inputs(request, self.options)
        raw = bool(request.raw_input_contents)
        requested = [o.name for o in request.outputs]
        signature = v2.signature_of(request_parameters)

        def encode(prediction: Prediction) -> pb.ModelInferResponse:
            return infer_response(prediction, request.id, requested, raw)

        return v2.infer(
            self.core,
            request.model_name,
            request.model_version,
            signature,
            arrays,
            requested,
            deadline,
            self.options.limits,
            encode,
        )

    @rpc(api="v2")
    def RepositoryIndex(self, request, context):
        entries = v2.repository_index(self.core, request.ready)
        return pb.RepositoryIndexResponse(models=[pb.RepositoryIndexResponse.ModelIndex(**e) for e in entries])

    @rpc(api="v2")
    def RepositoryModelLoad(self, request, context):
        self._change(request, context, load=True)
        return pb.RepositoryModelLoadResponse()

    @rpc(api="v2")
    def RepositoryModelUnload(self, request, context):
        self._change(request, context, load=False)
        return pb.RepositoryModelUnloadResponse()

    def _change(self, request, context, load: bool) -> None:
        v2.repository_change(
            self.core,
            request.model_name,
            load,
            context.peer(),
            self.options.model_management,
            list(request.parameters),
            context.time_remaining(),
        )


def read_inputs(request: pb.ModelInferRequest, options: ServerOptions) -> dict:
    """The request's input tensors as arrays (raw ones are views of the request's bytes), each declared
    datatype, shape and size checked before its values are read."""
    raw_contents = request.raw_input_contents
    if raw_contents and len(raw_contents) != len(request.inputs):
        raise invalid_argument(
            f"raw_input_contents has {len(raw_contents)} entries for {len(request.inputs)} inputs; send one per input"
        )
    arrays = {}
    for i, tensor in enumerate(request.inputs):
        if tensor.name in arrays:
            raise invalid_argument(f"input '{tensor.name}' is given more than once")
        v2.declared(tensor.name, tensor.datatype, tensor.shape, options.limits)
        try:
            arrays[tensor.name] = grpc_tensors.read(
                tensor, raw_contents[i] if raw_contents else None, f"input '{tensor.name}'"
            )
        except ValueError as e:
            raise invalid_argument(str(e)) from None
    return arrays


def infer_response(prediction: Prediction, request_id: str, requested: list[str], raw: bool) -> pb.ModelInferResponse:
    response = pb.ModelInferResponse(model_name=prediction.model, model_version=str(prediction.version), id=request_id)
    names = v2.answer_order(prediction, requested)
    kinds = [v2.output_datatype(name, prediction.outputs[name]) for name in names]
    raw = raw or any(datatypes.get(kind).contents is None for kind in kinds)
    for name in names:
        tensor = response.outputs.add(name=name)
        grpc_tensors.write(tensor, prediction.outputs.pop(name), response.raw_output_contents if raw else None)
    return response


def add_to_server(server: grpc.Server, core: ServerCore, options: ServerOptions, stopping: threading.Event) -> None:
    open_inference_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(
        InferenceService(core, options, stopping), server
    )
