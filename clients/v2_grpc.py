"""gRPC client for the Open Inference Protocol (`inference.GRPCInferenceService`: KServe v2, Triton,
OpenVINO Model Server, MLServer, and `python -m serving`), numpy in and numpy out, the same `predict`
as `GrpcClient`.

Inputs travel in `raw_input_contents` (raw little-endian bytes, no per-element protobuf fields); the
answer's outputs are read from `raw_output_contents` or their typed contents, whichever the server
used. A TF Serving signature is picked with the `signature_name` request parameter; a label
addresses a version where the server allows it. Over one server or several replicas, one deadline per
call, raised message limits and optional TLS (`clients.channels`).
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc
import numpy as np
from google.protobuf import json_format

from clients.addressing import ModelRef
from clients.base import ServingClient
from clients.channels import GrpcTransport
from clients.errors import ServingError
from clients.json_tensors import as_array
from clients.signatures import Inputs, ModelMetadata, VersionStatus, named_inputs, parse_v2_metadata
from protocol.generated.inference import open_inference_pb2 as pb
from protocol.generated.inference.open_inference_pb2_grpc import GRPCInferenceServiceStub
from protocol.limits import MAX_MESSAGE_BYTES
from protocol.methods import DEFAULT_SIGNATURE
from protocol.v2 import grpc_tensors, parameters, paths


class V2GrpcClient(ServingClient):
    """Calls a server's inference.GRPCInferenceService. `target` is `host:port`, any gRPC target, or a
    list of replicas' targets; the other arguments are `GrpcClient`'s."""

    def __init__(
        self,
        target: str | Sequence[str],
        *,
        timeout: float = 60.0,
        tls: bool = False,
        root_certificates: bytes | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        retries: int = 3,
        backoff: float = 0.2,
    ):
        super().__init__()
        self.transport = GrpcTransport(
            target,
            GRPCInferenceServiceStub,
            timeout=timeout,
            tls=tls,
            root_certificates=root_certificates,
            credentials=credentials,
            max_message_bytes=max_message_bytes,
            retries=retries,
            backoff=backoff,
        )
        self.targets = self.transport.targets
        self.timeout = timeout

    def close(self) -> None:
        self.transport.close()

    # ------------------------------------------------------------------ health and metadata

    def server_live(self) -> bool:
        return self.transport.call(lambda s: s.ServerLive, pb.ServerLiveRequest()).live

    def server_ready(self) -> bool:
        return self.transport.call(lambda s: s.ServerReady, pb.ServerReadyRequest()).ready

    def server_metadata(self) -> dict:
        """The server's name, version and the protocol extensions it supports."""
        response = self.transport.call(lambda s: s.ServerMetadata, pb.ServerMetadataRequest())
        return {"name": response.name, "version": response.version, "extensions": list(response.extensions)}

    def ready(self, model: str, *, version: int | None = None, label: str | None = None) -> bool:
        """Whether the model (the addressed version, else its latest) can run inferences now."""
        request = pb.ModelReadyRequest(name=model, version=paths.version_string(version, label))
        try:
            return self.transport.call(lambda s: s.ModelReady, request).ready
        except ServingError as e:
            if e.code in ("NOT_FOUND", "UNAVAILABLE", "INVALID_ARGUMENT", "FAILED_PRECONDITION"):
                return False
            raise

    def status(self, model: str, *, version: int | None = None, label: str | None = None) -> list[VersionStatus]:
        """The versions the model lists (or the one addressed), AVAILABLE when ready, else UNKNOWN."""
        request = pb.ModelMetadataRequest(name=model, version=paths.version_string(version, label))
        response = self.transport.call(lambda s: s.ModelMetadata, request)
        if version is None and label is None:
            numbers = [int(v) for v in response.versions if v.isdigit()]
        else:
            numbers = [version if version is not None else self.metadata(model, label=label).version]
        return [VersionStatus(n, "AVAILABLE" if self.ready(model, version=n) else "UNKNOWN", "OK", "") for n in numbers]

    def _read_metadata(self, ref: ModelRef) -> ModelMetadata:
        request = pb.ModelMetadataRequest(name=ref.name, version=paths.version_string(ref.version, ref.label))
        response = self.transport.call(lambda s: s.ModelMetadata, request)
        return parse_v2_metadata(json_format.MessageToDict(response, preserving_proto_field_name=True), ref.version)

    # ------------------------------------------------------------------ inference

    def predict(
        self,
        model: str,
        inputs: Inputs,
        *,
        signature: str = DEFAULT_SIGNATURE,
        version: int | None = None,
        label: str | None = None,
        output_filter: Sequence[str] | None = None,
    ) -> dict[str, np.ndarray]:
        """Run a signature; returns every output (or those in `output_filter`) as numpy, strings as bytes."""
        sig = self.metadata(model, version=version, label=label).signature(signature)
        request = pb.ModelInferRequest(model_name=model, model_version=paths.version_string(version, label))
        if signature != DEFAULT_SIGNATURE:
            parameters.fill(request.parameters[parameters.SIGNATURE], signature)
        for name, value in named_inputs(inputs, sig).items():
            tensor = request.inputs.add(name=name)
            grpc_tensors.write(tensor, as_array(value, sig.inputs.get(name)), request.raw_input_contents)
        for name in output_filter or ():
            request.outputs.add(name=name)
        response = self.transport.call(lambda s: s.ModelInfer, request)
        return read_outputs(response)


def read_outputs(response: pb.ModelInferResponse) -> dict[str, np.ndarray]:
    """The outputs of a ModelInferResponse, raw or typed."""
    raw_contents = response.raw_output_contents
    if raw_contents and len(raw_contents) != len(response.outputs):
        raise ServingError(
            "INTERNAL", f"the answer has {len(response.outputs)} outputs but {len(raw_contents)} raw contents"
        )
    try:
        return {
            output.name: grpc_tensors.read(output, raw_contents[i] if raw_contents else None, f"output {output.name!r}")
            for i, output in enumerate(response.outputs)
        }
    except ValueError as e:
        raise ServingError("INTERNAL", f"unreadable inference response: {e}") from e
