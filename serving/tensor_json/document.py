"""The request body as a JSON document, read as json_tensor.cc's ParseJson reads it: rapidjson over an
EncodedInputStream with kParseIterativeFlag | kParseNanAndInfFlag | kParseStopWhenDoneFlag. So:
- a UTF-8 byte order mark is skipped;
- the first JSON value is the document and whatever follows it is ignored (kParseStopWhenDoneFlag);
- NaN, Infinity and -Infinity are numbers;
- strings are not checked for valid UTF-8: their bytes go into string tensors as they came;
- an integer past 64 bits is a double, a number past double's range a parse error;
- any depth parses (iterative parsing; see _parse_read_keys);
- only an object is a request. Errors are rapidjson's English messages with their offset.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

import orjson  # several times faster than json for large bodies; json stays the reference parser

from serving.errors import invalid_argument
from serving.tensor_json.writer import debug_string

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
_WHITESPACE = " \t\n\r"


class _NumberTooBig(ValueError):
    def __init__(self, literal: str):
        super().__init__(literal)
        self.literal = literal


def _double(literal: str) -> float:
    value = float(literal)
    if math.isinf(value):
        raise _NumberTooBig(literal)
    return value


def _integer(literal: str) -> int | float:
    """rapidjson keeps an integer that fits int64 or uint64 and reads any other as a double (so a literal
    too long for int(), over 4,300 digits, is never given to it)."""
    if len(literal) > 21:  # longer than any int64 or uint64
        return _double(literal)
    value = int(literal)
    return value if -(1 << 63) <= value < (1 << 64) else _double(literal)


_DECODER = json.JSONDecoder(parse_float=_double, parse_int=_integer)


def parse_document(body: bytes | bytearray) -> dict:
    """Parses a request body into a dict; the errors and the leniency of the official parser (module docstring).

    orjson reads the bytes as they are; only a body it refuses is decoded to text for the reference parser
    (a second copy of a large body is never made for a valid one)."""
    if not body:
        raise invalid_argument("JSON Parse error: The document is empty")
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        doc = _reference_parse(body)
    if not isinstance(doc, dict):
        raise invalid_argument(f"JSON Value: {debug_string(doc)} Is not object")
    return doc


def _bom_length(body: bytes | bytearray) -> int:
    """The bytes EncodedInputStream<UTF8> skips: 0xEF, 0xBB, 0xBF, each only if the one before it was there."""
    length = 0
    for byte in b"\xef\xbb\xbf":
        if length < len(body) and body[length] == byte:
            length += 1
    return length


def _reference_parse(body: bytes | bytearray) -> Any:
    skip = _bom_length(body)
    text = bytes(body[skip:]).decode("utf-8", "surrogateescape")  # bytes that are not UTF-8 pass through strings
    start = len(text) - len(text.lstrip(_WHITESPACE))
    if start == len(text):
        raise invalid_argument(f"JSON Parse error: The document is empty. at offset: {len(body)}")
    try:
        doc, _ = _DECODER.raw_decode(text, start)
    except json.JSONDecodeError as e:
        message, at = _PARSE_MESSAGES.get(e.msg, e.msg + "."), skip + _offset(text, e.pos)
        raise invalid_argument(f"JSON Parse error: {message} at offset: {at}") from None
    except _NumberTooBig as e:
        at = skip + _offset(text, max(text.find(e.literal, start), 0))
        raise invalid_argument(f"JSON Parse error: Number too big to be stored in double. at offset: {at}") from None
    except RecursionError:
        doc = _parse_read_keys(text, start)
    return doc


def _offset(text: str, position: int) -> int:
    """A position in the decoded text as an offset in its bytes, as rapidjson counts."""
    return len(text[:position].encode("utf-8", "surrogateescape"))


READ_KEYS = ("signature_name", "instances", "inputs", "context", "examples")  # what the REST API reads
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{},:]')
_CLOSING = {"]": "[", "}": "{"}


def _parse_read_keys(text: str, start: int) -> dict:
    """A document too deep for the parser: rapidjson parses any depth, so the top-level keys the API reads
    are parsed alone and the values of the others skipped once their brackets and strings are seen to balance
    (their scalars are not checked: the one place this codec is more lenient). A `signature_name` nested too
    deeply is "not a string", as officially; any other read key nested too deeply is refused here (officially
    a tensor that deep fails later, on its rank)."""
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
                raise invalid_argument(f"JSON Parse error: Invalid value. at offset: {_offset(text, match.start())}")
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
                doc[name] = _DECODER.decode(text[begin : rest[0]])
            except RecursionError:
                if name != "signature_name":
                    raise invalid_argument("JSON Parse error: Document nested too deeply.") from None
                doc[name] = [[]]  # deep lists: signature_name() refuses it as a non-string
            except json.JSONDecodeError as e:
                message, at = _PARSE_MESSAGES.get(e.msg, e.msg + "."), _offset(text, begin + e.pos)
                raise invalid_argument(f"JSON Parse error: {message} at offset: {at}") from None
        else:
            doc[name] = None  # present, not read
    return doc


def text_bytes(value: str) -> bytes:
    """A JSON string's bytes as the official server stores them (not UTF-8 checked, so they come back as sent)."""
    try:
        return value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate from a \\u escape: UTF-8 encoded as it is, like rapidjson
        return value.encode("utf-8", "surrogatepass")


def json_type(value: Any) -> str:
    """JsonTypeString."""
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
