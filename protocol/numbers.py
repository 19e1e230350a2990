"""Integers read the way the official server reads them (absl::SimpleAtoi): version directory names
and `--grpc_channel_arguments` values."""

from __future__ import annotations

_ASCII_SPACE = " \t\n\v\f\r"
_DIGITS = frozenset("0123456789")


def simple_atoi(text: str, bits: int = 64) -> int | None:
    """The signed `bits`-bit integer `text` spells, or None.

    ASCII whitespace around it is ignored and one leading `+` or `-` is allowed; then only ASCII
    digits (so not `1.0`, `0x10`, `1e3`, nor `²` or `١`, which str.isdigit() accepts).
    """
    stripped = text.strip(_ASCII_SPACE)
    digits = stripped[1:] if stripped[:1] in ("+", "-") else stripped
    if not digits or not _DIGITS.issuperset(digits):
        return None
    number = int(stripped)
    limit = 1 << (bits - 1)
    return number if -limit <= number < limit else None
