"""TFRecord framing without TensorFlow; the replay test (test_request_logs.py) has TensorFlow read it."""

from __future__ import annotations

import io

import pytest

from serving.logs import tfrecord

# One record holding b"hello", as tf.io.TFRecordWriter writes it (length, masked CRC-32C of it, data, its CRC).
HELLO = bytes.fromhex("0500000000000000eab2043e") + b"hello" + bytes.fromhex("bb1f1c19")


def test_frames_as_tensorflow_does():
    assert tfrecord.frame(b"hello") == HELLO
    assert list(tfrecord.read_records(io.BytesIO(HELLO))) == [b"hello"]


def test_round_trip_of_many_records():
    data = [b"", b"x" * 70_000, bytes(range(256))]
    stream = io.BytesIO(b"".join(tfrecord.frame(d) for d in data))
    assert list(tfrecord.read_records(stream)) == data


def test_a_truncated_or_corrupt_file_is_reported_not_misread():
    framed = tfrecord.frame(b"first") + tfrecord.frame(b"second")
    records = tfrecord.read_records(io.BytesIO(framed[:-3]))
    assert next(records) == b"first"
    with pytest.raises(tfrecord.TruncatedRecord):
        next(records)
    corrupt = bytearray(framed)
    corrupt[14] ^= 1  # a byte of the first record's data
    with pytest.raises(tfrecord.CorruptRecord):
        list(tfrecord.read_records(io.BytesIO(bytes(corrupt))))
    with pytest.raises(tfrecord.CorruptRecord, match="more than"):
        list(tfrecord.read_records(io.BytesIO(framed), max_record_bytes=3))
