"""The TFRecord framing TensorFlow reads and writes (tf.io.TFRecordWriter, tf.data.TFRecordDataset), without
TensorFlow: each record is its length (uint64, little-endian), the masked CRC-32C of the length, the data, and
the masked CRC-32C of the data. The checksums come from google-crc32c (C, the object-storage SDKs' own).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import BinaryIO

import google_crc32c

_LENGTH = struct.Struct("<Q")
_CRC = struct.Struct("<I")
_MASK_DELTA = 0xA282EAD8
HEADER_BYTES = _LENGTH.size + _CRC.size
OVERHEAD_BYTES = HEADER_BYTES + _CRC.size  # framing bytes around each record


class CorruptRecord(ValueError):
    """A record whose length or data does not match its checksum."""


class TruncatedRecord(ValueError):
    """The file ends inside a record (it is being written, or its writer stopped mid-record)."""


def masked_crc(data: bytes) -> int:
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def frame(data: bytes) -> bytes:
    """One record, framed: what a TFRecord file holds for `data`."""
    length = _LENGTH.pack(len(data))
    return length + _CRC.pack(masked_crc(length)) + data + _CRC.pack(masked_crc(data))


def read_records(stream: BinaryIO, max_record_bytes: int = 1 << 31) -> Iterator[bytes]:
    """The records of a TFRecord stream, checked; CorruptRecord or TruncatedRecord where it goes wrong. A
    record longer than `max_record_bytes` is refused as corrupt before anything is allocated for it."""
    while True:
        header = stream.read(HEADER_BYTES)
        if not header:
            return
        if len(header) < HEADER_BYTES:
            raise TruncatedRecord("the file ends inside a record's header")
        length_bytes = header[: _LENGTH.size]
        if _CRC.unpack(header[_LENGTH.size :])[0] != masked_crc(length_bytes):
            raise CorruptRecord("a record's length does not match its checksum")
        (length,) = _LENGTH.unpack(length_bytes)
        if length > max_record_bytes:
            raise CorruptRecord(f"a record says it holds {length} bytes, more than {max_record_bytes}")
        data = stream.read(length)
        footer = stream.read(_CRC.size)
        if len(data) < length or len(footer) < _CRC.size:
            raise TruncatedRecord("the file ends inside a record")
        if _CRC.unpack(footer)[0] != masked_crc(data):
            raise CorruptRecord("a record's data does not match its checksum")
        yield data
