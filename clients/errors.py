"""One exception type for every failure a serving call can have, on either transport.

TensorFlow Serving reports a canonical status code (gRPC) or the HTTP status derived from it plus
`{"error": message}` (REST). `ServingError` carries both, so callers can branch on `.code`
without caring which transport produced it.
"""

from __future__ import annotations

import json

from protocol import status


class ServingError(Exception):
    """A request the server refused or could not answer.

    `code` is the canonical status name ("NOT_FOUND", "INVALID_ARGUMENT", ...), `http_status` the
    matching HTTP status, `message` the server's own text.
    """

    def __init__(self, code: str, message: str, http_status: int | None = None):
        self.code = code
        self.message = message
        self.http_status = http_status if http_status is not None else status.http_status(code)
        super().__init__(f"{code}: {message}")

    @classmethod
    def from_http(cls, http_status: int, body: bytes | str) -> ServingError:
        """Build from a REST error response (`{"error": "..."}`, or any body for non-API paths)."""
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        try:
            message = json.loads(text)["error"]
        except (ValueError, KeyError, TypeError):
            message = text.strip() or f"HTTP {http_status}"
        return cls(status.code_for_http_status(http_status), str(message), http_status=http_status)

    @classmethod
    def from_code_number(cls, number: int, message: str) -> ServingError:
        """Build from a numeric canonical code, as carried by `StatusProto`."""
        return cls(status.code_name(number), message)

    @classmethod
    def from_grpc(cls, error: grpc.RpcError) -> ServingError:  # noqa: F821 - grpc imported lazily
        """Build from a failed gRPC call."""
        code = error.code().name if error.code() is not None else "UNKNOWN"
        return cls(code, error.details() or "")
