"""Image sizes read from encoded headers in the graph, for every format decode_image accepts."""

import io
import struct

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from export.signatures.image_header import GIF_MAX_STEPS, JPEG_MAX_STEPS, UNSUPPORTED, header_size
from tests.fixtures.pictures import png_bomb, sample_picture

# As the serving signatures run it: traced without autograph, one scalar string.
read_size = tf.function(header_size, input_signature=[tf.TensorSpec([], tf.string)], autograph=False)


def size_of(data: bytes) -> tuple[int, int, int]:
    return tuple(int(v) for v in read_size(tf.constant(data)))


def encoded(fmt: str, height: int, width: int, mode: str = "RGB", **options) -> bytes:
    buffer = io.BytesIO()
    pixels = np.random.default_rng(0).integers(0, 256, (height, width, len(mode)), dtype=np.uint8)
    Image.fromarray(pixels.squeeze(-1) if mode == "L" else pixels, mode).save(buffer, format=fmt, **options)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "fmt, options",
    [
        ("JPEG", {}),
        ("JPEG", {"progressive": True}),
        ("JPEG", {"quality": 20, "subsampling": 2}),
        ("PNG", {}),
        ("GIF", {}),
        ("BMP", {}),
        ("WEBP", {}),
        ("WEBP", {"lossless": True}),
    ],
)
def test_sizes_of_real_encodings_match_the_decoder(fmt, options):
    data = encoded(fmt, 37, 53, **options)
    decoded = tf.io.decode_image(data, channels=3, expand_animations=False)
    assert decoded.shape[:2] == (37, 53)
    assert size_of(data) == (37, 53, 37 * 53)


def test_webp_with_alpha_uses_the_extended_canvas():
    data = encoded("WEBP", 21, 34, mode="RGBA")
    assert data[12:16] == b"VP8X"
    assert size_of(data) == (21, 34, 21 * 34)


def test_real_photos():
    assert size_of(sample_picture("china.jpg")) == (427, 640, 427 * 640)
    assert size_of(sample_picture("flower.jpg")) == (427, 640, 427 * 640)


def jpeg_header(*segments: bytes, sof: int = 0xC0, height: int = 20, width: int = 30) -> bytes:
    frame = struct.pack(">BHHB", 8, height, width, 3) + b"\x01\x11\x00\x02\x11\x01\x03\x11\x01"
    return b"\xff\xd8" + b"".join(segments) + bytes([0xFF, sof]) + struct.pack(">H", 2 + len(frame)) + frame


@pytest.mark.parametrize("sof", [0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF])
def test_every_start_of_frame_variant_is_read(sof):
    assert size_of(jpeg_header(sof=sof, height=3000, width=4000)) == (3000, 4000, 12_000_000)


def test_jpeg_walks_segments_and_ignores_frames_inside_them():
    """An EXIF thumbnail (a whole JPEG inside APP1) and DHT (0xC4, not a frame) come before the real SOF."""
    thumbnail = jpeg_header(height=9999, width=9999)
    app1 = b"\xff\xe1" + struct.pack(">H", 2 + 6 + len(thumbnail)) + b"Exif\0\0" + thumbnail
    dht = b"\xff\xc4" + struct.pack(">H", 2 + 17) + bytes(17)
    fill_and_restart = b"\xff\xff\xff" + b"\xff\xd0"  # fill bytes, a standalone marker
    assert size_of(jpeg_header(app1, dht, fill_and_restart)) == (20, 30, 600)


def test_jpeg_without_a_frame_header_in_reach_is_unsupported():
    assert size_of(b"\xff\xd8\xff\xda\x00\x02")[2] == UNSUPPORTED  # scan before any frame
    assert size_of(b"\xff\xd8" + b"\x00" * (JPEG_MAX_STEPS + 10) + jpeg_header()[2:])[2] == UNSUPPORTED
    assert size_of(sample_picture()[:100])[2] == UNSUPPORTED  # truncated before its SOF


def gif(screen: tuple[int, int], frames: list[tuple[int, int]]) -> bytes:
    data = b"GIF89a" + struct.pack("<HHBBB", *screen, 0, 0, 0)
    for width, height in frames:
        data += b"\x21\xf9\x04\x00\x00\x00\x00\x00"  # graphic control extension
        data += b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x08" + b"\x02\x4c\x01" + b"\x00"
    return data + b"\x3b"


def test_gif_counts_every_frame_giflib_would_hold():
    assert size_of(gif((10, 20), [(10, 20)])) == (20, 10, 200)
    assert size_of(gif((1, 1), [(5000, 5000)]))[2] == 25_000_000  # a tiny screen does not hide a big frame
    assert size_of(gif((100, 100), [(100, 100)] * 50))[2] == 500_000
    many = b"GIF89a" + struct.pack("<HHBBB", 10, 10, 0, 0, 0) + b"\x2c" + struct.pack("<HHHHB", 0, 0, 10, 10, 0)
    many += b"\x08" + b"\x01\x00" * (GIF_MAX_STEPS + 1) + b"\x00\x3b"
    assert size_of(many)[2] == UNSUPPORTED  # too many blocks to walk: refused, not walked for seconds


def test_bmp_top_down_rows_have_a_positive_height():
    data = bytearray(encoded("BMP", 7, 9))
    data[22:26] = struct.pack("<i", -7)
    assert size_of(bytes(data)) == (7, 9, 63)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"GIF",
        b"hello world",
        b"RIFF1234",
        b"RIFF\0\0\0\0WEBPVP8Z" + bytes(20),
        b"\xff\x0a" + bytes(40),
        b"\0\0\0\x0cJXL \r\n\x87\n" + bytes(40),
    ],
)
def test_other_data_and_jpeg_xl_are_unsupported(data):
    assert size_of(data)[2] == UNSUPPORTED


def test_the_png_bomb_declares_400_megapixels_in_48_kb():
    bomb = png_bomb()
    assert len(bomb) < 50_000
    assert size_of(bomb) == (20000, 20000, 400_000_000)
