"""The numpy <-> TensorProto codec against TensorFlow's own (tf.make_tensor_proto / tf.make_ndarray),
across the two message classes (bytes in between), for every dtype the codec supports."""

import base64

import numpy as np
import pytest

from protocol import b64, dtypes, tensors

ARRAYS = {
    "float32": np.array([[1.5, -2.0, np.inf], [0.0, np.nan, 3.25]], np.float32),
    "float64": np.array([1e300, -0.1], np.float64),
    "float16": np.array([0.5, -65504.0, 1e-4], np.float16),
    "int8": np.array([-128, 127], np.int8),
    "int16": np.array([-32768, 5], np.int16),
    "int32": np.arange(-3, 3, dtype=np.int32).reshape(2, 3),
    "int64": np.array([-(2**63), 2**63 - 1], np.int64),
    "uint8": np.array([0, 255], np.uint8),
    "uint16": np.array([65535], np.uint16),
    "uint32": np.array([2**32 - 1], np.uint32),
    "uint64": np.array([2**64 - 1], np.uint64),
    "bool": np.array([[True], [False]]),
    "complex64": np.array([1 + 2j, -3.5j], np.complex64),
    "complex128": np.array([[1e-300 + 1j]], np.complex128),
    "string": np.array([b"\xff\xd8 jpeg", b"", "é".encode()], dtype=object),
    "scalar": np.array(7, np.int64),
    "empty": np.zeros((0, 3), np.float32),
}


def _same(a: np.ndarray, b: np.ndarray) -> None:
    assert a.shape == b.shape and a.dtype == b.dtype
    if a.dtype == object:
        assert a.tolist() == b.tolist()
    else:
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("as_content", [True, False], ids=["tensor_content", "typed_fields"])
@pytest.mark.parametrize("name", list(ARRAYS))
def test_round_trip(name, as_content):
    array = ARRAYS[name]
    _same(tensors.to_numpy(tensors.to_proto(array, as_content=as_content)), array)


@pytest.mark.parametrize("as_content", [True, False], ids=["tensor_content", "typed_fields"])
@pytest.mark.parametrize("name", list(ARRAYS))
def test_tensorflow_reads_ours_and_we_read_tensorflows(name, as_content):
    tf = pytest.importorskip("tensorflow", reason="TensorFlow's codec is the reference (not in a client install)")
    from tensorflow.core.framework import tensor_pb2 as tf_tensor_pb2

    array = ARRAYS[name]
    ours = tensors.to_proto(array, as_content=as_content)
    theirs = tf_tensor_pb2.TensorProto.FromString(ours.SerializeToString())
    _same(tf.make_ndarray(theirs), array)
    back = tensors.TensorProto.FromString(tf.make_tensor_proto(array).SerializeToString())
    _same(tensors.to_numpy(back), array)


def test_typed_fields_are_the_ones_tensorflow_uses():
    tf = pytest.importorskip("tensorflow", reason="TensorFlow's codec is the reference (not in a client install)")

    for name, array in ARRAYS.items():
        if array.size == 0 or name == "scalar":
            continue
        proto = tensors.to_proto(array, as_content=False)
        field = dtypes.VALUE_FIELD[dtypes.datatype_name(array.dtype)]
        assert len(getattr(proto, field)) > 0, name
        expected = tf.string if array.dtype == object else tf.as_dtype(array.dtype)
        assert proto.dtype == expected.as_datatype_enum, name


def test_a_short_typed_field_fills_the_shape_like_tensorflow():
    proto = tensors.TensorProto(dtype=dtypes.types_pb2.DT_FLOAT)
    proto.tensor_shape.dim.add(size=2)
    proto.tensor_shape.dim.add(size=2)
    proto.float_val.extend([1.0, 2.0])
    np.testing.assert_array_equal(tensors.to_numpy(proto), [[1.0, 2.0], [2.0, 2.0]])
    del proto.float_val[:]
    np.testing.assert_array_equal(tensors.to_numpy(proto), np.zeros((2, 2), np.float32))


@pytest.mark.parametrize("size", [1, 5, 64, 65, 3000])
@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint64])
def test_typed_integer_fields_are_the_bytes_protobuf_writes(size, dtype):
    """Varints are written one by one for a few values and vectorised for many: both are protobuf's bytes,
    negative numbers and the largest values included."""
    info = np.iinfo(dtype)
    edges = [info.min, info.max, 0, 1, 127, 128, 16383, 16384, -1 if info.min < 0 else 2**32]
    array = np.resize(np.array(edges, dtype=dtype), size)
    ours = tensors.to_proto(array, as_content=False)
    theirs = tensors.TensorProto(dtype=ours.dtype, tensor_shape=ours.tensor_shape)
    getattr(theirs, dtypes.VALUE_FIELD[dtypes.datatype_name(array.dtype)]).extend(array.tolist())
    assert ours.SerializeToString() == theirs.SerializeToString()
    _same(tensors.to_numpy(ours), array)


def test_bad_tensors_are_value_errors():
    proto = tensors.to_proto(np.arange(4, dtype=np.int32))
    proto.tensor_content = proto.tensor_content[:-1]
    with pytest.raises(ValueError, match="needs 16 bytes"):
        tensors.to_numpy(proto)
    with pytest.raises(ValueError, match="DT_RESOURCE"):
        tensors.to_numpy(tensors.TensorProto(dtype=dtypes.types_pb2.DT_RESOURCE))
    too_many = tensors.to_proto(np.arange(3, dtype=np.int64), as_content=False)
    too_many.tensor_shape.dim[0].size = 2
    with pytest.raises(ValueError, match="needs 2 values, got 3"):
        tensors.to_numpy(too_many)
    with pytest.raises(ValueError, match="no TensorFlow equivalent"):
        tensors.to_proto(np.array([np.datetime64("2020-01-01")]))


def test_content_view_is_read_only_and_copy_is_writable():
    proto = tensors.to_proto(np.arange(6, dtype=np.float32))
    view, copy = tensors.to_numpy(proto, copy=False), tensors.to_numpy(proto)
    assert not view.flags.writeable and copy.flags.writeable


def test_b64_rules():
    assert b64.encode(b"\xff\x00") == {"b64": "/wA="} and b64.encode("é") == {"b64": "w6k="}
    assert b64.decode({"b64": "/wA"}) == b"\xff\x00"  # padding may be left out
    assert b64.is_b64({"b64": "x"}) and not b64.is_b64({"b64": 1}) and not b64.is_b64({"b64": "x", "y": 1})
    with pytest.raises(ValueError, match="Unable to base64 decode"):
        b64.decode({"b64": "!!!"})
    assert b64.written_as_b64("images_bytes") and not b64.written_as_b64("images")


def _declared(dtype: int, dims: list[int], **fields) -> tensors.TensorProto:
    proto = tensors.TensorProto(dtype=dtype, **fields)
    for size in dims:
        proto.tensor_shape.dim.add(size=size)
    return proto


T = dtypes.types_pb2


@pytest.mark.parametrize(
    "proto, message",
    [
        (_declared(T.DT_FLOAT, [-1], float_val=[1.0]), r"negative dimension in its shape \[-1\]"),
        (_declared(T.DT_FLOAT, [2, -7], float_val=[1.0]), r"negative dimension in its shape \[2, -7\]"),
        (_declared(T.DT_RESOURCE, [1]), "DT_RESOURCE"),
        (_declared(T.DT_VARIANT, [1]), "DT_VARIANT"),
        (_declared(T.DT_FLOAT, [2], float_val=[1.0, 2.0, 3.0]), "needs 2 values, got 3"),
        (_declared(T.DT_STRING, [1], string_val=[b"a", b"b"]), "needs 1 values, got 2"),
        (_declared(T.DT_INT32, [3], tensor_content=b"\0" * 8), "needs 12 bytes of tensor_content, got 8"),
        (_declared(T.DT_INT32, [1], tensor_content=b"\0" * 8), "needs 4 bytes of tensor_content, got 8"),
        (_declared(T.DT_FLOAT, [1 << 62, 1 << 62], float_val=[1.0]), "more elements than int64 can count"),
        (_declared(T.DT_FLOAT, [1 << 40], float_val=[1.0]), "more than one message can carry"),
        (_declared(T.DT_FLOAT, [1 << 29], tensor_content=b"\0" * 8), "more than one message can carry"),
        (_declared(T.DT_FLOAT, [1 << 26], float_val=[1.0]), "filling up the rest would take"),
        (_declared(T.DT_STRING, [1], tensor_content=b"\x01a"), "send its elements in string_val"),
        (tensors.TensorProto(dtype=T.DT_FLOAT, tensor_shape={"unknown_rank": True}), "unknown rank"),
        (_declared(999, [1]), "DT_INVALID"),
    ],
    ids=[
        "minus-one",
        "negative",
        "resource",
        "variant",
        "too-many",
        "too-many-strings",
        "short-content",
        "long-content",
        "int64-overflow",
        "huge-fill",
        "huge-content-shape",
        "fill-over-limit",
        "string-content",
        "unknown-rank",
        "unknown-dtype",
    ],
)
def test_malformed_tensors_are_value_errors_before_any_allocation(proto, message):
    with pytest.raises(ValueError, match=message):
        tensors.to_numpy(proto, copy=False)


def test_fills_up_to_the_limit_like_tensorflow():
    limit = tensors.MAX_FILL_BYTES // 4
    filled = tensors.to_numpy(_declared(T.DT_FLOAT, [limit], float_val=[1.5]))
    assert filled.shape == (limit,) and filled[-1] == 1.5
    assert tensors.element_count((1 << 40, 1 << 40)) == 1 << 80  # exact, where numpy's product wraps


@pytest.mark.parametrize(
    "text",
    ["", "/wA=", "/wA", "QUJD", "QUJDRA==", "QUJDRA", "QU JD", "QUJD\n", "QU==JD", "Q===", "é", "QUJD!", "-_8="],
)
def test_b64_decodes_and_refuses_what_the_standard_library_does(text):
    """pybase64 does the decoding; the standard library's strict decoder is the reference (padding added)."""
    padded = text.strip() + "=" * (-len(text.strip()) % 4)
    try:
        expected = base64.b64decode(padded, validate=True)
    except ValueError:  # binascii.Error, or non-ASCII text
        with pytest.raises(ValueError):
            b64.decode({"b64": text})
        return
    assert b64.decode({"b64": text}) == expected


def test_b64_round_trips_every_length():
    rng = np.random.default_rng(3)
    for size in [*range(0, 70), 4096, 100_003]:
        data = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
        encoded = b64.encode(data)
        assert encoded["b64"] == base64.b64encode(data).decode()
        assert b64.decode(encoded) == data
