"""Classify, Regress and MultiInference: serialized tf.Examples through classify/regress signatures."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from protocol.generated.tensorflow_serving.apis import classification_pb2, inference_pb2, input_pb2, regression_pb2
from protocol.methods import CLASSIFY_METHOD, DEFAULT_SIGNATURE, REGRESS_METHOD
from serving.core.server_core import ServerCore
from serving.deadlines import NO_DEADLINE, Deadline
from serving.errors import Code, ServingError, invalid_argument
from serving.ops.model_info import make_model_spec
from serving.request_limits import RequestLimits
from serving.servable import Servable


def serialized_examples(request_input: input_pb2.Input) -> np.ndarray:
    """One serialized Example per row; a context is merged under each example (example features win)."""
    kind = request_input.WhichOneof("kind")
    if kind == "example_list":
        rows = [e.SerializeToString() for e in request_input.example_list.examples]
    elif kind == "example_list_with_context":
        context = request_input.example_list_with_context.context.SerializeToString()
        rows = [context + e.SerializeToString() for e in request_input.example_list_with_context.examples]
    else:
        rows = []
    if not rows:
        raise invalid_argument("Input is empty.")
    array = np.empty(len(rows), dtype=object)
    array[:] = rows
    return array


@contextmanager
def examples_within(
    request_input: input_pb2.Input, limits: RequestLimits, deadline: Deadline = NO_DEADLINE
) -> Iterator[np.ndarray]:
    """serialized_examples, built only within the request's expansion budget and held in the server-wide pool
    for the block: with a context, the rows (a copy of the context in every one, as TensorFlow Serving
    builds them, and the examples) are sized before anything is built."""
    size = 0
    if request_input.WhichOneof("kind") == "example_list_with_context":
        with_context = request_input.example_list_with_context
        context, count = with_context.context.ByteSize(), len(with_context.examples)
        size = count * context + sum(e.ByteSize() for e in with_context.examples)
        limits.check_expansion(f"Merging the context ({context} bytes) into each of {count} examples", size)
    with limits.expanding(size, deadline):
        yield serialized_examples(request_input)


def _signature(servable: Servable, key: str, method: str):
    key = key or DEFAULT_SIGNATURE
    if key not in servable.signature_defs:
        raise invalid_argument(f"No signature was found with the name: {key}")
    signature = servable.signature_defs[key]
    kind = "classification" if method == CLASSIFY_METHOD else "regression"
    if servable.options.method_check and signature.method_name != method:
        raise invalid_argument(f"Expected {kind} signature method_name to be {method}. Was: {signature.method_name}")
    if len(signature.inputs) != 1:
        raise invalid_argument("Expected one input Tensor.")
    if "inputs" not in signature.inputs:
        raise invalid_argument(f"No {kind} inputs found in SignatureDef: {signature}")
    if method == CLASSIFY_METHOD:
        if len(signature.outputs) not in (1, 2):
            raise invalid_argument(f"Expected one or two output Tensors, found {len(signature.outputs)}")
        if "classes" not in signature.outputs and "scores" not in signature.outputs:
            raise invalid_argument(
                'Expected classification signature outputs to contain at least one of "classes" '
                f'or "scores". Signature was: {signature}'
            )
    else:
        if len(signature.outputs) != 1:
            raise invalid_argument("Expected one output Tensor.")
        if "outputs" not in signature.outputs:
            raise invalid_argument(f"No regression outputs found in SignatureDef: {signature}")
    return key


def _shape_text(shape) -> str:
    return "[" + ",".join(str(d) for d in shape) + "]"


def classification_result(outputs: dict, rows: int) -> classification_pb2.ClassificationResult:
    classes, scores = outputs.get("classes"), outputs.get("scores")
    for name, tensor, kind in (("classes", classes, "OSU"), ("scores", scores, "f")):
        if tensor is None:
            continue
        if tensor.ndim != 2:
            raise invalid_argument(
                f"Expected Tensor shape: [batch_size num_classes] but got {_shape_text(tensor.shape)}"
            )
        if tensor.dtype.kind not in kind or (name == "scores" and tensor.dtype != np.float32):
            wanted = "DT_STRING" if name == "classes" else "DT_FLOAT"
            raise invalid_argument(f"Expected {name} Tensor of {wanted}. Got: {tensor.dtype}")
        if tensor.shape[0] != rows:
            raise invalid_argument(f"Expected {name} output batch size of {rows}. Got: {tensor.shape[0]}")
    if classes is not None and scores is not None and classes.shape[1] != scores.shape[1]:
        raise invalid_argument(
            f"Tensors class and score should match in dim_size(1). Got {classes.shape[1]} vs. {scores.shape[1]}"
        )
    count = (classes if classes is not None else scores).shape[1]
    result = classification_pb2.ClassificationResult()
    for i in range(rows):
        row = result.classifications.add()
        for j in range(count):
            entry = row.classes.add()
            if classes is not None:
                label = classes[i, j]
                entry.label = label.decode("utf-8", "replace") if isinstance(label, bytes) else str(label)
            if scores is not None:
                entry.score = float(scores[i, j])
    return result


def regression_result(outputs: dict, rows: int) -> regression_pb2.RegressionResult:
    tensor = outputs["outputs"]
    if not (tensor.ndim == 1 or (tensor.ndim == 2 and tensor.shape[1] == 1)):
        raise invalid_argument(
            "Expected output Tensor shape to be either [batch_size] or [batch_size, 1] but got "
            f"{_shape_text(tensor.shape)}"
        )
    if tensor.shape[0] != rows:
        raise invalid_argument(f"Input batch size did not match output batch size: {rows} vs. {tensor.shape[0]}")
    if tensor.dtype != np.float32:
        raise invalid_argument(f"Expected output Tensor of DT_FLOAT.  Got: {tensor.dtype}")
    result = regression_pb2.RegressionResult()
    for value in tensor.reshape(-1).tolist():
        result.regressions.add(value=value)
    return result


def _single_on(
    servable: Servable,
    request,
    method: str,
    result_of,
    response_type,
    deadline: Deadline = NO_DEADLINE,
    limits: RequestLimits = RequestLimits(),
):
    """Classify or Regress on one servable: check the signature, run the examples, build the response."""
    key = _signature(servable, request.model_spec.signature_name, method)
    with examples_within(request.input, limits, deadline) as examples:
        rows = len(examples)
        outputs = servable.run(key, {"inputs": examples}, deadline)
    response = response_type(result=result_of(outputs, rows))
    make_model_spec(response.model_spec, request.model_spec.name, servable.version, key)
    return response


def classify(
    manager: ServerCore,
    request: classification_pb2.ClassificationRequest,
    deadline: Deadline = NO_DEADLINE,
    limits: RequestLimits = RequestLimits(),
) -> classification_pb2.ClassificationResponse:
    with manager.servable(request.model_spec) as servable:
        return classify_on(servable, request, deadline, limits)


def classify_on(
    servable: Servable,
    request: classification_pb2.ClassificationRequest,
    deadline: Deadline = NO_DEADLINE,
    limits: RequestLimits = RequestLimits(),
) -> classification_pb2.ClassificationResponse:
    return _single_on(
        servable,
        request,
        CLASSIFY_METHOD,
        classification_result,
        classification_pb2.ClassificationResponse,
        deadline,
        limits,
    )


def regress(
    manager: ServerCore,
    request: regression_pb2.RegressionRequest,
    deadline: Deadline = NO_DEADLINE,
    limits: RequestLimits = RequestLimits(),
) -> regression_pb2.RegressionResponse:
    with manager.servable(request.model_spec) as servable:
        return regress_on(servable, request, deadline, limits)


def regress_on(
    servable: Servable,
    request: regression_pb2.RegressionRequest,
    deadline: Deadline = NO_DEADLINE,
    limits: RequestLimits = RequestLimits(),
) -> regression_pb2.RegressionResponse:
    return _single_on(
        servable, request, REGRESS_METHOD, regression_result, regression_pb2.RegressionResponse, deadline, limits
    )


def multi_inference(
    manager: ServerCore,
    request: inference_pb2.MultiInferenceRequest,
    deadline: Deadline = NO_DEADLINE,
    limits: RequestLimits = RequestLimits(),
) -> inference_pb2.MultiInferenceResponse:
    if not request.tasks:
        raise invalid_argument("Found no tasks in MultiInferenceRequest.")
    with manager.servable(request.tasks[0].model_spec) as servable:
        return multi_inference_on(servable, request, deadline, limits)


def multi_inference_on(
    servable: Servable,
    request: inference_pb2.MultiInferenceRequest,
    deadline: Deadline = NO_DEADLINE,
    limits: RequestLimits = RequestLimits(),
) -> inference_pb2.MultiInferenceResponse:
    if not request.tasks:
        raise invalid_argument("Found no tasks in MultiInferenceRequest.")
    names = set()
    for task in request.tasks:
        if not task.model_spec.name:
            raise invalid_argument("Found ModelSpec with an empty model name.")
        names.add(task.model_spec.name)
    if len(names) > 1:
        raise invalid_argument("All ModelSpecs in a MultiInferenceRequest must access the same model name.")
    response = inference_pb2.MultiInferenceResponse()
    seen: set[str] = set()
    plan = []
    for task in request.tasks:
        key = task.model_spec.signature_name or DEFAULT_SIGNATURE
        if key in seen:
            raise invalid_argument(f"Duplicate evaluation of signature: {key}")
        seen.add(key)
        if key not in servable.signature_defs:
            raise invalid_argument(f"Requested signature not found in model graph: {key}")
        if task.method_name not in (CLASSIFY_METHOD, REGRESS_METHOD):
            raise ServingError(Code.UNIMPLEMENTED, f"Unsupported signature method_name: {task.method_name}")
        plan.append((task, _signature(servable, key, task.method_name)))
    with examples_within(request.input, limits, deadline) as examples:
        for task, key in plan:
            outputs = servable.run(key, {"inputs": examples}, deadline)
            result = response.results.add()
            if task.method_name == CLASSIFY_METHOD:
                result.classification_result.CopyFrom(classification_result(outputs, len(examples)))
            else:
                result.regression_result.CopyFrom(regression_result(outputs, len(examples)))
            make_model_spec(result.model_spec, task.model_spec.name, servable.version, task.model_spec.signature_name)
    return response
