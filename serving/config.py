"""Text-format configuration files: ModelServerConfig, BatchingParameters, MonitoringConfig."""

from __future__ import annotations

import logging
import os
from typing import TypeVar

from google.protobuf import message, text_format

from protocol.generated.tensorflow_serving.config import model_server_config_pb2
from serving.errors import Code, ServingError, invalid_argument
from serving.protos import BatchingParameters, MonitoringConfig

log = logging.getLogger("serving")

M = TypeVar("M", bound=message.Message)

ModelServerConfig = model_server_config_pb2.ModelServerConfig
ModelConfig = model_server_config_pb2.ModelConfig


def read_text_proto(path: str, proto: M) -> M:
    """Parses `path` into `proto`, failing like ParseProtoTextFile in the official server."""
    try:
        with open(path, "rb") as f:
            text = f.read()
    except OSError as e:
        raise ServingError(Code.NOT_FOUND, f"{path}; {e.strerror or e}") from e
    try:
        text_format.Parse(text, proto)
    except (text_format.ParseError, UnicodeDecodeError) as e:
        log.error("Error parsing text-format %s: %s", proto.DESCRIPTOR.full_name, e)
        raise invalid_argument(f"Invalid protobuf file: '{path}'") from e
    return proto


def single_model_config(name: str, base_path: str) -> ModelServerConfig:
    config = ModelServerConfig()
    model = config.model_config_list.config.add()
    model.name = name
    model.base_path = base_path
    model.model_platform = "tensorflow"
    return config


def load_model_server_config(path: str) -> ModelServerConfig:
    return read_text_proto(path, ModelServerConfig())


def load_batching_parameters(path: str) -> BatchingParameters:
    params = read_text_proto(path, BatchingParameters()) if path else BatchingParameters()
    validate_batching_parameters(params)
    return params


def load_monitoring_config(path: str) -> MonitoringConfig:
    return read_text_proto(path, MonitoringConfig()) if path else MonitoringConfig()


def validate_batching_parameters(params: BatchingParameters) -> None:
    sizes = list(params.allowed_batch_sizes)
    if not sizes:
        return
    if any(b <= a for a, b in zip(sizes, sizes[1:])):
        raise invalid_argument("allowed_batch_sizes entries must be monotonically increasing")
    max_batch = params.max_batch_size.value if params.HasField("max_batch_size") else None
    if max_batch is not None and sizes[-1] != max_batch:
        raise invalid_argument(
            "Last entry in allowed_batch_sizes must match max_batch_size; "
            f"last entry was {sizes[-1]}; expected {max_batch}"
        )


def model_platform(model: ModelConfig) -> str:
    if model.model_type != 0:  # deprecated enum: 1 = TENSORFLOW
        if model.model_platform:
            raise invalid_argument(
                "Illegal setting both ModelServerConfig::model_type (deprecated) and "
                f"ModelServerConfig::model_platform, model name is {model.name}"
            )
        if model.model_type == 1:
            return "tensorflow"
        raise invalid_argument(f"ModelServerConfig::model_type choice {model.model_type} not supported.")
    if not model.model_platform:
        raise invalid_argument(
            "Illegal setting neither ModelServerConfig::model_type (deprecated) nor "
            f"ModelServerConfig::model_platform, model name is {model.name}"
        )
    return model.model_platform


def validate_model_config(config: ModelServerConfig) -> None:
    """The checks ServerCore applies before accepting a ModelConfigList."""
    if config.WhichOneof("config") == "custom_model_config":
        raise ServingError(Code.UNIMPLEMENTED, "ModelServer does not yet support custom model config.")
    names: set[str] = set()
    for model in config.model_config_list.config:
        if model.name in names:
            raise invalid_argument(f"Illegal to list model {model.name} multiple times in config list")
        names.add(model.name)
    for model in config.model_config_list.config:
        if not os.path.isabs(model.base_path) and "://" not in model.base_path:
            raise invalid_argument(
                f"Expected model {model.name} to have an absolute path or URI; got base_path()={model.base_path}"
            )
        platform = model_platform(model)
        if platform != "tensorflow":
            raise invalid_argument(f"Model {model.name} requests unsupported platform {platform}")
