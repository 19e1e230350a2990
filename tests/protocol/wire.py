"""Wire-identity checks shared by the TF Serving and the Open Inference Protocol tests: two descriptors of
one message compared field by field, and a message with every field set, to send through both."""

from __future__ import annotations

from collections.abc import Mapping

from google.protobuf import descriptor

Skip = Mapping[str, set[str]]  # fields left out, by message full name
NOTHING: Skip = {}


def message_types(container) -> list[descriptor.Descriptor]:
    found = []
    for m in (
        container.message_types_by_name.values()
        if hasattr(container, "message_types_by_name")
        else container.nested_types
    ):
        if not m.GetOptions().map_entry:
            found += [m, *message_types(m)]
    return found


def field_table(d: descriptor.Descriptor, skip: set[str] = frozenset()) -> dict:
    def kind(f):
        target = f.message_type or f.enum_type
        return (
            f.number,
            f.type,
            f.is_repeated,
            target.full_name if target else None,
            f.containing_oneof.name if f.containing_oneof else None,
        )

    return {f.name: kind(f) for f in d.fields if f.name not in skip}


def is_synthetic(oneof) -> bool:  # the hidden oneof of a proto3 `optional` field
    return len(oneof.fields) == 1 and oneof.name == "_" + oneof.fields[0].name


def scalar(f: descriptor.FieldDescriptor, i: int):
    t = descriptor.FieldDescriptor
    if f.type == t.TYPE_ENUM:
        return f.enum_type.values[-1].number
    if f.type in (t.TYPE_INT32, t.TYPE_SINT32, t.TYPE_SFIXED32):
        return -(f.number * 7 + i)
    if f.type in (t.TYPE_INT64, t.TYPE_SINT64, t.TYPE_SFIXED64):
        return -(f.number * 10**12 + i)
    if f.type in (t.TYPE_UINT32, t.TYPE_FIXED32):
        return 4_000_000_000 - f.number - i
    if f.type in (t.TYPE_UINT64, t.TYPE_FIXED64):
        return 2**64 - 1 - f.number - i
    if f.type == t.TYPE_FLOAT:
        return 1.5 + f.number + i
    if f.type == t.TYPE_DOUBLE:
        return 0.1 * f.number + i
    if f.type == t.TYPE_BOOL:
        return True
    if f.type == t.TYPE_STRING:
        return f"{f.name}-{i}-é"
    if f.type == t.TYPE_BYTES:
        return bytes([0, 255, f.number % 256, i])
    raise AssertionError(f"unhandled field type {f.type} of {f.full_name}")


def fill(message, choose: dict[str, str] | None = None, depth: int = 0, skip: Skip = NOTHING) -> None:
    """Set every field (two elements for repeated and map fields), recursing three messages deep.

    In each real oneof only one member can be set: the one `choose` names, else the first.
    """
    d = message.DESCRIPTOR
    if d.full_name == "google.protobuf.Any":
        message.type_url = "type.googleapis.com/tensorflow.serving.ModelSpec"
        message.value = b"\n\x03abc"
        return
    for f in d.fields:
        if f.name in skip.get(d.full_name, ()):
            continue
        oneof = f.containing_oneof
        if oneof is not None and not is_synthetic(oneof):
            if f.name != (choose or {}).get(oneof.full_name, oneof.fields[0].name):
                continue
        if f.message_type is not None and f.message_type.GetOptions().map_entry:
            key_f, value_f = f.message_type.fields_by_name["key"], f.message_type.fields_by_name["value"]
            container = getattr(message, f.name)
            for i in range(2):
                key = scalar(key_f, i)
                if value_f.message_type is not None:
                    if depth < 3:
                        fill(container[key], depth=depth + 1, skip=skip)
                else:
                    container[key] = scalar(value_f, i)
        elif f.message_type is not None:
            if depth >= 3:
                continue
            if f.is_repeated:
                for _ in range(2):
                    fill(getattr(message, f.name).add(), depth=depth + 1, skip=skip)
            else:
                fill(getattr(message, f.name), depth=depth + 1, skip=skip)
                getattr(message, f.name).SetInParent()
        elif f.is_repeated:
            getattr(message, f.name).extend(scalar(f, i) for i in range(2))
        else:
            setattr(message, f.name, scalar(f, 0))


def variants(d: descriptor.Descriptor, skip: Skip = NOTHING) -> list[dict[str, str]]:
    """One choice of oneof members per variant, so that every member of every oneof is set once."""
    found = [{}]
    for oneof in d.oneofs:
        if not is_synthetic(oneof):
            found += [{oneof.full_name: f.name} for f in oneof.fields[1:] if f.name not in skip.get(d.full_name, ())]
    return found
