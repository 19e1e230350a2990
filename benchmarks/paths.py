"""The ways a request reaches a model, each as a factory of per-client callers.

  in-process         the loaded SavedModel's signature called in this process (numpy in, numpy out):
                     the floor every served path is compared with
  gRPC               `clients.GrpcClient.predict` to `python -m serving` (bytes signature)
  REST b64           `clients.RestClient.predict` (bytes signature: `{"b64": …}` JPEG, or seeds -> PNG)
  REST JSON          `clients.RestClient.predict` on the float-tensor signature (JSON number lists)
  v2 REST binary     `clients.V2RestClient.predict` (bytes signature): the Open Inference Protocol with the
                     binary data extension (the JPEG as 4-byte length + bytes after the JSON header)
  v2 gRPC            `clients.V2GrpcClient.predict` (bytes signature): inference.GRPCInferenceService, raw contents
  naive              `requests.post(json={"instances": x.tolist()})` to the tutorial server in
                     `benchmarks/naive_server.py`

Every client thread gets its own connection (a client object of its own), as separate users would.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from benchmarks.harness import CallerFactory

TIMEOUT_S = 900.0  # a burst of 32 DETR requests on two cores takes minutes; the cell's limit bounds it


@dataclass(frozen=True)
class Path:
    key: str
    label: str
    floor: str | None  # the in-process path this one is compared with
    signature_kind: str  # "bytes" or "tensor"
    served: bool  # goes through `python -m serving` (so has a batching switch)


PATHS: dict[str, Path] = {
    p.key: p
    for p in [
        Path("inprocess", "in-process (bytes signature)", None, "bytes", False),
        Path("inprocess_tensor", "in-process (tensor signature)", None, "tensor", False),
        Path("grpc", "gRPC", "inprocess", "bytes", True),
        Path("rest_b64", "REST b64", "inprocess", "bytes", True),
        Path("rest_json", "REST JSON floats", "inprocess_tensor", "tensor", True),
        Path("v2_rest", "v2 REST binary", "inprocess", "bytes", True),
        Path("v2_grpc", "v2 gRPC", "inprocess", "bytes", True),
        Path("naive", "naive Flask + model.predict", "inprocess_tensor", "tensor", False),
    ]
}


def inprocess(function, inputs: Mapping[str, np.ndarray]) -> CallerFactory:
    """Calls a loaded signature as the server does: numpy -> tf.constant -> call -> numpy."""
    import tensorflow as tf

    def call():
        outputs = function(**{k: tf.constant(v) for k, v in inputs.items()})
        return {k: t.numpy() for k, t in outputs.items()}

    return lambda: (call, lambda: None)


def grpc(address: str, model: str, signature: str, inputs: Mapping[str, np.ndarray]) -> CallerFactory:
    from clients import GrpcClient

    def factory():
        client = GrpcClient(address, timeout=TIMEOUT_S, retries=0)
        client.metadata(model)  # connect and read the signatures before the clock starts
        return (lambda: client.predict(model, inputs, signature=signature)), client.close

    return factory


def rest(url: str, model: str, signature: str, inputs: Mapping[str, np.ndarray]) -> CallerFactory:
    from clients import RestClient

    def factory():
        client = RestClient(url, timeout=TIMEOUT_S, retries=0)
        client.metadata(model)
        return (lambda: client.predict(model, inputs, signature=signature)), client.close

    return factory


def v2_rest(url: str, model: str, signature: str, inputs: Mapping[str, np.ndarray]) -> CallerFactory:
    from clients import V2RestClient

    def factory():
        client = V2RestClient(url, timeout=TIMEOUT_S, retries=0)
        client.metadata(model)
        return (lambda: client.predict(model, inputs, signature=signature)), client.close

    return factory


def v2_grpc(address: str, model: str, signature: str, inputs: Mapping[str, np.ndarray]) -> CallerFactory:
    from clients import V2GrpcClient

    def factory():
        client = V2GrpcClient(address, timeout=TIMEOUT_S, retries=0)
        client.metadata(model)
        return (lambda: client.predict(model, inputs, signature=signature)), client.close

    return factory


def naive(url: str, array: np.ndarray) -> CallerFactory:
    """What a tutorial's client does: the tensor as nested JSON lists, `requests.post`, numpy back."""
    import requests

    def call():
        reply = requests.post(f"{url}/predict", json={"instances": array.tolist()}, timeout=TIMEOUT_S)
        reply.raise_for_status()
        return {k: np.asarray(v) for k, v in reply.json()["predictions"].items()}

    return lambda: (call, lambda: None)


# ------------------------------------------------------------------ payload bytes of one request


def rest_payload(
    url: str, model: str, signature: str, inputs: Mapping[str, np.ndarray], v2: bool = False
) -> tuple[int, int]:
    """(request body bytes, response body bytes) of one `RestClient.predict` (`V2RestClient` with `v2`), as
    sent on the wire."""
    from clients import RestClient, V2RestClient

    seen: list[tuple[int, int]] = []
    with (V2RestClient if v2 else RestClient)(url, timeout=TIMEOUT_S, retries=0) as client:
        client.session.hooks["response"].append(
            lambda r, *a, **k: seen.append((len(r.request.body or b""), len(r.content)))
        )
        client.predict(model, inputs, signature=signature)
    return seen[-1]


def grpc_payload(address: str, model: str, signature: str, inputs: Mapping[str, np.ndarray]) -> tuple[int, int]:
    """(PredictRequest bytes, PredictResponse bytes) of one call, tensors in `tensor_content`."""
    import grpc as grpc_lib
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = signature
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    limit = 2**31 - 1
    with grpc_lib.insecure_channel(
        address, options=[("grpc.max_send_message_length", limit), ("grpc.max_receive_message_length", limit)]
    ) as channel:
        response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=TIMEOUT_S)
    return request.ByteSize(), response.ByteSize()


def v2_grpc_payload(address: str, model: str, signature: str, inputs: Mapping[str, np.ndarray]) -> tuple[int, int]:
    """(ModelInferRequest bytes, ModelInferResponse bytes) of one call, tensors in the raw contents."""
    import grpc as grpc_lib

    from protocol.generated.inference import open_inference_pb2 as pb
    from protocol.generated.inference.open_inference_pb2_grpc import GRPCInferenceServiceStub
    from protocol.v2 import grpc_tensors, parameters

    request = pb.ModelInferRequest(model_name=model)
    parameters.fill(request.parameters[parameters.SIGNATURE], signature)
    for name, value in inputs.items():
        grpc_tensors.write(request.inputs.add(name=name), np.asarray(value), request.raw_input_contents)
    limit = 2**31 - 1
    with grpc_lib.insecure_channel(
        address, options=[("grpc.max_send_message_length", limit), ("grpc.max_receive_message_length", limit)]
    ) as channel:
        response = GRPCInferenceServiceStub(channel).ModelInfer(request, timeout=TIMEOUT_S)
    return request.ByteSize(), response.ByteSize()


def naive_payload(url: str, array: np.ndarray) -> tuple[int, int]:
    import requests

    body = json.dumps({"instances": array.tolist()}).encode()
    reply = requests.post(f"{url}/predict", data=body, headers={"Content-Type": "application/json"}, timeout=TIMEOUT_S)
    reply.raise_for_status()
    return len(body), len(reply.content)
