"""What a panoptic segmentation response means, for the export that writes it and the clients that read it.

- The COCO panoptic PNG convention of the `panoptic_png` output (panopticapi's id2rgb / rgb2id): the
  segment id of a pixel is R + 256 G + 256^2 B. `id_to_channels` / `channels_to_id` hold the rule once;
  they work on numpy arrays and on TensorFlow tensors alike (the export's graph uses them too).
- The COCO panoptic categories (`coco_panoptic_categories.json`, panopticapi's table: 80 things and 53
  stuff, each with an id, a name, an `isthing` flag and the colour panopticapi draws it with). The
  export names its classes from it and the clients colour segments with it.

A custom category table has the same format: {"categories": [{"id", "name", "isthing", "color"}, ...]}
(the "categories" of a COCO panoptic annotation file; "color" is optional).
"""

from __future__ import annotations

import json
from importlib import resources
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

CATEGORIES_FILE = "coco_panoptic_categories.json"
ID_BASE = 256  # one 8-bit channel per digit of the segment id in base 256
MAX_SEGMENT_ID = ID_BASE**3 - 1


def id_to_channels(ids: Any) -> tuple[Any, Any, Any]:
    """Segment ids (integers in [0, 2^24)) -> their (R, G, B) channel values, same type as `ids`."""
    return ids % ID_BASE, ids // ID_BASE % ID_BASE, ids // (ID_BASE * ID_BASE) % ID_BASE


def channels_to_id(red: Any, green: Any, blue: Any) -> Any:
    """(R, G, B) channel values (wide integers, not uint8) -> segment ids."""
    return red + ID_BASE * green + ID_BASE * ID_BASE * blue


def id_to_rgb(ids: np.ndarray) -> np.ndarray:
    """Segment ids [...] -> uint8 [..., 3], the pixels of a COCO panoptic PNG."""
    return np.stack(id_to_channels(np.asarray(ids, np.int64)), axis=-1).astype(np.uint8)


def rgb_to_id(rgb: np.ndarray) -> np.ndarray:
    """uint8 [..., 3] (a decoded COCO panoptic PNG) -> segment ids int32 [...]."""
    rgb = np.asarray(rgb).astype(np.int32)
    return channels_to_id(rgb[..., 0], rgb[..., 1], rgb[..., 2])


def categories_path():
    """The shipped COCO panoptic table (a Traversable; `str()` of it is a path in a normal install)."""
    return resources.files("protocol").joinpath(CATEGORIES_FILE)


def coco_panoptic_categories() -> list[dict]:
    """The 133 COCO panoptic categories: {"id", "name", "isthing", "color"}."""
    return json.loads(categories_path().read_text(encoding="utf-8"))["categories"]


def read_categories(path: str | PathLike) -> list[dict]:
    """A category table file (this module's format), checked: a list of categories with a unique integer
    "id" >= 0, a string "name", an "isthing" flag (0/1 or a bool) and, optionally, an RGB "color".

    Raises ValueError naming the first problem.
    """
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"cannot read the category table {str(path)!r}: {error}") from None
    categories = document.get("categories") if isinstance(document, dict) else None
    if not isinstance(categories, list) or not categories:
        raise ValueError(f'{path}: expected a JSON object with a non-empty "categories" list')
    seen = set()
    for index, category in enumerate(categories):
        where = f"{path}: categories[{index}]"
        if not isinstance(category, dict):
            raise ValueError(f"{where} is not an object")
        ident = category.get("id")
        if isinstance(ident, bool) or not isinstance(ident, int) or ident < 0:
            raise ValueError(f'{where} needs an integer "id" >= 0, got {ident!r}')
        if ident in seen:
            raise ValueError(f"{where}: id {ident} appears twice")
        seen.add(ident)
        if not isinstance(category.get("name"), str):
            raise ValueError(f'{where} needs a string "name"')
        if category.get("isthing") not in (0, 1):  # True and False compare equal to 1 and 0
            raise ValueError(f'{where} needs "isthing" 0 or 1, got {category.get("isthing")!r}')
        color = category.get("color")
        if color is not None and not (
            isinstance(color, list) and len(color) == 3 and all(isinstance(c, int) and 0 <= c <= 255 for c in color)
        ):
            raise ValueError(f'{where}: "color" must be three integers in [0, 255], got {color!r}')
    return categories
