"""Names a request and a SavedModel signature agree on."""

from __future__ import annotations

DEFAULT_SIGNATURE = "serving_default"  # the signature an empty ModelSpec.signature_name means

# SignatureDef.method_name of each kind of signature; MultiInference tasks name theirs the same way.
PREDICT_METHOD = "tensorflow/serving/predict"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"
METHOD_BY_TASK: dict[str, str] = {"predict": PREDICT_METHOD, "classify": CLASSIFY_METHOD, "regress": REGRESS_METHOD}

SIGNATURE_DEF_FIELD = "signature_def"  # the only GetModelMetadataRequest.metadata_field servers answer
