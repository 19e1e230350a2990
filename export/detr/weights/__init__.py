"""DETR's weights: the presets table (``presets.py``: facebookresearch/detr's COCO and COCO panoptic
checkpoints) and the converter for the official ``.pth`` format (``convert.py``)."""
