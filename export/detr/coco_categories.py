"""COCO category tables shipped with the package (no download at run time).

Detection: 91 names by category id (`coco_categories.json`). Panoptic: the 133 COCO panoptic
categories (80 things, 53 stuff; `protocol/coco_panoptic_categories.json`, from panopticapi, shared with
the clients, which colour segments with it) with their names, `isthing` flags and colours; the panoptic
models have 250 class logits, so ids without a category are named 'N/A'. A panoptic model trained on other
data names its classes from a table of the same format (`panoptic_classes(num_classes, path)`).
"""

import json
from importlib import resources
from pathlib import Path

from export.errors import ExportError
from protocol import panoptic

CATEGORIES_FILE = "coco_categories.json"
MAX_THING_ID = 90  # the official panoptic post-processing: is_thing_map = {i: i <= 90}
UNUSED = "N/A"


def coco_category_names() -> list[str]:
    """91 names, index = COCO category id; unused ids are 'N/A'."""
    return json.loads(resources.files("export.detr").joinpath(CATEGORIES_FILE).read_text(encoding="utf-8"))["names"]


def categories_path():
    """The shipped json file (copied into each export's assets)."""
    return resources.files("export.detr").joinpath(CATEGORIES_FILE)


def coco_panoptic_categories() -> list[dict]:
    """The 133 COCO panoptic categories: {"id", "name", "isthing", "color"}."""
    return panoptic.coco_panoptic_categories()


def coco_panoptic_names(num_classes: int) -> list[str]:
    """`num_classes` names, index = category id; ids without a COCO panoptic category are 'N/A'."""
    return _names(coco_panoptic_categories(), num_classes)


def coco_panoptic_is_thing(num_classes: int) -> list[bool]:
    """Whether each class id is a thing, by the official rule (id <= 90), for all `num_classes` ids."""
    return [i <= MAX_THING_ID for i in range(num_classes)]


def panoptic_categories_path():
    """The shipped panoptic json file (for an export's assets)."""
    return panoptic.categories_path()


def panoptic_classes(num_classes: int, path: str | Path | None = None) -> tuple[list[str], list[bool]]:
    """Name and thing flag of each of a panoptic model's `num_classes` classes (index = category id).

    Without `path`: the COCO panoptic table and the official thing rule (id <= 90). With `path`, a
    category table of `protocol.panoptic`'s format: its names and `isthing` flags; ids it does not list
    are 'N/A' stuff. Raises ExportError for an unreadable table or ids the model has no logit for.
    """
    if path is None:
        return coco_panoptic_names(num_classes), coco_panoptic_is_thing(num_classes)
    try:
        categories = panoptic.read_categories(path)
    except ValueError as error:
        raise ExportError(str(error)) from None
    too_large = [c["id"] for c in categories if c["id"] >= num_classes]
    if too_large:
        raise ExportError(
            f"category table {path}: id {too_large[0]} needs a model with more than {num_classes} "
            f"classes (ids 0..{num_classes - 1})"
        )
    is_thing = [False] * num_classes
    for category in categories:
        is_thing[category["id"]] = bool(category["isthing"])
    return _names(categories, num_classes), is_thing


def _names(categories: list[dict], num_classes: int) -> list[str]:
    names = [UNUSED] * num_classes
    for category in categories:
        if category["id"] < num_classes:
            names[category["id"]] = category["name"]
    return names
