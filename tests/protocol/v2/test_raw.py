"""Raw tensor bytes: little-endian, row-major values; BYTES as 4-byte length + bytes per element."""

import numpy as np
import pytest

from protocol.v2 import raw

ARRAYS = {
    "BOOL": np.array([[True, False, True]]),
    "UINT8": np.array([0, 255], np.uint8),
    "UINT16": np.array([65535, 1], np.uint16),
    "UINT32": np.array([2**32 - 1], np.uint32),
    "UINT64": np.array([2**64 - 1, 0], np.uint64),
    "INT8": np.array([-128, 127], np.int8),
    "INT16": np.array([-32768, 5], np.int16),
    "INT32": np.arange(-3, 3, dtype=np.int32).reshape(2, 3),
    "INT64": np.array([-(2**63), 2**63 - 1], np.int64),
    "FP16": np.array([0.5, -65504.0], np.float16),
    "FP32": np.array([[1.5, -np.inf], [np.nan, 3.25]], np.float32),
    "FP64": np.array([1e300, -0.1]),
    "BYTES": np.array([[b"\xff\xd8 jpeg", b""], ["é", b"x"]], dtype=object),
}


@pytest.mark.parametrize("datatype", list(ARRAYS))
def test_round_trip(datatype):
    array = ARRAYS[datatype]
    name, data = raw.encode(array)
    assert name == datatype
    back = raw.decode(datatype, array.shape, bytes(data))
    assert back.shape == array.shape
    if datatype == "BYTES":
        assert back.tolist() == [[b"\xff\xd8 jpeg", b""], ["é".encode(), b"x"]]
    else:
        assert back.dtype == array.dtype
        np.testing.assert_array_equal(back, array)


def test_wire_bytes_are_the_spec_ones():
    assert bytes(raw.encode(np.array([1, 2], np.int32))[1]) == b"\x01\x00\x00\x00\x02\x00\x00\x00"
    assert bytes(raw.encode(np.array([True, False]))[1]) == b"\x01\x00"
    assert raw.encode_bytes([b"ab", b""]) == b"\x02\x00\x00\x00ab\x00\x00\x00\x00"
    assert bytes(raw.encode(np.array([1.0], ">f4"))[1]) == b"\x00\x00\x80\x3f"  # big-endian input, LE out


def test_bf16_is_the_high_half_of_a_float32():
    ml_dtypes = pytest.importorskip("ml_dtypes", reason="bfloat16 needs ml_dtypes, which TensorFlow brings")
    values = np.array([1.0, -2.5, 3.0e38], np.float32)
    wire = values.view(np.uint32).astype("<u4") >> 16
    decoded = raw.decode("BF16", [3], wire.astype("<u2").tobytes())
    assert decoded.dtype == np.dtype(ml_dtypes.bfloat16)
    truncated = (wire.astype(np.uint32) << 16).view(np.float32)  # what Triton's clients send: the top 16 bits
    np.testing.assert_array_equal(decoded.astype(np.float32), truncated)
    assert bytes(raw.encode(decoded)[1]) == wire.astype("<u2").tobytes()


def test_any_nonzero_byte_is_true():
    assert raw.decode("BOOL", [3], b"\x00\x02\xff").tolist() == [False, True, True]


def test_fixed_size_decode_is_a_view_without_copy():
    data = bytearray(np.arange(6, dtype="<f4").tobytes())
    array = raw.decode("FP32", [2, 3], data)
    data[0:4] = np.float32(9).tobytes()
    assert array[0, 0] == 9


@pytest.mark.parametrize(
    "datatype, shape, data, message",
    [
        ("FP32", [2, 2], b"\x00" * 12, "12 bytes of data, but shape \\[2, 2\\] of FP32 takes 16"),
        ("INT8", [3], b"\x00" * 4, "takes 3"),
        ("FP32", [-1], b"", "negative dimension"),
        ("FP32", [1.0], b"\x00" * 4, "must hold integers"),
        ("FP32", [True], b"\x00" * 4, "must hold integers"),
        ("FP32", "12", b"", "must hold integers"),
        ("FP32", [1 << 40, 1 << 40], b"", "takes"),
        ("BYTES", [2], b"\x01\x00\x00\x00a", "cannot hold 2 BYTES elements"),
        ("BYTES", [1], b"\x05\x00\x00\x00ab", "holds 5 bytes, only 2 follow"),
        ("BYTES", [1], b"\x01\x00\x00\x00ab", "1 bytes left over"),
        ("BYTES", [2], b"\x04\x00\x00\x00abcd", "ends before the length of BYTES element 1"),
        ("BYTES", [2], b"\x02\x00\x00\x00abcd\x00", "ends before the length of BYTES element 1"),
        ("COMPLEX", [1], b"", "unknown datatype"),
    ],
)
def test_bad_data_is_a_clear_value_error(datatype, shape, data, message):
    with pytest.raises(ValueError, match=message):
        raw.decode(datatype, shape, data, "input 'x'")


def test_a_huge_declared_bytes_count_allocates_nothing():
    with pytest.raises(ValueError, match="cannot hold"):
        raw.decode("BYTES", [1 << 40], b"\x00" * 64)


def test_byte_size():
    assert raw.byte_size("FP32", [2, 3]) == 24
    assert raw.byte_size("BYTES", [2]) is None
    assert raw.byte_size("BOOL", []) == 1
