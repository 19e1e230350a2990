"""serving.tensor_json.response: answers byte for byte as json_tensor.cc writes them (MakeJsonFromTensors and
friends), checked against a transcription of the official writer's calls into rapidjson's PrettyWriter events
(writer.PrettyWriter), and the cases of json_tensor_test.cc."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from protocol import b64
from protocol.generated.tensorflow_serving.apis import classification_pb2, regression_pb2
from serving import tensor_json
from serving.errors import Code, ServingError
from serving.tensor_json import writer
from serving.tensor_json.numbers import decimal_tokens
from serving.tensor_json.writer import PrettyWriter, quote
from tests.serving.tensor_json.codec import HELLO, WORLD


def _values(writer_: PrettyWriter, array: np.ndarray, name: str) -> None:
    """AddTensorValues: nested arrays, values by AddSingleValueAndAdvance."""
    if isinstance(array, np.ndarray) and array.ndim:
        writer_.start(True)
        for item in array:
            _values(writer_, item, name)
        writer_.end()
        return
    value = array.item() if isinstance(array, np.ndarray | np.generic) else array
    if isinstance(value, bytes) and name.endswith("_bytes"):
        writer_.start(False)
        writer_.key("b64")
        writer_.value(quote(b64.encode(value)["b64"]))
        writer_.end()
    elif isinstance(value, bytes):
        writer_.value(quote(value.decode("utf-8", "surrogateescape")))
    elif isinstance(value, float):
        writer_.value(decimal_tokens(np.asarray(array).reshape(1))[0])
    else:
        writer_.value(json.dumps(value))


def official(outputs: dict[str, np.ndarray], fmt: str) -> str:
    """MakeRowFormatJsonFromTensors / MakeColumnarFormatJsonFromTensors, call by call."""
    w, names = PrettyWriter(), sorted(outputs)
    w.start(False)
    if fmt == "row":
        w.key("predictions")
        w.start(True)
        for item in range(outputs[names[0]].shape[0]):
            if len(names) > 1:
                w.start(False)
            w.single_line = True
            for name in names:
                if len(names) > 1:
                    w.key(name)
                _values(w, outputs[name][item], name)
            w.single_line = False
            if len(names) > 1:
                w.end()
        w.end()
    else:
        w.key("outputs")
        if len(names) > 1:
            w.start(False)
        for name in names:
            if len(names) > 1:
                w.key(name)
            _values(w, outputs[name], name)
        if len(names) > 1:
            w.end()
    w.end()
    return w.text()


RNG = np.random.default_rng(7)
TENSORS = [
    np.array([2.5, 3.0, 4.5], np.float32),
    RNG.standard_normal((2, 3, 2)).astype(np.float32),
    RNG.standard_normal((3, 1, 2, 2)),
    np.arange(24, dtype=np.int64).reshape(2, 1, 3, 4) - 10,
    np.array([[True, False]] * 2),
    np.array([[b"hello", b'w"orld\n'], [b"tf", b"\xff\x00"]], dtype=object),
    np.zeros((2, 0), np.float32),
    np.zeros((0, 3), np.int32),
    np.zeros((2, 3, 0), np.float32),
    np.array([[1, 2]], np.uint8),
    np.array([[1 << 63], [5]], np.uint64),
]


@pytest.mark.parametrize("fmt", ["row", "columnar"])
@pytest.mark.parametrize("index", range(len(TENSORS)))
def test_one_output_is_written_as_officially(fmt, index):
    array = TENSORS[index]
    for name in ("y", "y_bytes"):
        assert tensor_json.predict_response_json({name: array}, fmt).decode("utf-8", "surrogateescape") == official(
            {name: array}, fmt
        )


@pytest.mark.parametrize("fmt", ["row", "columnar"])
def test_several_outputs_are_written_as_officially(fmt):
    outputs = {
        "scores": RNG.standard_normal((2, 3)).astype(np.float32),
        "label_bytes": np.array([b"cat", b"dog"], dtype=object),
        "boxes": RNG.standard_normal((2, 2, 4)).astype(np.float32),
        "count": np.array([1, 2], np.int32),
    }
    assert tensor_json.predict_response_json(outputs, fmt).decode() == official(outputs, fmt)


def test_scalars_in_the_columnar_format():
    for array in (np.array(3.5, np.float32), np.array(b"hi", dtype=object), b"hi\x00", np.array(7)):
        assert tensor_json.predict_response_json({"x_bytes": array}, "columnar").decode() == official(
            {"x_bytes": array}, "columnar"
        )


def test_the_rest_api_guide_example_byte_for_byte():
    # half_plus_three's answer in TF Serving's REST guide, and its columnar twin.
    y = np.array([2.5, 3.0, 4.5], np.float32)
    assert tensor_json.predict_response_json({"y": y}, "row") == b'{\n    "predictions": [2.5, 3.0, 4.5\n    ]\n}'
    assert tensor_json.predict_response_json({"y": y}, "columnar") == (
        b'{\n    "outputs": [\n        2.5,\n        3.0,\n        4.5\n    ]\n}'
    )


def test_large_tensors_are_written_in_pieces_with_the_same_text(monkeypatch):
    values = RNG.normal(size=(3, 70)).astype(np.float32)
    for chunk in (8, 50, 1 << 16):  # long rows in pieces, several rows a piece, all at once
        monkeypatch.setattr(writer, "_CHUNK", chunk)
        for fmt in ("row", "columnar"):
            assert tensor_json.predict_response_json({"x": values}, fmt).decode() == official({"x": values}, fmt)
    text = tensor_json.predict_response_json({"x": values}, "columnar")
    np.testing.assert_array_equal(np.array(json.loads(text)["outputs"], np.float32), values)


# ------------------------------------------------------------------ json_tensor_test.cc's FromJson cases

INT_2x3x2 = np.array([[[1, 2], [3, 4], [5, 6]], [[7, 8], [9, 0], [1, 2]]], np.int32)


def response(outputs: dict[str, np.ndarray], fmt: str):
    return json.loads(tensor_json.predict_response_json(outputs, fmt))


def test_from_json_single_tensor():
    assert response({"int_tensor": INT_2x3x2}, "row") == {"predictions": INT_2x3x2.tolist()}
    assert response({"int_tensor": INT_2x3x2}, "columnar") == {"outputs": INT_2x3x2.tolist()}


def test_from_json_single_scalar_tensor():
    values = np.array([1, 2, 3, 4, 5], np.int32)
    assert response({"int_tensor": values}, "row") == {"predictions": [1, 2, 3, 4, 5]}
    assert response({"int_tensor": values}, "columnar") == {"outputs": [1, 2, 3, 4, 5]}


def test_from_json_single_bytes_tensor():
    strings = np.array([[b"hello", b"world"], [b"tf", b"serving"]], dtype=object)
    assert response({"str_tensor_bytes": strings}, "row") == {
        "predictions": [[HELLO, WORLD], [{"b64": "dGY="}, {"b64": "c2VydmluZw=="}]]
    }


def _tokens(text: bytes) -> list[str]:
    """Numbers as written (CompareJsonAllValuesAsStrings)."""
    for mark in "[]{},":
        text = text.replace(mark.encode(), b" ")
    return [t for t in text.decode().split() if t[0] != '"']


def test_six_digit_precision():
    values = np.array([[9000000, 999999, 0.5], [0.0003, 0.00003, 555557.5]], np.float32)
    text = tensor_json.predict_response_json({"float_tensor": values}, "row")
    assert _tokens(text) == ["9e+06", "999999.0", "0.5", "0.0003", "3e-05", "555557.5"]


def test_non_finite_floats():
    values = np.array([[np.nan, np.inf], [3, -np.inf]], np.float32)
    text = tensor_json.predict_response_json({"float_tensor": values}, "row")
    assert _tokens(text) == ["NaN", "Infinity", "3.0", "-Infinity"]


def test_from_json_errors():
    with pytest.raises(ServingError, match="empty tensor map"):
        tensor_json.predict_response_json({}, "row")
    with pytest.raises(ServingError, match="no shape information"):
        tensor_json.predict_response_json({"tensor": np.array(1, np.int32)}, "row")


@pytest.mark.parametrize("dtype, name", [(np.complex64, "complex64"), (np.float16, "half"), (np.uint16, "uint16")])
def test_types_the_official_writer_has_no_json_for(dtype, name):
    # AddSingleValueAndAdvance writes float, double, int8/16/32, uint8/32/64, int64, bool and string only.
    for fmt in ("row", "columnar"):
        with pytest.raises(ServingError, match=f"Failed to write JSON value for tensor type: {name}$") as info:
            tensor_json.predict_response_json({"tensor": np.ones(2, dtype)}, fmt)
        assert info.value.code == Code.INVALID_ARGUMENT


def test_from_json_multiple_named_tensors():
    outputs = {
        "int_tensor": INT_2x3x2,
        "str_tensor": np.array([[b"foo", b"bar"], [b"baz", b"bat"]], dtype=object),
        "float_tensor": np.array([[1.0], [2.0]], np.float32),
        "double_scalar_tensor": np.array([8.0, 9.0], np.float64),
        "str_tensor_bytes": np.array([[b"hello", b"world"], [b"tf", b"serving"]], dtype=object),
    }
    assert response(outputs, "row") == {
        "predictions": [
            {
                "double_scalar_tensor": 8.0,
                "float_tensor": [1.0],
                "int_tensor": [[1, 2], [3, 4], [5, 6]],
                "str_tensor": ["foo", "bar"],
                "str_tensor_bytes": [HELLO, WORLD],
            },
            {
                "double_scalar_tensor": 9.0,
                "float_tensor": [2.0],
                "int_tensor": [[7, 8], [9, 0], [1, 2]],
                "str_tensor": ["baz", "bat"],
                "str_tensor_bytes": [{"b64": "dGY="}, {"b64": "c2VydmluZw=="}],
            },
        ]
    }
    assert response(outputs, "columnar") == {
        "outputs": {
            "double_scalar_tensor": [8.0, 9.0],
            "float_tensor": [[1.0], [2.0]],
            "int_tensor": INT_2x3x2.tolist(),
            "str_tensor": [["foo", "bar"], ["baz", "bat"]],
            "str_tensor_bytes": [[HELLO, WORLD], [{"b64": "dGY="}, {"b64": "c2VydmluZw=="}]],
        }
    }


@pytest.mark.parametrize(
    "outputs",
    [
        {
            "int_tensor": np.arange(6, dtype=np.int32).reshape(2, 3),
            "str_tensor": np.array([[b"foo", b"bar", b"baz"]], dtype=object),
        },
        {"int_tensor": np.zeros((0, 2), np.int32), "str_tensor": np.array([[b"foo", b"bar"]], dtype=object)},
    ],
)
def test_inconsistent_batch_sizes(outputs):
    with pytest.raises(ServingError, match="inconsistent batch size"):
        tensor_json.predict_response_json(outputs, "row")


def test_zero_batch_tensors():
    assert response({"int_tensor": np.zeros((0, 2), np.int32)}, "row") == {"predictions": []}
    assert response(
        {"str_tensor": np.zeros((0, 1, 2), dtype=object), "float_tensor": np.zeros((0, 3, 4), np.float32)}, "row"
    ) == {"predictions": []}


# ------------------------------------------------------------------ classify, regress, errors


def test_classification_and_regression_results():
    result = classification_pb2.ClassificationResult()
    for row in ([("car", 0.2), ("bike", 0.7), ("bus", 0.1)], [("car", 0.7), ("bike", 0.1), ("bus", 0.2)]):
        classes = result.classifications.add()
        for label, score in row:
            classes.classes.add(label=label, score=score)
    assert tensor_json.classify_json(result) == (
        b'{\n    "results": [[["car", 0.2], ["bike", 0.7], ["bus", 0.1]], [["car", 0.7], ["bike", 0.1], ["bus", 0.2]]'
        b"\n    ]\n}"
    )
    regression = regression_pb2.RegressionResult()
    for value in (0.2, 0.9, 1.0, math.inf, -math.inf, math.nan):
        regression.regressions.add(value=value)
    assert tensor_json.regress_json(regression) == (b'{\n    "results": [0.2, 0.9, 1.0, Infinity, -Infinity, NaN]\n}')
    with pytest.raises(ServingError, match="empty ClassificationResults"):
        tensor_json.classify_json(classification_pb2.ClassificationResult())
    with pytest.raises(ServingError, match="empty RegressionResults"):
        tensor_json.regress_json(regression_pb2.RegressionResult())


def test_error_bodies():
    assert tensor_json.error_json('Bad key: "key"') == b'{\n    "error": "Bad key: \\"key\\""\n}'
    assert json.loads(tensor_json.error_json("Bad key: 'key'")) == {"error": "Bad key: 'key'"}
