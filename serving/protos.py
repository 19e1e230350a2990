"""Messages the tensorflow-serving-api wheel does not ship: MonitoringConfig, BatchingParameters, SSLConfig.

The pip package only carries the `apis/` and part of `config/`; the server-side
`monitoring_config.proto`, `session_bundle_config.proto` and `ssl_config.proto` are missing. They are declared here
with the same package, names and field numbers, so text files written for the official server
parse identically.
"""

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, wrappers_pb2

_F = descriptor_pb2.FieldDescriptorProto


def _field(name: str, number: int, kind: int, type_name: str = "", repeated: bool = False) -> _F:
    label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
    field = _F(name=name, number=number, type=kind, label=label)
    if type_name:
        field.type_name = type_name
    return field


def _file() -> descriptor_pb2.FileDescriptorProto:
    f = descriptor_pb2.FileDescriptorProto(
        name="serving/tensorflow_serving_server_config.proto",
        package="tensorflow.serving",
        syntax="proto3",
        dependency=["google/protobuf/wrappers.proto"],
    )
    f.message_type.add(name="PrometheusConfig").field.extend(
        [
            _field("enable", 1, _F.TYPE_BOOL),
            _field("path", 2, _F.TYPE_STRING),
        ]
    )
    f.message_type.add(name="MonitoringConfig").field.extend(
        [
            _field("prometheus_config", 1, _F.TYPE_MESSAGE, ".tensorflow.serving.PrometheusConfig"),
        ]
    )
    i64, s, b = ".google.protobuf.Int64Value", ".google.protobuf.StringValue", ".google.protobuf.BoolValue"
    f.message_type.add(name="BatchingParameters").field.extend(
        [
            _field("max_batch_size", 1, _F.TYPE_MESSAGE, i64),
            _field("batch_timeout_micros", 2, _F.TYPE_MESSAGE, i64),
            _field("max_enqueued_batches", 3, _F.TYPE_MESSAGE, i64),
            _field("num_batch_threads", 4, _F.TYPE_MESSAGE, i64),
            _field("thread_pool_name", 5, _F.TYPE_MESSAGE, s),
            _field("allowed_batch_sizes", 6, _F.TYPE_INT64, repeated=True),
            _field("pad_variable_length_inputs", 7, _F.TYPE_BOOL),
            _field("enable_large_batch_splitting", 8, _F.TYPE_MESSAGE, b),
            _field("max_execution_batch_size", 9, _F.TYPE_MESSAGE, i64),
        ]
    )
    f.message_type.add(name="SSLConfig").field.extend(
        [
            _field("server_key", 1, _F.TYPE_STRING),
            _field("server_cert", 2, _F.TYPE_STRING),
            _field("custom_ca", 3, _F.TYPE_STRING),
            _field("client_verify", 4, _F.TYPE_BOOL),
        ]
    )
    return f


def _messages() -> dict[str, type]:
    pool = descriptor_pool.Default()
    assert wrappers_pb2.Int64Value  # the wrappers file must be in the pool first
    try:
        pool.FindMessageTypeByName("tensorflow.serving.BatchingParameters")
    except KeyError:
        pool.Add(_file())
    names = ("PrometheusConfig", "MonitoringConfig", "BatchingParameters", "SSLConfig")
    return {n: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"tensorflow.serving.{n}")) for n in names}


_CLASSES = _messages()
PrometheusConfig = _CLASSES["PrometheusConfig"]
MonitoringConfig = _CLASSES["MonitoringConfig"]
BatchingParameters = _CLASSES["BatchingParameters"]
SSLConfig = _CLASSES["SSLConfig"]
