"""Pictures of results: detection boxes with labels, panoptic segments coloured over the image, and a
grid of generated samples."""

from __future__ import annotations

import colorsys
import io
import math
from collections.abc import Mapping, Sequence
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from clients.results import Detection, ImageSource, Segment, read_image_bytes

_COLOURS = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45"]


def draw_detections(image: ImageSource, detections: Sequence[Detection]) -> Image.Image:
    """The image with one coloured box and a "label score" tag per detection."""
    picture = Image.open(io.BytesIO(read_image_bytes(image))).convert("RGB")
    canvas = ImageDraw.Draw(picture)
    font = ImageFont.load_default()
    width = max(2, round(min(picture.size) / 200))
    for i, det in enumerate(detections):
        colour = _COLOURS[i % len(_COLOURS)]
        x0, y0, x1, y1 = det.box
        canvas.rectangle([x0, y0, x1, y1], outline=colour, width=width)
        tag = f"{det.label} {det.score:.2f}"
        left, top, right, bottom = canvas.textbbox((x0, y0), tag, font=font)
        top_y = max(0.0, y0 - (bottom - top) - 2)
        canvas.rectangle([x0, top_y, x0 + (right - left) + 4, top_y + (bottom - top) + 2], fill=colour)
        canvas.text((x0 + 2, top_y), tag, fill="white", font=font)
    return picture


SEGMENT_ALPHA = 0.55  # weight of the segment colours over the image
MIN_LABELLED_FRACTION = 0.002  # segments smaller than this fraction of the image get no tag
# Instances of one thing category are told apart by these shifts of the category colour (as panopticapi
# jitters thing colours, but deterministic: the same response gives the same picture).
_INSTANCE_SHIFTS = [
    (0, 0, 0),
    (40, -30, 30),
    (-40, 30, -30),
    (30, 40, -40),
    (-30, -40, 40),
    (50, 10, -20),
    (-50, -10, 20),
    (10, -50, 50),
]


@lru_cache(maxsize=1)
def coco_panoptic_colors() -> dict[int, tuple[int, int, int]]:
    """Category id -> RGB colour of the COCO panoptic categories (panopticapi's, `protocol.panoptic`)."""
    from protocol.panoptic import coco_panoptic_categories

    return {c["id"]: tuple(c["color"]) for c in coco_panoptic_categories()}


def category_color(category_id: int, colors: Mapping[int, Sequence[int]] | None = None) -> tuple[int, int, int]:
    """The colour of a category: from `colors` (default the COCO panoptic table), else one derived from the id."""
    table = coco_panoptic_colors() if colors is None else colors
    if category_id in table:
        return tuple(int(c) for c in table[category_id])[:3]
    hue = (category_id * 0.618033988749895) % 1.0  # golden-ratio steps: neighbouring ids differ clearly
    return tuple(round(255 * c) for c in colorsys.hsv_to_rgb(hue, 0.65, 0.95))


def segment_colors(
    segments: Sequence[Segment], colors: Mapping[int, Sequence[int]] | None = None
) -> dict[int, tuple[int, int, int]]:
    """Segment id -> colour: its category's, shifted for the second and later instances of a thing category."""
    seen: dict[int, int] = {}
    result = {}
    for seg in segments:
        base = category_color(seg.category_id, colors)
        instance = seen.get(seg.category_id, 0)
        seen[seg.category_id] = instance + 1
        shift = _INSTANCE_SHIFTS[instance % len(_INSTANCE_SHIFTS)] if seg.isthing else (0, 0, 0)
        result[seg.id] = tuple(min(255, max(0, c + d)) for c, d in zip(base, shift))
    return result


def draw_segments(
    image: ImageSource,
    segment_map: np.ndarray,
    segments: Sequence[Segment],
    colors: Mapping[int, Sequence[int]] | None = None,
    labels: bool = True,
) -> Image.Image:
    """The image with each segment's pixels tinted in its colour, white borders between segments and a
    "name" tag (things: "name score") on each segment that is not tiny.

    `segment_map` is the segment id of every pixel (the image's height x width, -1 for none).
    """
    picture = Image.open(io.BytesIO(read_image_bytes(image))).convert("RGB")
    ids = np.asarray(segment_map)
    if ids.shape != (picture.height, picture.width):
        raise ValueError(f"segment map is {ids.shape[1]}x{ids.shape[0]} but the image {picture.width}x{picture.height}")
    if not segments:
        return picture
    palette = segment_colors(segments, colors)
    lookup = np.zeros((max(palette) + 2, 3), np.uint8)  # last row: pixels of no segment (id -1)
    for ident, colour in palette.items():
        lookup[ident] = colour
    known = np.isin(ids, list(palette))
    indices = np.where(known, ids, len(lookup) - 1)
    pixels = np.asarray(picture).astype(np.float32)
    tinted = (1 - SEGMENT_ALPHA) * pixels + SEGMENT_ALPHA * lookup[indices].astype(np.float32)
    pixels = np.where(known[..., None], tinted, pixels)
    border = np.zeros(ids.shape, bool)
    border[:, 1:] |= ids[:, 1:] != ids[:, :-1]
    border[1:, :] |= ids[1:, :] != ids[:-1, :]
    pixels[border] = 255
    picture = Image.fromarray(pixels.round().astype(np.uint8))
    if labels:
        _tag_segments(picture, ids, segments, palette)
    return picture


def _tag_segments(
    picture: Image.Image, ids: np.ndarray, segments: Sequence[Segment], palette: Mapping[int, tuple[int, int, int]]
) -> None:
    canvas = ImageDraw.Draw(picture)
    font = ImageFont.load_default()
    for seg in segments:
        if seg.area < MIN_LABELLED_FRACTION * ids.size:
            continue
        rows, cols = np.nonzero(ids == seg.id)
        if rows.size == 0:
            continue
        centre_y, centre_x = rows.mean(), cols.mean()
        nearest = int(np.argmin((rows - centre_y) ** 2 + (cols - centre_x) ** 2))  # a pixel of the segment itself
        tag = f"{seg.category_name} {seg.score:.2f}" if seg.isthing else seg.category_name
        left, top, right, bottom = canvas.textbbox((0, 0), tag, font=font)
        x = min(max(0, int(cols[nearest]) - (right - left) // 2), max(0, picture.width - (right - left) - 4))
        y = min(max(0, int(rows[nearest]) - (bottom - top) // 2), max(0, picture.height - (bottom - top) - 2))
        colour = palette[seg.id]
        text = "black" if 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2] > 150 else "white"
        canvas.rectangle([x, y, x + (right - left) + 4, y + (bottom - top) + 2], fill=colour)
        canvas.text((x + 2, y - top + 1), tag, fill=text, font=font)


def image_grid(images: Sequence[Image.Image], columns: int | None = None) -> Image.Image:
    """Tile same-size images row by row; `columns` defaults to a near-square layout."""
    if not images:
        raise ValueError("no images to tile")
    columns = columns or math.ceil(math.sqrt(len(images)))
    rows = math.ceil(len(images) / columns)
    width, height = images[0].size
    grid = Image.new("RGB", (columns * width, rows * height), "black")
    for i, image in enumerate(images):
        grid.paste(image.convert("RGB"), ((i % columns) * width, (i // columns) * height))
    return grid
