"""JSON text with numpy arrays: orjson's speed, the NaN literals both servers write, raw bytes kept."""

import json

import numpy as np

from protocol.json_text import dumps, loads


def test_numpy_arrays_are_written_as_numbers():
    body = {"x": np.array([[0.1, 2.0]], np.float32), "n": np.array([1, 2], np.int64), "s": np.float32(0.5)}
    assert dumps(body) == b'{"x":[[0.1,2.0]],"n":[1,2],"s":0.5}'
    assert np.array_equal(np.asarray(json.loads(dumps(body))["x"], np.float32), body["x"])


def test_non_finite_values_are_the_literals_servers_read():
    assert dumps({"x": np.array([np.nan, np.inf, -np.inf, 1.0])}) == b'{"x":[NaN,Infinity,-Infinity,1.0]}'
    assert dumps([float("nan")]) == b"[NaN]"
    assert np.isnan(loads(b"[NaN]")[0]) and loads(b"[-Infinity]") == [float("-inf")]


def test_raw_bytes_that_are_not_utf8_survive():
    value = loads(b'{"s": "\xff\xd8ok"}')["s"]
    assert value.encode("utf-8", "surrogateescape") == b"\xff\xd8ok"
