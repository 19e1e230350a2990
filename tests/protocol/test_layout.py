"""Version directory names, read as the official file-system source reads them (absl::SimpleAtoi)."""

from __future__ import annotations

import pytest

from protocol.layout import parse_version
from protocol.numbers import simple_atoi


@pytest.mark.parametrize(
    "name, version",
    [
        ("1", 1),
        ("0001", 1),
        ("0", 0),
        (" 7", 7),
        ("7\n", 7),
        ("+8", 8),
        ("-3", -3),
        ("9223372036854775807", (1 << 63) - 1),
    ],
)
def test_names_that_are_versions(name, version):
    assert parse_version(name) == version


@pytest.mark.parametrize(
    "name",
    [
        "²",
        "1²",
        "١٢",
        "１",
        "v1",
        "1.0",
        "1e3",
        "0x10",
        "1 2",
        "",
        " ",
        "+",
        "-",
        "--1",
        "9223372036854775808",
        "model.pb",
        ".export-1-abc",
    ],
)
def test_names_that_are_not_versions(name):
    assert parse_version(name) is None  # "²".isdigit() is True, int("²") raises: neither may matter


def test_int32_bounds_for_channel_argument_values():
    assert simple_atoi("2147483647", 32) == 2147483647 and simple_atoi("-2147483648", 32) == -2147483648
    assert simple_atoi("2147483648", 32) is None
