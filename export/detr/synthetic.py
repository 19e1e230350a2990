"""Synthetic detection scenes with known boxes, written as a COCO-format dataset.

Each image is a noisy background with 1..max_objects filled rectangles, ellipses or triangles in
random colours; the category is the shape. Boxes are exact (the shapes' pixel extents).
"""
import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

CATEGORIES = [{"id": 1, "name": "rectangle"}, {"id": 2, "name": "ellipse"}, {"id": 3, "name": "triangle"}]


def render_scene(rng: np.random.Generator, height: int, width: int, max_objects: int = 3,
                 min_fraction: float = 0.2, max_fraction: float = 0.5):
    """One RGB uint8 image and its objects as (category_id, [x, y, w, h]) in pixels."""
    background = rng.integers(0, 60, size=3)
    pixels = np.clip(background + rng.normal(0, 8, (height, width, 3)), 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels)
    draw = ImageDraw.Draw(image)
    objects = []
    for _ in range(int(rng.integers(1, max_objects + 1))):
        w = int(rng.uniform(min_fraction, max_fraction) * width)
        h = int(rng.uniform(min_fraction, max_fraction) * height)
        x, y = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
        category = int(rng.integers(1, len(CATEGORIES) + 1))
        colour = tuple(int(c) for c in rng.integers(120, 256, size=3))
        corners = (x, y, x + w - 1, y + h - 1)
        if category == 1:
            draw.rectangle(corners, fill=colour)
        elif category == 2:
            draw.ellipse(corners, fill=colour)
        else:
            draw.polygon([(x, y + h - 1), (x + w - 1, y + h - 1), (x + (w - 1) / 2, y)], fill=colour)
        objects.append((category, [float(x), float(y), float(w), float(h)]))
    return np.asarray(image), objects


def write_dataset(directory: str | Path, count: int, height: int = 64, width: int = 64, seed: int = 0,
                  max_objects: int = 3) -> Path:
    """Write `count` PNG scenes into `directory/images` and `directory/annotations.json`; returns the json."""
    directory = Path(directory)
    (directory / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    images, annotations = [], []
    for image_id in range(1, count + 1):
        pixels, objects = render_scene(rng, height, width, max_objects)
        file_name = f"{image_id:06d}.png"
        Image.fromarray(pixels).save(directory / "images" / file_name)
        images.append({"id": image_id, "file_name": file_name, "height": height, "width": width})
        for category, box in objects:
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": category,
                                "bbox": box, "area": box[2] * box[3], "iscrowd": 0})
    path = directory / "annotations.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": CATEGORIES}))
    return path


def sample_png(height: int = 96, width: int = 128, seed: int = 0) -> bytes:
    """One encoded synthetic scene (for export checks and warmup requests)."""
    import io

    pixels, _ = render_scene(np.random.default_rng(seed), height, width)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()
