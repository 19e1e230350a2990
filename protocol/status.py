"""Canonical error codes (the gRPC status codes) and the HTTP status the REST API answers with each.

The mapping is the official server's (tensorflow_serving/model_servers/http_rest_api_handler.cc,
ToHTTPStatusCode); REST cannot tell apart codes that share a status, so reading one back gives the
most common code for it.
"""

from __future__ import annotations

# Code names by number (error_codes.proto, grpc StatusCode): CODE_NAMES[n] is code n.
CODE_NAMES: tuple[str, ...] = (
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
)

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


def http_status(code: str) -> int:
    """The HTTP status for a code name; 500 for a name the official table does not know."""
    return HTTP_STATUS_BY_CODE.get(code, 500)


def code_for_http_status(status: int) -> str:
    """The code a REST status stands for; other 4xx are INVALID_ARGUMENT, other 5xx UNKNOWN."""
    return CODE_BY_HTTP_STATUS.get(status, "UNKNOWN" if status >= 500 else "INVALID_ARGUMENT")


def code_name(number: int) -> str:
    """The name of a numeric code (as StatusProto.error_code carries it); UNKNOWN when out of range."""
    return CODE_NAMES[number] if 0 <= number < len(CODE_NAMES) else "UNKNOWN"


def code_number(name: str) -> int:
    return CODE_NAMES.index(name)
