"""COCO category names by category id, shipped with the package (no download at run time)."""
import json
from importlib import resources

CATEGORIES_FILE = "coco_categories.json"


def coco_category_names() -> list[str]:
    """91 names, index = COCO category id; unused ids are 'N/A'."""
    text = resources.files("export.detr").joinpath(CATEGORIES_FILE).read_text(encoding="utf-8")
    return json.loads(text)["names"]


def categories_path():
    """The shipped json file (copied into each export's assets)."""
    return resources.files("export.detr").joinpath(CATEGORIES_FILE)
