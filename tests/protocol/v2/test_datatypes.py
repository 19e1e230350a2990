"""The v2 datatype table: every v2 datatype is one TensorFlow DataType and back, with its wire size."""

import numpy as np
import pytest

from protocol import dtypes
from protocol.v2 import datatypes

# The spec's table of datatypes and sizes (BF16: Triton's, as its clients send it).
SPEC_SIZES = {
    "BOOL": 1,
    "UINT8": 1,
    "UINT16": 2,
    "UINT32": 4,
    "UINT64": 8,
    "INT8": 1,
    "INT16": 2,
    "INT32": 4,
    "INT64": 8,
    "FP16": 2,
    "BF16": 2,
    "FP32": 4,
    "FP64": 8,
    "BYTES": None,
}


def test_every_spec_datatype_is_known_with_its_size():
    assert {d.name: d.size for d in datatypes.DATATYPES.values()} == SPEC_SIZES


@pytest.mark.parametrize("name", list(SPEC_SIZES))
def test_datatype_and_dataype_round_trip(name):
    tf = datatypes.to_tf(name)
    assert datatypes.of_tf(tf) == name
    if name == "BF16":
        pytest.importorskip("ml_dtypes", reason="bfloat16 needs ml_dtypes, which TensorFlow brings")
    dtype = datatypes.numpy_dtype(name)
    assert datatypes.of_numpy(dtype) == name
    if SPEC_SIZES[name] is not None:
        assert dtype.itemsize == SPEC_SIZES[name]


def test_the_issue_mapping():
    assert datatypes.to_tf("BYTES") == "DT_STRING"
    assert datatypes.to_tf("FP16") == "DT_HALF"
    assert datatypes.to_tf("BF16") == "DT_BFLOAT16"
    assert datatypes.of_numpy(np.dtype(object)) == datatypes.of_numpy(np.dtype("S3")) == "BYTES"


def test_types_without_a_v2_datatype_are_refused():
    for tf in ("DT_COMPLEX64", "DT_COMPLEX128", "DT_RESOURCE", "DT_VARIANT", "DT_QINT8"):
        with pytest.raises(ValueError, match="no Open Inference Protocol datatype"):
            datatypes.of_tf(tf)
    with pytest.raises(ValueError, match="unknown datatype 'FLOAT32'"):
        datatypes.get("FLOAT32")
    with pytest.raises(ValueError, match="unknown datatype"):
        datatypes.get(None)


def test_typed_fields_are_fields_of_the_message():
    from protocol.generated.inference import open_inference_pb2

    fields = set(open_inference_pb2.InferTensorContents.DESCRIPTOR.fields_by_name)
    assert {d.contents for d in datatypes.DATATYPES.values()} - {None} == fields
    assert [d.name for d in datatypes.DATATYPES.values() if d.contents is None] == ["FP16", "BF16"]


def test_numpy_table_is_the_tensorflow_one():
    for d in datatypes.DATATYPES.values():
        if d.tf != "DT_BFLOAT16":
            assert datatypes.numpy_dtype(d.name) == dtypes.NUMPY_DTYPES[d.tf]
