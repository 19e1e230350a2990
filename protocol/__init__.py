"""The wire protocols, once, for the server (`serving/`) and the clients (`clients/`): TensorFlow Serving's
API (the modules below) and the Open Inference Protocol (`protocol.v2`).

Nothing here imports TensorFlow: a client install needs only numpy and protobuf for it.

    status      canonical error codes and their HTTP statuses
    rest_paths  the REST URL grammar, built and parsed
    methods     signature method names, the default signature key, the metadata field
    layout      the model directory layout: version directory names, the warmup requests file
    numbers     integers read as the official server reads them (absl::SimpleAtoi)
    dtypes      DataType <-> numpy, and which TensorProto field carries each type
    tensors     numpy <-> TensorProto
    b64         binary strings in JSON: {"b64": "..."}
    limits      the message size both ends accept
    panoptic    the COCO panoptic PNG convention and category table of panoptic segmentation outputs
    generated   messages and gRPC stubs compiled from protocol/protos (official names and numbers),
                TF Serving's and inference.GRPCInferenceService
    v2          the Open Inference Protocol: datatypes, raw and binary tensors, JSON data, REST paths
    object_store  model repositories in s3:// and gs:// (the SDKs imported only when used) and the
                _SUCCESS completion marker, for the server's source and the exporter's publish stage
"""
