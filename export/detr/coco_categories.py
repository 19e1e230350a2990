"""COCO category tables shipped with the package (no download at run time).

Detection: 91 names by category id (`coco_categories.json`). Panoptic: the 133 COCO panoptic
categories (80 things, 53 stuff; `coco_panoptic_categories.json`, from panopticapi) with their names,
`isthing` flags and colours; the panoptic models have 250 class logits, so ids without a category are
named 'N/A'.
"""
import json
from importlib import resources

CATEGORIES_FILE = "coco_categories.json"
PANOPTIC_CATEGORIES_FILE = "coco_panoptic_categories.json"
MAX_THING_ID = 90  # the official panoptic post-processing: is_thing_map = {i: i <= 90}
UNUSED = "N/A"


def coco_category_names() -> list[str]:
    """91 names, index = COCO category id; unused ids are 'N/A'."""
    return json.loads(_read(CATEGORIES_FILE))["names"]


def categories_path():
    """The shipped json file (copied into each export's assets)."""
    return resources.files("export.detr").joinpath(CATEGORIES_FILE)


def coco_panoptic_categories() -> list[dict]:
    """The 133 COCO panoptic categories: {"id", "name", "isthing", "color"}."""
    return json.loads(_read(PANOPTIC_CATEGORIES_FILE))["categories"]


def coco_panoptic_names(num_classes: int) -> list[str]:
    """`num_classes` names, index = category id; ids without a COCO panoptic category are 'N/A'."""
    names = [UNUSED] * num_classes
    for category in coco_panoptic_categories():
        if category["id"] < num_classes:
            names[category["id"]] = category["name"]
    return names


def coco_panoptic_is_thing(num_classes: int) -> list[bool]:
    """Whether each class id is a thing, by the official rule (id <= 90), for all `num_classes` ids."""
    return [i <= MAX_THING_ID for i in range(num_classes)]


def panoptic_categories_path():
    """The shipped panoptic json file (for an export's assets)."""
    return resources.files("export.detr").joinpath(PANOPTIC_CATEGORIES_FILE)


def _read(name: str) -> str:
    return resources.files("export.detr").joinpath(name).read_text(encoding="utf-8")
