"""DETR's published checkpoints: facebookresearch/detr's COCO detection and COCO panoptic models.

URLs, file names and metrics are those of the official ``hubconf.py`` (the ``torch.hub`` entry points)
and README (sizes). Each file name ends in the first 8 hex digits of the file's SHA-256, which
``torch.hub.load_state_dict_from_url(check_hash=True)`` checks: so does the fetch here.

The panoptic files: the README's model table once linked ``detr-r50-panoptic-b423a359.pth``,
``detr-r50-dc5-panoptic-ac925135.pth`` and ``detr-r101-panoptic-0fa498b3.pth`` (R50 at 44.0 PQ),
while ``hubconf.py`` loads ``-00ce5173``, ``-da08f1b1`` and ``-40021d53`` (R50 at 43.4 PQ) with the hash
check, and the README's later revision links those too. The presets are hubconf's: the files
``torch.hub.load('facebookresearch/detr', 'detr_resnet50_panoptic', pretrained=True)`` gives every
user, published with a hash that is checked. There is no R101-DC5 panoptic checkpoint.

DETR is released under the Apache 2.0 licence, its weights with it.
"""

from __future__ import annotations

from export.weights.formats import check_torch_checkpoint
from export.weights.presets import Preset

COCO, COCO_PANOPTIC = "coco", "coco-panoptic"
BASE_URL = "https://dl.fbaipublicfiles.com/detr/"
LICENCE, LICENCE_URL = "Apache-2.0", "https://github.com/facebookresearch/detr/blob/main/LICENSE"

# backbone, dilation, kind, SHA-256 prefix in the file name, size (README), metric (hubconf / README), hub entry
_TABLE = (
    ("resnet50", False, COCO, "e632da11", "159 MB", "COCO val5k box AP 42.0", "detr_resnet50"),
    ("resnet50", True, COCO, "f0fb7ef5", "159 MB", "COCO val5k box AP 43.3", "detr_resnet50_dc5"),
    ("resnet101", False, COCO, "2c7b67e5", "232 MB", "COCO val5k box AP 43.5", "detr_resnet101"),
    ("resnet101", True, COCO, "a2e86def", "232 MB", "COCO val5k box AP 44.9", "detr_resnet101_dc5"),
    ("resnet50", False, COCO_PANOPTIC, "00ce5173", "165 MB", "COCO panoptic val5k PQ 43.4", "detr_resnet50_panoptic"),
    (
        "resnet50",
        True,
        COCO_PANOPTIC,
        "da08f1b1",
        "165 MB",
        "COCO panoptic val5k PQ 44.6",
        "detr_resnet50_dc5_panoptic",
    ),
    ("resnet101", False, COCO_PANOPTIC, "40021d53", "237 MB", "COCO panoptic val5k PQ 45.1", "detr_resnet101_panoptic"),
)


def architecture(backbone: str, dilation: bool) -> str:
    """``detr-r50``, ``detr-r50-dc5``, ``detr-r101``, ``detr-r101-dc5``."""
    return f"detr-r{backbone.removeprefix('resnet')}{'-dc5' if dilation else ''}"


def _file_name(backbone: str, dilation: bool, kind: str, prefix: str) -> str:
    return f"{architecture(backbone, dilation)}{'-panoptic' if kind == COCO_PANOPTIC else ''}-{prefix}.pth"


PRESETS: tuple[Preset, ...] = tuple(
    Preset(
        architecture=architecture(backbone, dilation),
        name=kind,
        file_name=_file_name(backbone, dilation, kind, prefix),
        url=BASE_URL + _file_name(backbone, dilation, kind, prefix),
        checksum=f"sha256:{prefix}",
        size=size,
        licence=LICENCE,
        licence_url=LICENCE_URL,
        metric=metric,
        source=f"facebookresearch/detr hubconf.py {hub}",
        check=check_torch_checkpoint,
        description=("panoptic segmentation (use with --panoptic)" if kind == COCO_PANOPTIC else "object detection"),
    )
    for backbone, dilation, kind, prefix, size, metric, hub in _TABLE
)
