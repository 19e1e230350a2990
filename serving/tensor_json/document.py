"""The request body as a JSON document: parsing with rapidjson's rules and messages, and the debug text of values."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import orjson  # several times faster than json for large bodies; json stays the reference parser

from serving.status import invalid_argument

DEBUG_LIMIT = 256

_PARSE_MESSAGES = {
    "Expecting value": "Invalid value.",
    "Expecting property name enclosed in double quotes": "Missing a name for object member.",
    "Expecting ':' delimiter": "Missing a colon after a name of object member.",
    "Expecting ',' delimiter": "Missing a comma or ']' after an array element.",
    "Unterminated string starting at": "Missing a closing quotation mark in string.",
    "Invalid control character at": "Invalid encoding in string.",
    "Invalid \\escape": "Invalid escape character in string.",
    "Invalid \\uXXXX escape": "Incorrect hex digit after \\u escape in string.",
}


def parse_document(body: bytes | bytearray) -> dict:
    """Parses a request body; only a JSON object is accepted. Trailing data is ignored like rapidjson.

    orjson reads the bytes as they are; only a body it refuses is decoded to text for the reference parser
    (a second copy of a large body is never made for a valid one)."""
    doc = _fast_parse(body)
    if doc is not None:
        return doc
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise invalid_argument(f"JSON Parse error: Invalid encoding in string. at offset: {e.start}") from None
    start = len(text) - len(text.lstrip())
    if start == len(text):
        raise invalid_argument("JSON Parse error: The document is empty")
    try:
        doc, _ = json.JSONDecoder().raw_decode(text, start)
    except json.JSONDecodeError as e:
        message = _PARSE_MESSAGES.get(e.msg, e.msg + ".")
        raise invalid_argument(f"JSON Parse error: {message} at offset: {e.pos}") from None
    except RecursionError:
        doc = _parse_read_keys(text, start)
    if not isinstance(doc, dict):
        raise invalid_argument(f"JSON Value: {debug_string(doc)} Is not object")
    return doc


READ_KEYS = ("signature_name", "instances", "inputs", "context", "examples")  # what the REST API reads
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{},:]')
_CLOSING = {"]": "[", "}": "{"}


def _parse_read_keys(text: str, start: int) -> dict:
    """A document too deep for the parser: rapidjson parses any depth, so the top-level keys the API reads
    are parsed alone and the values of the others skipped once their brackets and strings are seen to balance
    (their scalars are not checked: the one place this codec is more lenient). Deep nesting inside a key
    that is read is still an error."""
    if text[start] != "{":
        raise invalid_argument("JSON Parse error: Document nested too deeply.")
    stack: list[str] = []
    spans: dict[str, list[int]] = {}
    key, expect_key, end = None, True, None
    for match in _TOKENS.finditer(text, start):
        token = match.group()
        depth = len(stack)
        if token in "[{":
            stack.append(token)
        elif token in "]}":
            if not stack or stack.pop() != _CLOSING[token]:
                raise invalid_argument(f"JSON Parse error: Invalid value. at offset: {match.start()}")
            if not stack:
                if key is not None:
                    spans[key].append(match.start())
                end = match.end()
                break
        elif depth == 1 and token == ",":
            if key is not None:
                spans[key].append(match.start())
            key, expect_key = None, True
        elif depth == 1 and token == ":":
            expect_key = False
        elif depth == 1 and expect_key and token.startswith('"'):
            key = json.loads(token)
            spans[key] = [text.index(":", match.end()) + 1]
    if end is None:
        raise invalid_argument("JSON Parse error: Missing a comma or '}' after an object member.")
    doc = {}
    for name, (begin, *rest) in spans.items():
        if name in READ_KEYS and rest:
            try:
                doc[name] = json.loads(text[begin : rest[0]])
            except RecursionError:
                raise invalid_argument("JSON Parse error: Document nested too deeply.") from None
            except json.JSONDecodeError as e:
                raise invalid_argument(
                    f"JSON Parse error: {_PARSE_MESSAGES.get(e.msg, e.msg + '.')} at offset: {begin + e.pos}"
                ) from None
        else:
            doc[name] = None  # present, not read
    return doc


def _fast_parse(body: bytes) -> dict | None:
    """orjson when it accepts the document as is (no NaN/Infinity, no trailing data, shallow, 64-bit ints)."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return doc if isinstance(doc, dict) else None


def debug_string(value: Any) -> str:
    try:
        text = json.dumps(value, separators=(", ", ": "), allow_nan=True)
    except (RecursionError, ValueError):
        text = "..."
    return text[:DEBUG_LIMIT]


def json_type(value: Any) -> str:
    if value is None:
        return "Null"
    if value is True:
        return "True"
    if value is False:
        return "False"
    if isinstance(value, dict):
        return "Object"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, str):
        return "String"
    return "Number"


def signature_name(doc: Mapping[str, Any]) -> str:
    name = doc.get("signature_name", "")
    if not isinstance(name, str):
        raise invalid_argument(
            f"JSON Value: {debug_string(doc)} not formatted correctly. 'signature_name' key must be a string value."
        )
    return name
