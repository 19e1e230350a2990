"""The Open Inference Protocol ("KServe v2", as KServe, Triton, OpenVINO Model Server and MLServer speak
it), once, for the server's v2 front ends and the v2 clients. No TensorFlow here either.

    datatypes   v2 datatype names <-> TensorFlow DataType names (and so numpy), sizes, typed gRPC fields
    raw         a tensor as raw bytes: little-endian values, BYTES elements as 4-byte length + bytes
    binary      the HTTP binary tensor data extension: the JSON header, then each tensor's bytes
    json_data   tensors as JSON `data` (flat or nested) and the rules each datatype's values follow
    grpc_tensors  numpy <-> the InferInputTensor / InferOutputTensor messages (typed or raw contents)
    parameters  the parameters this project reads or writes, and InferParameter <-> Python values
    paths       the REST URL grammar under /v2, built and parsed
    generated   `protocol.generated.inference.open_inference_pb2[_grpc]`: inference.GRPCInferenceService
"""
