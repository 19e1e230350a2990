"""Synthetic scenes with known boxes and masks, written as COCO-format datasets.

Each image is a noisy background with 1..max_objects filled rectangles, ellipses or triangles in
random colours; the category is the shape. Boxes are exact (the shapes' pixel extents). The panoptic
variant also writes each shape's visible pixels (later shapes cover earlier ones) as a COCO panoptic
PNG (segment id = R + 256 G + 256^2 B, background 0 = unlabeled), the format DETR's panoptic
training reads.
"""

import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from export.detr.panoptic_png import id_to_rgb

CATEGORIES = [{"id": 1, "name": "rectangle"}, {"id": 2, "name": "ellipse"}, {"id": 3, "name": "triangle"}]


def synthetic_detr_config(hidden_dim: int = 64, num_heads: int = 4):
    """The small DETR that learns these scenes in seconds (the training tests and `python -m benchmarks
    training`): ResNet blocks 1-1-1-1 of width 16, one encoder and two decoder layers, 8 queries, no
    dropout, the three shapes and no-object. A mask head needs hidden_dim 128 and 8 heads."""
    from export.detr.networks.detr import DETRConfig

    return DETRConfig(
        blocks=(1, 1, 1, 1),
        backbone_width=16,
        hidden_dim=hidden_dim,
        num_heads=num_heads,
        num_encoder_layers=1,
        num_decoder_layers=2,
        dim_feedforward=128,
        num_queries=8,
        dropout=0.0,
        num_classes=len(CATEGORIES) + 1,
    )


def _draw(draw: ImageDraw.ImageDraw, category: int, x: int, y: int, w: int, h: int, fill) -> None:
    corners = (x, y, x + w - 1, y + h - 1)
    if category == 1:
        draw.rectangle(corners, fill=fill)
    elif category == 2:
        draw.ellipse(corners, fill=fill)
    else:
        draw.polygon([(x, y + h - 1), (x + w - 1, y + h - 1), (x + (w - 1) / 2, y)], fill=fill)


def render_scene_with_masks(
    rng: np.random.Generator,
    height: int,
    width: int,
    max_objects: int = 3,
    min_fraction: float = 0.2,
    max_fraction: float = 0.5,
):
    """One RGB uint8 image, its objects as (category_id, [x, y, w, h]) in pixels, and each object's
    visible pixels as bool [height, width] masks (a later shape covers an earlier one)."""
    background = rng.integers(0, 60, size=3)
    pixels = np.clip(background + rng.normal(0, 8, (height, width, 3)), 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels)
    owner = Image.new("L", (width, height), 0)  # index + 1 of the object that shows at each pixel
    draw, draw_owner = ImageDraw.Draw(image), ImageDraw.Draw(owner)
    objects = []
    for index in range(int(rng.integers(1, max_objects + 1))):
        w = int(rng.uniform(min_fraction, max_fraction) * width)
        h = int(rng.uniform(min_fraction, max_fraction) * height)
        x, y = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
        category = int(rng.integers(1, len(CATEGORIES) + 1))
        colour = tuple(int(c) for c in rng.integers(120, 256, size=3))
        _draw(draw, category, x, y, w, h, colour)
        _draw(draw_owner, category, x, y, w, h, index + 1)
        objects.append((category, [float(x), float(y), float(w), float(h)]))
    owner = np.asarray(owner)
    return np.asarray(image), objects, [owner == index + 1 for index in range(len(objects))]


def render_scene(
    rng: np.random.Generator,
    height: int,
    width: int,
    max_objects: int = 3,
    min_fraction: float = 0.2,
    max_fraction: float = 0.5,
):
    """One RGB uint8 image and its objects as (category_id, [x, y, w, h]) in pixels."""
    pixels, objects, _ = render_scene_with_masks(rng, height, width, max_objects, min_fraction, max_fraction)
    return pixels, objects


def write_dataset(
    directory: str | Path, count: int, height: int = 64, width: int = 64, seed: int = 0, max_objects: int = 3
) -> Path:
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
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": category,
                    "bbox": box,
                    "area": box[2] * box[3],
                    "iscrowd": 0,
                }
            )
    path = directory / "annotations.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": CATEGORIES}))
    return path


def write_panoptic_dataset(
    directory: str | Path, count: int, height: int = 64, width: int = 64, seed: int = 0, max_objects: int = 3
) -> Path:
    """Write `count` PNG scenes into `directory/images`, their segment maps into `directory/panoptic`
    and `directory/panoptic.json` (COCO panoptic: images, annotations with segments_info, categories);
    returns the json. Segments are the shapes' visible pixels (ids 1..n); a fully covered shape has none.
    """
    directory = Path(directory)
    for folder in ("images", "panoptic"):
        (directory / folder).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    images, annotations = [], []
    for image_id in range(1, count + 1):
        pixels, objects, masks = render_scene_with_masks(rng, height, width, max_objects)
        file_name = f"{image_id:06d}.png"
        Image.fromarray(pixels).save(directory / "images" / file_name)
        ids = np.zeros((height, width), np.int64)
        segments = []
        for (category, _), mask in zip(objects, masks):
            if not mask.any():
                continue
            segment_id = len(segments) + 1
            ids[mask] = segment_id
            rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
            segments.append(
                {
                    "id": segment_id,
                    "category_id": category,
                    "iscrowd": 0,
                    "area": int(mask.sum()),
                    "bbox": [int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)],
                }
            )
        Image.fromarray(id_to_rgb(ids).numpy()).save(directory / "panoptic" / file_name)
        images.append({"id": image_id, "file_name": file_name, "height": height, "width": width})
        annotations.append({"image_id": image_id, "file_name": file_name, "segments_info": segments})
    path = directory / "panoptic.json"
    categories = [{**category, "isthing": 1} for category in CATEGORIES]
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    return path
