"""gRPC contract with the tensorflow-serving-api stubs: all PredictionService methods, codes and limits."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    inference_pb2,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

LIMIT = 64 * 1024 * 1024


@pytest.fixture(scope="module")
def stub(server):
    channel = grpc.insecure_channel(
        server.grpc_address,
        options=[("grpc.max_send_message_length", LIMIT), ("grpc.max_receive_message_length", LIMIT)],
    )
    yield prediction_service_pb2_grpc.PredictionServiceStub(channel)
    channel.close()


def _request(model, inputs, version=None, label=None, signature=""):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = signature
    if version is not None:
        request.model_spec.version.value = version
    if label is not None:
        request.model_spec.version_label = label
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    return request


def _error(call, request):
    with pytest.raises(grpc.RpcError) as info:
        call(request, timeout=60)
    return info.value.code(), info.value.details()


def test_predict_multi_io_with_output_filter(stub):
    a = np.array([[1.0, 2.0], [3.0, -4.0]], np.float32)
    b = np.array([5, -6], np.int64)
    request = _request("multi_io", {"a": a, "b": b})
    response = stub.Predict(request, timeout=60)
    assert set(response.outputs) == {"total", "doubled", "flag"}
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["total"]), a.sum(axis=1) + b)
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["doubled"]), 2 * a)
    np.testing.assert_array_equal(tf.make_ndarray(response.outputs["flag"]), b > 0)
    assert list(response.outputs["total"].float_val) == pytest.approx((a.sum(axis=1) + b).tolist())
    request.output_filter.append("doubled")
    filtered = stub.Predict(request, timeout=60)
    assert set(filtered.outputs) == {"doubled"}
    request.output_filter.append("doubled")
    code, details = _error(stub.Predict, request)
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details == "duplicate output tensor alias: doubled"
    del request.output_filter[:]
    request.output_filter.append("nope")
    code, details = _error(stub.Predict, request)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert details.startswith("output tensor alias not found in signature: nope")


def test_predict_strings(stub):
    text = np.array([b"abc", b"\x00\xff"], dtype=object)
    response = stub.Predict(_request("strings", {"text": text}), timeout=60)
    assert tf.make_ndarray(response.outputs["upper"]).tolist() == [b"ABC", b"\x00\xff"]
    assert tf.make_ndarray(response.outputs["text_bytes"]).tolist() == text.tolist()
    assert tf.make_ndarray(response.outputs["length"]).tolist() == [3, 2]


def test_predict_half_input(stub):
    response = stub.Predict(_request("float16", {"h": np.array([1.5, -2.0], np.float16)}), timeout=60)
    np.testing.assert_array_equal(tf.make_ndarray(response.outputs["doubled"]), [3.0, -4.0])


def test_predict_errors(stub):
    x = {"x": np.array([1.0], np.float32)}
    cases = [
        (
            _request("half_plus_two", x, version=7),
            grpc.StatusCode.NOT_FOUND,
            "Servable not found for request: Specific(half_plus_two, 7)",
        ),
        (
            _request("half_plus_two", x, label="nolabel"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "Unrecognized servable version label: nolabel",
        ),
        (
            _request("half_plus_two", x, signature="nope"),
            grpc.StatusCode.FAILED_PRECONDITION,
            'Serving signature key "nope" not found.',
        ),
        (
            _request("half_plus_two", {"x": np.array([1.0], np.float64)}),
            grpc.StatusCode.INVALID_ARGUMENT,
            "Expects arg[0] to be float but double is provided",
        ),
        (  # shapes are the graph's to judge: this one cannot add a sum of [2] to b of [3]
            _request("multi_io", {"a": np.ones((2, 2), np.float32), "b": np.ones(3, np.int64)}),
            grpc.StatusCode.INVALID_ARGUMENT,
            "Incompatible shapes: [3] vs. [2]",
        ),
        (
            _request("multi_io", {"a": np.ones((1, 2), np.float32)}),
            grpc.StatusCode.INVALID_ARGUMENT,
            "input size does not match signature: 1!=2 len({a}) != len({a,b}). Sent extra: {}. "
            "Missing but required: {b}.",
        ),
        (_request("", x), grpc.StatusCode.INVALID_ARGUMENT, "ModelSpec has no name specified."),
    ]
    for request, code, fragment in cases:
        got_code, details = _error(stub.Predict, request)
        assert got_code == code, details
        assert fragment in details


def test_large_message_over_default_4mb(stub):
    a = np.random.default_rng(0).normal(size=(1_000_000, 2)).astype(np.float32)  # 8 MB each way
    b = np.zeros(1_000_000, np.int64)
    request = _request("multi_io", {"a": a, "b": b})
    request.output_filter.append("doubled")
    response = stub.Predict(request, timeout=120)
    np.testing.assert_array_equal(tf.make_ndarray(response.outputs["doubled"]), 2 * a)


def _examples(values, context=None):
    request_input = classification_pb2.ClassificationRequest().input
    target = request_input.example_list_with_context if context is not None else request_input.example_list
    if context is not None:
        target.context.features.feature["x"].float_list.value.append(context)
    for value in values:
        example = target.examples.add()
        if value is not None:
            example.features.feature["x"].float_list.value.append(value)
    return request_input


def test_classify_regress_multi_inference(stub):
    classify = classification_pb2.ClassificationRequest(input=_examples([2.0, 6.0]))
    classify.model_spec.name = "half_plus_two"
    classify.model_spec.signature_name = "classify_x_to_y"
    result = stub.Classify(classify, timeout=60)
    assert [[(c.label, c.score) for c in row.classes] for row in result.result.classifications] == [
        [("", 4.0)],
        [("", 6.0)],
    ]
    assert result.model_spec.version.value == 2

    regress = regression_pb2.RegressionRequest(input=_examples([None, 1.0], context=8.0))
    regress.model_spec.name = "half_plus_two"
    regress.model_spec.version.value = 1
    regress.model_spec.signature_name = "regress_x_to_y"
    assert [r.value for r in stub.Regress(regress, timeout=60).result.regressions] == [6.0, 2.5]

    multi = inference_pb2.MultiInferenceRequest(input=_examples([4.0]))
    for signature, method in (
        ("classify_x_to_y", "tensorflow/serving/classify"),
        ("regress_x_to_y", "tensorflow/serving/regress"),
    ):
        task = multi.tasks.add(method_name=method)
        task.model_spec.name = "half_plus_two"
        task.model_spec.signature_name = signature
    results = stub.MultiInference(multi, timeout=60).results
    assert results[0].classification_result.classifications[0].classes[0].score == 5.0
    assert results[1].regression_result.regressions[0].value == 5.0
    assert results[1].model_spec.signature_name == "regress_x_to_y"

    wrong = regression_pb2.RegressionRequest(input=_examples([1.0]))
    wrong.model_spec.name = "half_plus_two"  # serving_default has input x, not serialized examples
    code, details = _error(stub.Regress, wrong)
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "No regression inputs found in SignatureDef" in details
    empty = classification_pb2.ClassificationRequest()
    empty.model_spec.name = "half_plus_two"
    empty.model_spec.signature_name = "classify_x_to_y"
    code, _ = _error(stub.Classify, empty)
    assert code == grpc.StatusCode.INVALID_ARGUMENT


def test_metadata_requires_signature_def_field(stub):
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = "half_plus_two"
    code, details = _error(stub.GetModelMetadata, request)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert details == "GetModelMetadataRequest must specify at least one metadata_field"
    request.metadata_field.append("other")
    code, details = _error(stub.GetModelMetadata, request)
    assert details == "Metadata field other is not supported"
    del request.metadata_field[:]
    request.metadata_field.append("signature_def")
    response = stub.GetModelMetadata(request, timeout=60)
    assert response.model_spec.version.value == 2


def test_unparsable_example_is_invalid_argument(stub):
    request = classification_pb2.ClassificationRequest(input=_examples([1.0]))
    request.model_spec.name = "half_plus_two"
    request.model_spec.signature_name = "classify_x_to_y"
    request.input.example_list.examples[0].features.feature["x"].float_list.value.append(2.0)  # 2 values, needs 1
    code, _ = _error(stub.Classify, request)
    assert code == grpc.StatusCode.INVALID_ARGUMENT


def _declared(model, name, dtype, dims, **fields):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    tensor = request.inputs[name]
    tensor.dtype = dtype
    for size in dims:
        tensor.tensor_shape.dim.add(size=size)
    for field, values in fields.items():
        if field == "tensor_content":
            tensor.tensor_content = values
        else:
            getattr(tensor, field).extend(values)
    return request


@pytest.mark.parametrize(
    "dtype, dims, fields, fragment",
    [
        (tf.float32.as_datatype_enum, [-1], {"float_val": [1.0]}, "negative dimension in its shape [-1]"),
        (tf.float32.as_datatype_enum, [3, -5], {"float_val": [1.0]}, "negative dimension in its shape [3, -5]"),
        (tf.resource.as_datatype_enum, [1], {}, "DT_RESOURCE"),
        (tf.variant.as_datatype_enum, [1], {}, "DT_VARIANT"),
        (tf.float32.as_datatype_enum, [2], {"float_val": [1.0, 2.0, 3.0]}, "needs 2 values, got 3"),
        (tf.float32.as_datatype_enum, [3], {"tensor_content": b"\0" * 8}, "needs 12 bytes of tensor_content, got 8"),
        (tf.float32.as_datatype_enum, [1 << 40], {"float_val": [1.0]}, "more than one message can carry"),
        (tf.float32.as_datatype_enum, [1 << 62, 1 << 62], {"float_val": [1.0]}, "more elements than int64 can count"),
    ],
    ids=[
        "minus-one",
        "negative",
        "resource",
        "variant",
        "too-many",
        "short-content",
        "huge-shape",
        "overflow",
    ],
)
def test_malformed_tensors_are_invalid_argument(stub, dtype, dims, fields, fragment):
    code, details = _error(stub.Predict, _declared("half_plus_two", "x", dtype, dims, **fields))
    assert code == grpc.StatusCode.INVALID_ARGUMENT, details
    assert details.startswith("tensor parsing error: ") and fragment in details
    assert "Traceback" not in details


def test_a_fill_over_the_request_budget_is_invalid_argument(stub):
    code, details = _error(
        stub.Predict, _declared("half_plus_two", "x", tf.float32.as_datatype_enum, [1 << 28], float_val=[1.0])
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert details == (
        "Filling up input tensors sent with fewer values than their shapes hold (x) would take 1073741824 bytes, "
        "more than the server builds for one request (--max_request_expansion_bytes=67108864)"
    )


def test_a_short_typed_field_is_filled_like_tensorflow(stub):
    response = stub.Predict(
        _declared("half_plus_two", "x", tf.float32.as_datatype_enum, [3], float_val=[2.0]), timeout=60
    )
    np.testing.assert_array_equal(tf.make_ndarray(response.outputs["y"]), [4.0, 4.0, 4.0])
