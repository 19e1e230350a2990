"""One exception type for every failure a serving call can have, on either transport.

TensorFlow Serving reports a canonical status code (gRPC) or the HTTP status derived from it plus
`{"error": message}` (REST). `ServingError` carries both, so callers can branch on `.code`
without caring which transport produced it.
"""
from __future__ import annotations

import json

# tensorflow_serving/model_servers/http_rest_api_handler.cc: ToHTTPStatusCode.
HTTP_STATUS_BY_CODE: dict[str, int] = {
    "OK": 200,
    "CANCELLED": 499,
    "UNKNOWN": 500,
    "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403,
    "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 400,
    "ABORTED": 409,
    "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DATA_LOSS": 500,
    "UNAUTHENTICATED": 401,
}

# Canonical codes in numeric order (tensorflow/core/protobuf/error_codes.proto): CODE_NAMES[n] is code n.
CODE_NAMES: tuple[str, ...] = tuple(HTTP_STATUS_BY_CODE)

# Several codes share an HTTP status; REST cannot tell them apart, so the most common one is used.
CODE_BY_HTTP_STATUS: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


class ServingError(Exception):
    """A request the server refused or could not answer.

    `code` is the canonical status name ("NOT_FOUND", "INVALID_ARGUMENT", ...), `http_status` the
    matching HTTP status, `message` the server's own text.
    """

    def __init__(self, code: str, message: str, http_status: int | None = None):
        self.code = code
        self.message = message
        self.http_status = http_status if http_status is not None else HTTP_STATUS_BY_CODE.get(code, 500)
        super().__init__(f"{code}: {message}")

    @classmethod
    def from_http(cls, status: int, body: bytes | str) -> "ServingError":
        """Build from a REST error response (`{"error": "..."}`, or any body for non-API paths)."""
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        try:
            message = json.loads(text)["error"]
        except (ValueError, KeyError, TypeError):
            message = text.strip() or f"HTTP {status}"
        code = CODE_BY_HTTP_STATUS.get(status, "UNKNOWN" if status >= 500 else "INVALID_ARGUMENT")
        return cls(code, str(message), http_status=status)

    @classmethod
    def from_code_number(cls, number: int, message: str) -> "ServingError":
        """Build from a numeric canonical code, as carried by `StatusProto`."""
        name = CODE_NAMES[number] if 0 <= number < len(CODE_NAMES) else "UNKNOWN"
        return cls(name, message)

    @classmethod
    def from_grpc(cls, error: "grpc.RpcError") -> "ServingError":  # noqa: F821 - grpc imported lazily
        """Build from a failed gRPC call."""
        code = error.code().name if error.code() is not None else "UNKNOWN"
        return cls(code, error.details() or "")
