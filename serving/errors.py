"""Canonical error codes: one ServingError carries a code and a message to REST and gRPC alike."""

from __future__ import annotations

import re

import grpc

from protocol import status

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
    return status.http_status(code.name)


def code_from_number(number: int) -> grpc.StatusCode:
    return grpc.StatusCode[status.code_name(number)]


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
        return ServingError(code_from_number(exc.error_code), clean_message(exc.message))
    if isinstance(exc, (TypeError, ValueError)):
        return invalid_argument(str(exc))
    return ServingError(Code.INTERNAL, f"{type(exc).__name__}: {exc}")


# What TensorFlow wraps around a kernel's message: the functions and nodes it ran in ("{{function_node f}}",
# "\n\t [[{{node Assert}}]]"), and eager's "Graph execution error: Detected at node ... <stack traces
# unavailable>" preamble. None of it helps a client; the kernel's own words stay.
_FUNCTION_PREFIX = re.compile(r"^(\{\{function_node [^}]*\}\}\s*)+")
_NODE_LINE = re.compile(r"^\s*\[\[.*\]\]\s*$")
_PREAMBLE_LINE = re.compile(
    r"^(Graph execution error:|Detected at node .*|<stack traces unavailable>"
    r"|defined at \(most recent call last\):)\s*$"
)


def clean_message(message: str) -> str:
    """A TensorFlow error message without the node annotations and preambles TensorFlow adds."""
    lines = [line for line in message.splitlines() if not _NODE_LINE.match(line) and not _PREAMBLE_LINE.match(line)]
    text = "\n".join(line for line in lines if line.strip()).strip()
    return _FUNCTION_PREFIX.sub("", text) or message.strip()
