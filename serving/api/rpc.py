"""What every gRPC front end does around a method: a ServingError becomes the RPC's status, any other failure
an INTERNAL (or TensorFlow's own code) with no traceback for the client, and each request is observed
(serving/ops/observe.py: metrics, its span, its access-log line).

With tracing or the access log on, `CallInterceptor` sees each unary call's messages as bytes (their sizes for
the access log, the full method name for the span); off, it is not installed and costs nothing.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable

import grpc

from serving import tracing
from serving.deadlines import Deadline
from serving.errors import ServingError, from_tensorflow
from serving.logs import access
from serving.ops import observe

log = logging.getLogger("serving")

_call = threading.local()  # the call this gRPC worker thread is answering: method, bytes_in, finish


def deadline_of(context: grpc.ServicerContext, timeout_s: float | None = None, what: str = "Deadline Exceeded"):
    """The call's deadline (tightened to `timeout_s` when given) and cancellation, checked before each step
    that costs CPU."""
    remaining = context.time_remaining()
    if timeout_s is not None:
        remaining = timeout_s if remaining is None else min(remaining, timeout_s)
    return Deadline(remaining, lambda: not context.is_active(), what)


def _model_spec_name(request) -> str:
    return request.model_spec.name if hasattr(request, "model_spec") else ""


def rpc(api_name: str | None = None, model_of: Callable[[object], str] = _model_spec_name, api: str = "tfs"):
    """Decorates a servicer method; with `api_name`, its requests are recorded in the request metrics under
    the model `model_of(request)` names. `api` names the front end in the access log."""

    def wrap(method: Callable):
        @functools.wraps(method)
        def handler(self, request, context):
            full_name = getattr(_call, "method", "") or f"{type(self).__name__}/{method.__name__}"
            service, _, short = full_name.rpartition("/")
            observation = observe.begin(
                "GRPC",
                api,
                method.__name__,
                api_name,
                full_name,
                lambda: dict(context.invocation_metadata()),
                {"rpc.system": "grpc", "rpc.service": service, "rpc.method": short},
                context.peer,
            )
            observation.model = model_of(request)
            observation.bytes_in = getattr(_call, "bytes_in", 0)
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
                answered = code == "OK" and access.LOG.on
                observation.end(code, write_access_line=not answered)
                if answered:  # the line waits for the answer's size: CallInterceptor writes it once serialized
                    _call.finish = functools.partial(_write_answered, observation)

        return handler

    return wrap


def _write_answered(observation: observe.Observation, size: int) -> None:
    observation.bytes_out = size
    observation.write_access("OK", None, observation.elapsed())


class CallInterceptor(grpc.ServerInterceptor):
    """Wraps each unary-unary method: the request's size (grpc deserializes on its polling thread, so the size
    travels with the message to the handler) and the method's full name are noted for the handler's thread,
    and the answer's size, known once serialized on that thread, completes its access-log line."""

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        name = handler_call_details.method.lstrip("/")
        read, write, behavior = handler.request_deserializer, handler.response_serializer, handler.unary_unary

        def deserialize(raw: bytes) -> tuple[int, object]:
            return len(raw), (read(raw) if read is not None else raw)

        def answer(sized: tuple[int, object], context):
            _call.method, (_call.bytes_in, request), _call.finish = name, sized, None
            return behavior(request, context)

        def serialize(message) -> bytes:
            raw = write(message) if write is not None else message
            finish, _call.finish = getattr(_call, "finish", None), None
            if finish is not None:
                finish(len(raw))
            return raw

        return handler._replace(request_deserializer=deserialize, unary_unary=answer, response_serializer=serialize)


def interceptors() -> list[grpc.ServerInterceptor]:
    """The interceptors a gRPC server needs: CallInterceptor while requests are traced or access-logged."""
    return [CallInterceptor()] if tracing.on() or access.LOG.on else []
