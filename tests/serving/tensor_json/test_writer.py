"""serving.tensor_json.writer: rapidjson's PrettyWriter layout and string escaping, and the text of a value in
an error message (JsonValueToDebugString)."""

from __future__ import annotations

import math

from serving.tensor_json.writer import PrettyWriter, debug_string, encode, quote


def test_strings_are_escaped_as_rapidjson_escapes_them():
    assert quote('a"b\\c/d') == '"a\\"b\\\\c/d"'  # '/' is not escaped
    assert quote("\b\t\n\f\r\x00\x1f\x7f") == '"\\b\\t\\n\\f\\r\\u0000\\u001F\x7f"'  # capitals; DEL as it is
    assert quote("é€😀<>") == '"é€😀<>"'  # everything else as UTF-8


def test_bytes_that_are_not_utf8_are_written_back_as_they_came():
    raw = b"caf\xe9 \xff"
    assert encode(quote(raw.decode("utf-8", "surrogateescape"))) == b'"' + raw + b'"'


def test_pretty_layout():
    w = PrettyWriter()
    w.start(False)
    w.key("a")
    w.start(True)
    w.value("1")
    w.start(True)
    w.end()
    w.start(False)
    w.end()
    w.end()
    w.key("b")
    w.single_line = True
    w.start(True)
    w.value("2")
    w.value("3")
    w.end()
    w.single_line = False
    w.end()
    assert w.text() == '{\n    "a": [\n        1,\n        [],\n        {}\n    ],\n    "b": [2, 3]\n}'


def test_debug_strings_lay_out_objects_on_lines_and_arrays_on_one():
    assert debug_string([1, 2.0, "x", None, True]) == '[1, 2.0, "x", null, true]'
    assert debug_string({"b64": 5}) == '{\n    "b64": 5\n}'
    assert debug_string({"a": [1, {"b": [2]}]}) == '{\n    "a": [1, {\n            "b": [2]\n        }]\n}'
    assert debug_string(1.7976931348623157e308) == "1.7976931348623157e308"


def test_debug_strings_stop_near_256_bytes_and_at_a_non_finite_number():
    text = debug_string(list(range(1000)))
    assert text.startswith("[0, 1, 2") and 256 <= len(text) < 262 and text.endswith(tuple("0123456789"))
    assert debug_string([1, math.nan, 2]) == "[1, "  # rapidjson's writer refuses NaN after its prefix
