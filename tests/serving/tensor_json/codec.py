"""The request path as the server runs it, for the codec's unit tests: the typed path first, then the reference
codec; both must agree (or the typed path steps aside)."""

from __future__ import annotations

import numpy as np
import pytest

from serving import tensor_json
from serving.errors import ServingError

HELLO, WORLD = {"b64": "aGVsbG8="}, {"b64": "d29ybGQ="}


def request(body: str | bytes, dtypes: dict[str, int], checked: bool = True) -> tuple[dict[str, np.ndarray], str]:
    """FillPredictRequestFromJson: the whole path from body bytes to input arrays.

    `checked=False` takes the numpy fast path the server uses when the body holds no true/false. The typed
    path (TypedRequest) runs on every body too: it must give the same arrays or step aside."""
    body = body.encode() if isinstance(body, str) else body
    typed = tensor_json.TypedRequest.parse(body)
    fast = typed.arrays(dtypes) if typed else None
    try:
        doc = tensor_json.parse_document(body)
        tensor_json.signature_name(doc)
        reference = tensor_json.predict_request_arrays(doc, dtypes, checked)
    except ServingError:
        assert fast is None, "the typed path accepted a body the reference codec refuses"
        raise
    if fast is not None:
        assert fast[1] == reference[1] and list(fast[0]) == list(reference[0])
        for name, array in reference[0].items():
            same(fast[0][name], array, array.dtype)
    return reference


def error(body: str | bytes, dtypes: dict[str, int], checked: bool = True) -> ServingError:
    with pytest.raises(ServingError) as info:
        request(body, dtypes, checked)
    return info.value


def same(array: np.ndarray, expected, dtype) -> None:
    expected = np.array(expected, dtype=dtype)
    assert array.shape == expected.shape and array.dtype == expected.dtype
    if np.dtype(dtype).kind == "O":
        assert array.tolist() == expected.tolist()
    else:
        np.testing.assert_array_equal(array, expected)
