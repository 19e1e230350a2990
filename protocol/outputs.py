"""The output names of the project's exported signatures, and the top-k default: one place for the
export that writes them, the clients that read them and the tests that check them."""

from protocol.b64 import BYTES_SUFFIX

# Top-k classes: EfficientNet's serving_default and predict_pixels, `--labels` of your own model.
DEFAULT_TOP_K = 5  # classes per image unless --top-k says otherwise
CLASS_IDS, CLASS_NAMES, SCORES = "class_ids", "class_names", "scores"
TOP_K_OUTPUTS = (CLASS_IDS, CLASS_NAMES, SCORES)
PROBABILITIES = "probabilities"  # predict_pixels: every class
CLASSES = "classes"  # the classify method's outputs are CLASSES and SCORES (TF Serving's names)

# DETR detection (serving_default, detect_with_threshold): padded to the detection limit.
BOXES, LABELS, LABEL_NAMES, NUM_DETECTIONS = "boxes", "labels", "label_names", "num_detections"
DETECTION_OUTPUTS = (BOXES, SCORES, LABELS, LABEL_NAMES, NUM_DETECTIONS)
RAW_DETR_OUTPUTS = ("pred_logits", "pred_boxes")  # raw: the model's own outputs
PRED_MASKS = "pred_masks"  # raw of the panoptic model

# DETR panoptic (serving_default): a COCO panoptic PNG per image and its segments, padded.
PANOPTIC_PNG = "panoptic_png"
# The same PNG under a name TF Serving's REST API writes as {"b64": ...}: it writes other string outputs
# as JSON text, which binary data does not survive. gRPC clients ask for one of the two (output_filter).
PANOPTIC_PNG_BYTES = PANOPTIC_PNG + BYTES_SUFFIX
SEGMENT_IDS, CATEGORY_IDS, CATEGORY_NAMES = "segment_ids", "category_ids", "category_names"
ISTHING, AREAS, NUM_SEGMENTS = "isthing", "areas", "num_segments"
SEGMENT_OUTPUTS = (SEGMENT_IDS, CATEGORY_IDS, CATEGORY_NAMES, ISTHING, AREAS, SCORES, NUM_SEGMENTS)

# StyleGAN: generate_png returns PNG bytes (REST: b64), serving_default and mix uint8 images.
IMAGES_BYTES = "images" + BYTES_SUFFIX
IMAGES = "images"
