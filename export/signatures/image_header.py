"""The size of an encoded image, read from its header in the graph, before anything is decoded.

A 48 KB PNG may declare 20000×20000 pixels; decoding it allocates 1.2 GB and the resize after it
several more. The serving signatures therefore read width and height from the header with plain
TensorFlow string ops (so the check runs inside the official ``tensorflow/serving`` too) and refuse
an image over the pixel limit before ``decode_image`` runs.

``header_pixels`` recognises exactly the formats ``tf.io.decode_image`` would decode, in the order
it classifies them, and reads:

- JPEG: the first start-of-frame marker (baseline, extended, progressive, lossless, arithmetic:
  SOF0–3, 5–7, 9–11, 13–15), walking the marker segments after SOI as libjpeg does (fill bytes and
  stray bytes skipped); at most ``JPEG_MAX_STEPS`` steps, after which the header is refused.
- PNG: the IHDR chunk. BMP: the DIB header (|height|, rows may be top-down).
- GIF: the logical screen and every frame descriptor. giflib reads all frames into memory before
  TensorFlow keeps the first, so the cost is the larger of the screen and the sum of the frames.
- WebP: the VP8X canvas, or the VP8 / VP8L frame size.

Anything else (JPEG XL included, whose header is bit-packed) is reported as unsupported.
"""

from __future__ import annotations

import tensorflow as tf

UNSUPPORTED = -1  # header_pixels of data in no supported format, or with an unreadable header
JPEG_MAX_STEPS = 4096  # marker segments, fill and stray bytes walked before SOF: real files need < 50
GIF_MAX_STEPS = 1 << 14  # blocks and data sub-blocks (≤ 255 bytes each) walked: GIFs up to about 4 MB

_JPEG_SOF = (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF)
_JPEG_STANDALONE = (0x01, 0xD0, 0xD1, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7)


def _read(data: tf.Tensor, size: tf.Tensor, pos: tf.Tensor, count: int) -> tf.Tensor:
    """``count`` bytes of ``data`` from ``pos`` as int64, zeros past the end (never an out-of-range error)."""
    pos = tf.clip_by_value(tf.cast(pos, tf.int64), 0, size)
    chunk = tf.strings.substr(data, pos, count)
    padded = tf.strings.join([chunk, tf.constant(b"\0" * count)])
    return tf.cast(tf.reshape(tf.io.decode_raw(tf.strings.substr(padded, 0, count), tf.uint8), [count]), tf.int64)


def _big_endian(b: tf.Tensor) -> tf.Tensor:
    value = tf.constant(0, tf.int64)
    for i in range(b.shape[0]):
        value = value * 256 + b[i]
    return value


def _little_endian(b: tf.Tensor) -> tf.Tensor:
    value = tf.constant(0, tf.int64)
    for i in reversed(range(b.shape[0])):
        value = value * 256 + b[i]
    return value


def _starts_with(data: tf.Tensor, size: tf.Tensor, magic: bytes, offset: int = 0) -> tf.Tensor:
    return tf.equal(tf.strings.substr(data, tf.minimum(tf.constant(offset, tf.int64), size), len(magic)), magic)


def _png(data, size):
    width = _big_endian(_read(data, size, 16, 4))
    height = _big_endian(_read(data, size, 20, 4))
    return height, width, height * width


def _bmp(data, size):
    width = _little_endian(_read(data, size, 18, 4))
    height = _little_endian(_read(data, size, 22, 4))
    height = tf.abs(tf.where(height >= 2**31, height - 2**32, height))  # negative: top-down rows
    width = tf.where(width >= 2**31, width - 2**32, width)
    return height, width, height * tf.abs(width)


def _webp(data, size):
    chunk = tf.strings.substr(data, 12, 4)
    vp8 = _read(data, size, 26, 4)  # lossy: 14-bit width and height after the 3-byte tag and start code
    vp8_width, vp8_height = _little_endian(vp8[:2]) % 16384, _little_endian(vp8[2:]) % 16384
    bits = _little_endian(_read(data, size, 21, 4))  # lossless: 14-bit width-1, height-1 after 0x2f
    vp8l_width, vp8l_height = bits % 16384 + 1, (bits // 16384) % 16384 + 1
    canvas = _read(data, size, 24, 6)  # extended: 24-bit canvas width-1, height-1
    vp8x_width, vp8x_height = _little_endian(canvas[:3]) + 1, _little_endian(canvas[3:]) + 1
    width = tf.case(
        [
            (tf.equal(chunk, b"VP8 "), lambda: vp8_width),
            (tf.equal(chunk, b"VP8L"), lambda: vp8l_width),
            (tf.equal(chunk, b"VP8X"), lambda: vp8x_width),
        ],
        default=lambda: tf.constant(-1, tf.int64),
    )
    height = tf.case(
        [
            (tf.equal(chunk, b"VP8 "), lambda: vp8_height),
            (tf.equal(chunk, b"VP8L"), lambda: vp8l_height),
            (tf.equal(chunk, b"VP8X"), lambda: vp8x_height),
        ],
        default=lambda: tf.constant(-1, tf.int64),
    )
    return height, width, tf.where(width < 0, tf.constant(UNSUPPORTED, tf.int64), height * width)


def _jpeg(data, size):
    """Walk the markers after SOI up to the first SOF; (-1, -1, UNSUPPORTED) if none is found in time."""
    sof = tf.constant(_JPEG_SOF, tf.int64)
    standalone = tf.constant(_JPEG_STANDALONE, tf.int64)

    def step(i, pos, height, width):
        b = _read(data, size, pos, 9)
        is_marker = tf.logical_and(tf.equal(b[0], 0xFF), tf.logical_and(b[1] != 0xFF, b[1] != 0))
        is_sof = tf.logical_and(is_marker, tf.reduce_any(tf.equal(b[1], sof)))
        skip_two = tf.logical_and(is_marker, tf.reduce_any(tf.equal(b[1], standalone)))
        segment = 2 + _big_endian(b[2:4])
        # Not at a marker: a fill byte (FF FF), or stray data libjpeg skips byte by byte.
        advance = tf.where(is_marker, tf.where(skip_two, tf.constant(2, tf.int64), segment), 1)
        found_height = tf.where(is_sof, _big_endian(b[5:7]), height)
        found_width = tf.where(is_sof, _big_endian(b[7:9]), width)
        # SOS or EOI before any SOF: no frame header; stop with nothing found.
        stop = tf.logical_and(is_marker, tf.logical_or(tf.equal(b[1], 0xDA), tf.equal(b[1], 0xD9)))
        next_pos = tf.where(tf.logical_or(is_sof, stop), size, pos + advance)
        return i + 1, next_pos, found_height, found_width

    def more(i, pos, height, width):
        return tf.logical_and(i < JPEG_MAX_STEPS, tf.logical_and(pos < size, height < 0))

    minus_one = tf.constant(-1, tf.int64)
    _, _, height, width = tf.while_loop(more, step, (tf.constant(0), tf.constant(2, tf.int64), minus_one, minus_one))
    return height, width, tf.where(height < 0, tf.constant(UNSUPPORTED, tf.int64), height * width)


def _gif(data, size):
    """Screen size, and the larger of screen and summed frame areas (giflib slurps every frame)."""
    screen = _read(data, size, 6, 5)
    width, height = _little_endian(screen[0:2]), _little_endian(screen[2:4])
    flags = screen[4]
    color_table = tf.where(flags >= 128, 3 * tf.bitwise.left_shift(tf.constant(2, tf.int64), flags % 8), 0)

    def step(i, pos, in_blocks, frames):
        b = _read(data, size, pos, 10)
        # In data sub-blocks: a length byte then that many bytes; a zero length ends the block.
        sub_next = pos + 1 + b[0]
        # At a block: 0x21 extension (label, then sub-blocks), 0x2C image descriptor (then an optional
        # local color table, the LZW code size and sub-blocks), 0x3B trailer, anything else malformed.
        is_image = tf.equal(b[0], 0x2C)
        local_table = tf.where(b[9] >= 128, 3 * tf.bitwise.left_shift(tf.constant(2, tf.int64), b[9] % 8), 0)
        block_next = tf.where(is_image, pos + 10 + local_table + 1, pos + 2)
        area = tf.where(is_image, _little_endian(b[5:7]) * _little_endian(b[7:9]), 0)
        ends = tf.logical_not(tf.logical_or(is_image, tf.equal(b[0], 0x21)))
        return (
            i + 1,
            tf.where(in_blocks, sub_next, tf.where(ends, size, block_next)),
            tf.where(in_blocks, b[0] != 0, tf.logical_not(ends)),
            frames + tf.where(in_blocks, tf.constant(0, tf.int64), area),
        )

    def more(i, pos, in_blocks, frames):
        return tf.logical_and(i < GIF_MAX_STEPS, pos < size)

    steps, _, _, frames = tf.while_loop(
        more, step, (tf.constant(0), 13 + color_table, tf.constant(False), tf.constant(0, tf.int64))
    )
    pixels = tf.maximum(width * height, frames)
    return height, width, tf.where(steps >= GIF_MAX_STEPS, tf.constant(UNSUPPORTED, tf.int64), pixels)


def header_size(encoded: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """(height, width, pixels) of one encoded image as int64 scalars, read from its header only.

    ``pixels`` is what decoding would allocate in pixels (for GIF, all frames), or ``UNSUPPORTED``
    for data in no supported format or with a header that cannot be read.
    """
    data = tf.convert_to_tensor(encoded, tf.string)
    size = tf.cast(tf.strings.length(data), tf.int64)
    index = tf.case(
        [
            (_starts_with(data, size, b"\xff\xd8\xff"), lambda: tf.constant(0)),
            (_starts_with(data, size, b"\x89PNG\r\n\x1a\n"), lambda: tf.constant(1)),
            (_starts_with(data, size, b"GIF8"), lambda: tf.constant(2)),
            (_starts_with(data, size, b"BM"), lambda: tf.constant(3)),
            (
                tf.logical_and(
                    _starts_with(data, size, b"RIFF"), tf.logical_and(size > 12, _starts_with(data, size, b"WEBP", 8))
                ),
                lambda: tf.constant(4),
            ),
        ],
        default=lambda: tf.constant(5),
        exclusive=False,
    )
    unsupported = tf.constant(-1, tf.int64), tf.constant(-1, tf.int64), tf.constant(UNSUPPORTED, tf.int64)
    return tf.switch_case(
        index,
        [
            lambda: _jpeg(data, size),
            lambda: _png(data, size),
            lambda: _gif(data, size),
            lambda: _bmp(data, size),
            lambda: _webp(data, size),
            lambda: unsupported,
        ],
    )
