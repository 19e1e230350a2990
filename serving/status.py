"""Canonical error codes: one ServingError carries a code and a message to REST and gRPC alike."""
from __future__ import annotations

import grpc

# HTTP status per canonical code, as tensorflow_serving/model_servers/http_server.cc maps them.
_HTTP = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNAUTHENTICATED: 401,
}

Code = grpc.StatusCode


class ServingError(Exception):
    """An error with a canonical code; its message is what clients see."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        return http_status(self.code)

    @property
    def code_name(self) -> str:
        return self.code.name

    @property
    def code_number(self) -> int:
        return self.code.value[0]

    def __str__(self) -> str:
        return f"{self.code.name}: {self.message}"


def http_status(code: grpc.StatusCode) -> int:
    return _HTTP.get(code, 500)


def code_from_number(number: int) -> grpc.StatusCode:
    for code in grpc.StatusCode:
        if code.value[0] == number:
            return code
    return grpc.StatusCode.UNKNOWN


def invalid_argument(message: str) -> ServingError:
    return ServingError(Code.INVALID_ARGUMENT, message)


def not_found(message: str) -> ServingError:
    return ServingError(Code.NOT_FOUND, message)


def failed_precondition(message: str) -> ServingError:
    return ServingError(Code.FAILED_PRECONDITION, message)


def from_tensorflow(exc: Exception) -> ServingError:
    """Maps an exception raised while running a model to its canonical code."""
    if isinstance(exc, ServingError):
        return exc
    import tensorflow as tf

    if isinstance(exc, tf.errors.OpError):
        return ServingError(code_from_number(exc.error_code), exc.message)
    if isinstance(exc, (TypeError, ValueError)):
        return invalid_argument(str(exc))
    return ServingError(Code.INTERNAL, f"{type(exc).__name__}: {exc}")
