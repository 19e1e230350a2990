"""What every gRPC front end does around a method: a ServingError becomes the RPC's status, any other failure
an INTERNAL (or TensorFlow's own code) with no traceback for the client, and requests are counted and timed."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable

import grpc

from serving.deadlines import Deadline
from serving.errors import ServingError, from_tensorflow
from serving.metrics import METRICS

log = logging.getLogger("serving")


def deadline_of(context: grpc.ServicerContext, timeout_s: float | None = None, what: str = "Deadline Exceeded"):
    """The call's deadline (tightened to `timeout_s` when given) and cancellation, checked before each step
    that costs CPU."""
    remaining = context.time_remaining()
    if timeout_s is not None:
        remaining = timeout_s if remaining is None else min(remaining, timeout_s)
    return Deadline(remaining, lambda: not context.is_active(), what)


def _model_spec_name(request) -> str:
    return request.model_spec.name if hasattr(request, "model_spec") else ""


def rpc(api_name: str | None = None, model_of: Callable[[object], str] = _model_spec_name):
    """Decorates a servicer method; with `api_name`, its requests are recorded in the request metrics under
    the model `model_of(request)` names."""

    def wrap(method: Callable):
        @functools.wraps(method)
        def handler(self, request, context):
            start = time.perf_counter()
            code = "OK"
            try:
                return method(self, request, context)
            except ServingError as e:
                code = e.code_name
                context.abort(e.code, e.message)
            except Exception as e:  # noqa: BLE001 - never let a request take the server down
                if isinstance(e, grpc.RpcError) or type(e).__name__ == "_AbortError":
                    raise
                error = from_tensorflow(e)
                code = error.code_name
                log.exception("%s failed", method.__name__)
                context.abort(error.code, error.message)
            finally:
                if api_name is not None:
                    METRICS.record_request(
                        model_of(request), api_name, "GRPC", code, (time.perf_counter() - start) * 1e6
                    )

        return handler

    return wrap
