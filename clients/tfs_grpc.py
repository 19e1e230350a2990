"""gRPC client for TensorFlow Serving (PredictionService and ModelService), numpy in and numpy out.

Over one server or several replicas, with raised message limits, one deadline per call and optional
TLS (`clients.channels`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
import numpy as np
from google.protobuf import json_format, text_format

from clients.addressing import ModelRef
from clients.base import ServingClient
from clients.channels import GrpcTransport
from clients.errors import ServingError
from clients.json_tensors import as_array
from clients.signatures import Inputs, ModelMetadata, VersionStatus, named_inputs, parse_metadata, parse_status
from protocol import b64, tensors
from protocol.generated.tensorflow.core.example import example_pb2, feature_pb2
from protocol.generated.tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    input_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)
from protocol.generated.tensorflow_serving.config import model_server_config_pb2
from protocol.limits import MAX_MESSAGE_BYTES
from protocol.methods import DEFAULT_SIGNATURE, METHOD_BY_TASK, SIGNATURE_DEF_FIELD


@dataclass(frozen=True)
class _Stubs:
    """The two services' stubs on one channel."""

    prediction: prediction_service_pb2_grpc.PredictionServiceStub
    models: model_service_pb2_grpc.ModelServiceStub

    @classmethod
    def on(cls, channel: grpc.Channel) -> _Stubs:
        return cls(
            prediction_service_pb2_grpc.PredictionServiceStub(channel), model_service_pb2_grpc.ModelServiceStub(channel)
        )


class GrpcClient(ServingClient):
    """Calls a server over gRPC. `target` is `host:port`, any gRPC target (`dns:///name:port`,
    `ipv4:10.0.0.1:8500,10.0.0.2:8500`), or a list of targets of replicas serving the same models.

    `retries` bounds the extra attempts per call, `backoff` (seconds) the pause before a replica is
    tried again. `tls=True` uses the system roots (or `root_certificates` PEM); `credentials`
    overrides both.
    """

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
            _Stubs.on,
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

    def _call(self, method, request):
        """`method(stubs)(request)` on one replica after another, within one deadline (`clients.channels`)."""
        return self.transport.call(method, request)

    # ------------------------------------------------------------------ model service

    def status(self, model: str, *, version: int | None = None, label: str | None = None) -> list[VersionStatus]:
        request = get_model_status_pb2.GetModelStatusRequest()
        ModelRef(model, version, label).fill_spec(request.model_spec)
        response = self._call(lambda r: r.models.GetModelStatus, request)
        return parse_status(json_format.MessageToDict(response, preserving_proto_field_name=True))

    def _read_metadata(self, ref: ModelRef) -> ModelMetadata:
        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=[SIGNATURE_DEF_FIELD])
        ref.fill_spec(request.model_spec)
        response = self._call(lambda r: r.prediction.GetModelMetadata, request)
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        response.metadata[SIGNATURE_DEF_FIELD].Unpack(signature_map)
        return parse_metadata(
            {
                "model_spec": json_format.MessageToDict(response.model_spec, preserving_proto_field_name=True),
                "metadata": {
                    SIGNATURE_DEF_FIELD: json_format.MessageToDict(signature_map, preserving_proto_field_name=True)
                },
            }
        )

    def reload_config(self, config: model_server_config_pb2.ModelServerConfig | str) -> None:
        """Replace the server's model list (text-format ModelServerConfig accepted). Models left out unload.

        It changes one server: give the client that server's own address (a client of several
        replicas refuses; a balanced name such as a headless Service reaches one pod of several).
        """
        if len(self.targets) > 1:
            raise ValueError(
                "reload_config changes one server: use a GrpcClient of that server's address, "
                f"not of {len(self.targets)} replicas"
            )
        if isinstance(config, str):
            config = text_format.Parse(config, model_server_config_pb2.ModelServerConfig())
        request = model_management_pb2.ReloadConfigRequest(config=config)
        response = self._call(lambda r: r.models.HandleReloadConfigRequest, request)
        if response.status.error_code != 0:
            raise ServingError.from_code_number(response.status.error_code, response.status.error_message)

    # ------------------------------------------------------------------ prediction service

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
        """Run a predict signature; returns outputs as numpy (string outputs as bytes)."""
        sig = self.metadata(model, version=version, label=label).signature(signature)
        request = predict_pb2.PredictRequest()
        ModelRef(model, version, label).fill_spec(request.model_spec, signature)
        for name, value in named_inputs(inputs, sig).items():
            tensors.write(request.inputs[name], as_array(value, sig.inputs.get(name)), as_content=True)
        if output_filter:
            request.output_filter.extend(output_filter)
        response = self._call(lambda r: r.prediction.Predict, request)
        return {name: tensors.to_numpy(tensor) for name, tensor in response.outputs.items()}

    def classify(
        self,
        model: str,
        examples: Sequence[Mapping[str, Any]],
        *,
        context: Mapping[str, Any] | None = None,
        signature: str = DEFAULT_SIGNATURE,
        version: int | None = None,
        label: str | None = None,
    ) -> list[list[tuple[str, float]]]:
        request = classification_pb2.ClassificationRequest(input=_input(examples, context))
        ModelRef(model, version, label).fill_spec(request.model_spec, signature)
        return _classes(self._call(lambda r: r.prediction.Classify, request).result)

    def regress(
        self,
        model: str,
        examples: Sequence[Mapping[str, Any]],
        *,
        context: Mapping[str, Any] | None = None,
        signature: str = DEFAULT_SIGNATURE,
        version: int | None = None,
        label: str | None = None,
    ) -> list[float]:
        request = regression_pb2.RegressionRequest(input=_input(examples, context))
        ModelRef(model, version, label).fill_spec(request.model_spec, signature)
        return _values(self._call(lambda r: r.prediction.Regress, request).result)

    def multi_inference(
        self,
        model: str,
        examples: Sequence[Mapping[str, Any]],
        tasks: Sequence[tuple[str, str]],
        *,
        version: int | None = None,
        label: str | None = None,
    ) -> list[list[tuple[str, float]] | list[float]]:
        """Several classify/regress signatures over the same examples in one call.

        `tasks` are (signature_name, "classify" | "regress"); each result is what `classify` or
        `regress` would return for it.
        """
        request = inference_pb2.MultiInferenceRequest(input=_input(examples, None))
        ref = ModelRef(model, version, label)
        for signature, kind in tasks:
            task = request.tasks.add(method_name=METHOD_BY_TASK[kind])
            ref.fill_spec(task.model_spec, signature)
        response = self._call(lambda r: r.prediction.MultiInference, request)
        return [
            _classes(r.classification_result) if r.HasField("classification_result") else _values(r.regression_result)
            for r in response.results
        ]


def _classes(result: classification_pb2.ClassificationResult) -> list[list[tuple[str, float]]]:
    return [[(c.label, c.score) for c in item.classes] for item in result.classifications]


def _values(result: regression_pb2.RegressionResult) -> list[float]:
    return [r.value for r in result.regressions]


def _feature(value: Any) -> feature_pb2.Feature:
    values = list(value) if isinstance(value, (list, tuple, np.ndarray)) else [value]
    if all(isinstance(v, (bytes, bytearray, str)) for v in values):
        return feature_pb2.Feature(bytes_list=feature_pb2.BytesList(value=[b64.as_bytes(v) for v in values]))
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        return feature_pb2.Feature(int64_list=feature_pb2.Int64List(value=[int(v) for v in values]))
    return feature_pb2.Feature(float_list=feature_pb2.FloatList(value=[float(v) for v in values]))


def _example(features: Mapping[str, Any]) -> example_pb2.Example:
    return example_pb2.Example(features=feature_pb2.Features(feature={k: _feature(v) for k, v in features.items()}))


def _input(examples: Sequence[Mapping[str, Any]], context: Mapping[str, Any] | None) -> input_pb2.Input:
    if context is None:
        return input_pb2.Input(example_list=input_pb2.ExampleList(examples=[_example(e) for e in examples]))
    return input_pb2.Input(
        example_list_with_context=input_pb2.ExampleListWithContext(
            examples=[_example(e) for e in examples], context=_example(context)
        )
    )
