"""Python for protocol/protos, written by scripts/compile_protos.py: edit the .proto, then rerun it.

The modules mirror the official ones (`protocol.generated.tensorflow_serving.apis.predict_pb2` is
`tensorflow_serving.apis.predict_pb2`) with the same message names and field numbers, so their bytes
are the official bytes. They register their messages in POOL, a descriptor pool of their own, not in
protobuf's default pool: TensorFlow registers `tensorflow.TensorProto` and friends there, and both
must be importable in one process (the server, the tests). A message of this pool cannot be copied
into one of TensorFlow's directly; go through bytes (`Official.FromString(ours.SerializeToString())`).
"""
from google.protobuf import any_pb2, descriptor_pool, wrappers_pb2

POOL = descriptor_pool.DescriptorPool()
for _well_known in (any_pb2, wrappers_pb2):  # the google/protobuf files the .protos import
    POOL.AddSerializedFile(_well_known.DESCRIPTOR.serialized_pb)
