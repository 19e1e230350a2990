"""Pictures of results: detection boxes with labels, and a grid of generated samples."""
from __future__ import annotations

import io
import math
from typing import Sequence

from PIL import Image, ImageDraw, ImageFont

from clients.models import Detection, ImageSource, read_image_bytes

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
