"""Status and metadata answers as the official REST handler writes them: protobuf's MessageToJsonString with
add_whitespace (http_rest_api_util.cc's ToJsonString).

protobuf's layout: one space of indent per level, `"key": value`, fields in field-number order, an empty
list or object as `[]`/`{}`, a newline after the message; strings escaped as protobuf escapes them (`"`, `\\`,
control characters, `<`, `>` and a few invisible code points, as lowercase \\u escapes; all else as UTF-8).
The metadata answer is stitched together from two messages, with the official handler's odd line breaks.
"""

from __future__ import annotations

import json
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

from protocol.generated.tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2
from protocol.methods import SIGNATURE_DEF_FIELD

_ESCAPED = [0x3C, 0x3E, 0xAD, 0x6DD, 0x70F, 0x17B4, 0x17B5, 0xFEFF, 0xFFF9, 0xFFFA, 0xFFFB, 0xE0001]
_ESCAPED_RANGES = [
    (0x7F, 0x9F),
    (0x600, 0x603),
    (0x200B, 0x200F),
    (0x2028, 0x202E),
    (0x2060, 0x2064),
    (0x206A, 0x206F),
    (0x1D173, 0x1D17A),
    (0xE0020, 0xE007F),
]


def _u_escape(code: int) -> str:
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


# On top of what json.dumps(ensure_ascii=False) escapes (quotes, backslash, control characters, the same way).
_EXTRA_ESCAPES = {code: _u_escape(code) for code in _ESCAPED} | {
    code: _u_escape(code) for low, high in _ESCAPED_RANGES for code in range(low, high + 1)
}


def _ordered(message: Message, value: Any) -> Any:
    """MessageToDict's dict with each message's fields in field-number order, as the C++ printer has them."""
    if not isinstance(value, dict) or message.DESCRIPTOR.full_name.startswith("google.protobuf."):
        return value
    ordered = {}
    for field in sorted(message.DESCRIPTOR.fields, key=lambda f: f.number):
        if field.name not in value:
            continue
        item = value[field.name]
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            entry = field.message_type.fields_by_name["value"]
            if entry.message_type is not None:
                entries = getattr(message, field.name)
                item = {k: _ordered(entries[_key(k, field)], v) for k, v in item.items()}
        elif field.message_type is not None and field.is_repeated:
            item = [_ordered(m, v) for m, v in zip(getattr(message, field.name), item, strict=True)]
        elif field.message_type is not None:
            item = _ordered(getattr(message, field.name), item)
        ordered[field.name] = item
    return ordered


def _key(text: str, field: Any) -> Any:
    """A map key as MessageToDict wrote it, back in the key's type."""
    key_type = field.message_type.fields_by_name["key"]
    return text if key_type.type == key_type.TYPE_STRING else json.loads(text)


def _dumps(message: Message) -> str:
    opts = dict(always_print_fields_with_no_presence=True, preserving_proto_field_name=True)
    value = _ordered(message, json_format.MessageToDict(message, **opts))
    return json.dumps(value, indent=1, ensure_ascii=False).translate(_EXTRA_ESCAPES) + "\n"


def status_json(response: get_model_status_pb2.GetModelStatusResponse) -> bytes:
    return _dumps(response).encode()


def metadata_json(response: get_model_metadata_pb2.GetModelMetadataResponse) -> bytes:
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    response.metadata[SIGNATURE_DEF_FIELD].Unpack(signature_map)
    model_spec, signature_defs = _dumps(response.model_spec), _dumps(signature_map)
    return ('{\n"model_spec":' + model_spec + ',\n"metadata": {"signature_def": ' + signature_defs + "}\n}\n").encode()
