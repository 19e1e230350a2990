"""The binary data extension's framing: the JSON header, then each tensor's bytes in order."""

import pytest

from protocol.v2 import binary


def test_split_and_chunks():
    body = b'{"inputs":[]}' + b"abcdefg"
    length = binary.header_length("13", len(body))
    header, data = binary.split(body, length)
    assert bytes(header) == b'{"inputs":[]}'
    parts = binary.chunks([3, None, 0, 4], data)
    assert [None if p is None else bytes(p) for p in parts] == [b"abc", None, b"", b"defg"]


def test_no_header_length_means_all_json():
    header, data = binary.split(b"{}", binary.header_length(None, 2))
    assert bytes(header) == b"{}" and len(data) == 0
    assert binary.chunks([None, None], data) == [None, None]


@pytest.mark.parametrize("value", ["-1", "abc", "1.5", "", "99"])
def test_bad_header_length(value):
    with pytest.raises(ValueError, match="Inference-Header-Content-Length"):
        binary.header_length(value, 10)


@pytest.mark.parametrize(
    "sizes, message",
    [
        ([3], "declare 3 bytes .* 7 follow"),
        ([4, 4], "declare 8 bytes"),
        ([-1, 8], "non-negative"),
        ([True], "non-negative integer, got True"),
    ],
)
def test_sizes_must_cover_the_data_exactly(sizes, message):
    with pytest.raises(ValueError, match=message):
        binary.chunks(sizes, memoryview(b"abcdefg"))


def test_join():
    parts, length = binary.join(b"{}", [b"ab", memoryview(b"c")])
    assert b"".join(parts) == b"{}abc" and length == 2
    assert binary.join(b"{}", []) == ([b"{}"], None)
