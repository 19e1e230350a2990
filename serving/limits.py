"""Per-request limits an operator sets with flags, checked alike by REST and gRPC before anything is allocated."""

from __future__ import annotations

from dataclasses import dataclass

from serving.status import invalid_argument


@dataclass(frozen=True)
class RequestLimits:
    # --max_tensor_elements: the most elements one request tensor may declare; 0 = no cap (the official
    # server has none). Over it is INVALID_ARGUMENT, like the batcher's "Task size N is larger than
    # maximum input batch size": the request as sent can never succeed, so clients must not retry it
    # (RESOURCE_EXHAUSTED, HTTP 429, is what retry policies retry).
    max_tensor_elements: int = 0

    def check_elements(self, what: str, count: int) -> None:
        if 0 < self.max_tensor_elements < count:
            raise invalid_argument(
                f"{what} has {count} elements, more than the server allows "
                f"(--max_tensor_elements={self.max_tensor_elements})"
            )
