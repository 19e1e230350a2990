"""REST API: the routes, JSON bodies, headers and status codes of the official HTTP server.

The transport underneath is serving.http_server."""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from protocol import b64, rest_paths
from protocol.generated.tensorflow.core.example import example_pb2
from protocol.generated.tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_pb2,
    regression_pb2,
)
from protocol.methods import SIGNATURE_DEF_FIELD
from protocol.v2 import paths as v2_paths
from serving import tensor_json, tracing
from serving.core.server_core import ServerCore
from serving.core.workers import WorkerPool
from serving.deadlines import Deadline
from serving.errors import Code, ServingError, from_tensorflow, invalid_argument
from serving.http_server import BodyRejected, HttpServer, Request, Response
from serving.metrics import METRICS
from serving.ops import inference, model_info, observe
from serving.ops.predict import predict
from serving.options import ServerOptions
from serving.request_limits import RequestLimits
from serving.servable import QUICK_RUN_S, Servable, WouldWait

log = logging.getLogger("serving")
T = TypeVar("T")

_NOT_FOUND_BODY = (
    "<HTML><HEAD>\n<TITLE>404 Not Found</TITLE>\n</HEAD><BODY>\n<H1>Not Found</H1>\n"
    "The requested URL was not found on this server.</BODY></HTML>\n"
)
# A predict request may run on the event loop itself (no hand-off to a worker thread and back) when it is the
# only request in flight, its body is at most this large, and its signature's last run was quick
# (servable.QUICK_RUN_S): the loop is then held for one short run at most, and later requests are served
# by workers as usual.
_ON_LOOP_BODY_BYTES = 1 << 20
_CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, GET",
    "Access-Control-Allow-Headers": "Content-Type",
}


@dataclass
class Route:
    method: str  # predict | classify | regress | status | metadata
    model_name: str
    spec: model_pb2.ModelSpec


def parse_route(http_method: str, path: str) -> Route:
    """ParseModelInfo: the protocol's path grammar, as a ModelSpec."""
    try:
        call = rest_paths.parse(http_method, path)
    except rest_paths.PathError as e:
        raise invalid_argument(str(e)) from None
    spec = model_pb2.ModelSpec(name=call.model)
    if call.version is not None:
        spec.version.value = call.version
    if call.label is not None:
        spec.version_label = call.label
    return Route(call.verb, call.model, spec)


def _feature(name: str, value: Any, feature: example_pb2.Feature) -> None:
    """AddValueToFeature: one JSON scalar into a Feature, kinds may not mix."""

    def kind_error() -> ServingError:
        kind = feature.WhichOneof("kind")
        expected = {"bytes_list": "bytes", "float_list": "float", "int64_list": "int64"}.get(kind, "UNKNOWN")
        return invalid_argument(f"Unexpected element type in feature: {name} expecting type: {expected}")

    def check(kind: str) -> None:
        if feature.WhichOneof("kind") not in (None, kind):
            raise kind_error()

    if isinstance(value, bool):
        check("int64_list")
        feature.int64_list.value.append(int(value))
    elif isinstance(value, dict):
        if not b64.is_b64(value):
            raise invalid_argument(f"Feature: {name} has element with unexpected JSON type: Object")
        check("bytes_list")
        feature.bytes_list.value.append(tensor_json.decode_b64(value))
    elif isinstance(value, str):
        check("bytes_list")
        feature.bytes_list.value.append(tensor_json.text_bytes(value))
    elif isinstance(value, float):
        check("float_list")
        feature.float_list.value.append(value)  # past float's range: inf, as officially
    elif isinstance(value, int):
        check("int64_list")
        if value >= 1 << 63:
            raise invalid_argument(f"Feature: {name} has uint64_t element. Only int64_t is supported.")
        feature.int64_list.value.append(value)
    else:
        raise invalid_argument(f"Feature: {name} has element with unexpected JSON type: {tensor_json.json_type(value)}")


def _example(value: Any, example: example_pb2.Example) -> None:
    if not isinstance(value, dict):
        raise invalid_argument(f"Example must be JSON object but got JSON {tensor_json.json_type(value)}")
    for name, content in value.items():
        feature = example.features.feature[name]
        for item in content if isinstance(content, list) else [content]:
            _feature(name, item, feature)


def _fill_examples(doc: dict, request) -> None:
    """FillClassifyRegressRequestFromJson."""
    request.model_spec.signature_name = tensor_json.signature_name(doc)
    target = request.input.example_list
    if "context" in doc:
        _example(doc["context"], request.input.example_list_with_context.context)
        target = request.input.example_list_with_context
    if "examples" not in doc:
        raise invalid_argument(
            f"JSON Value: {tensor_json.debug_string(doc)} When method is classify, key "
            "'examples' is expected and was not found"
        )
    examples = doc["examples"]
    if not isinstance(examples, list):
        raise invalid_argument(
            f"JSON Value: {tensor_json.debug_string(doc)} Expecting 'examples' value to be an list/array"
        )
    if not examples:
        raise invalid_argument(f"JSON Value: {tensor_json.debug_string(doc)} 'examples' value is an empty array")
    for value in examples:
        _example(value, target.examples.add())


@dataclass
class JsonPredict:
    """A REST predict body as a PredictCall (serving/ops/predict.py): large numeric tensors take the typed path
    (no Python object per value); every other body, and every error, goes through the reference codec.

    `on_loop` (bodies up to _ON_LOOP_BODY_BYTES): the call runs without waiting for anything and raises
    RunOnWorker, carrying itself with what it parsed or built, where it would have to wait."""

    spec: model_pb2.ModelSpec
    body: bytes
    deadline: Deadline
    limits: RequestLimits
    doc: dict | None = None
    typed: tensor_json.TypedRequest | None = None
    on_loop: bool = False
    output_filter: tuple[str, ...] = ()
    format: str = ""  # "row" or "columnar", known once the inputs are built
    built: dict | None = None  # the inputs once built (a worker goes on with them if the run on the loop would wait)
    _signature: str | None = None

    @property
    def signature(self) -> str:
        if self._signature is None:  # read once: the typed request is closed when its arrays are built
            self._signature = self.typed.signature_name if self.typed else tensor_json.signature_name(self.doc)
        return self._signature

    def check(self, servable: Servable, key: str) -> int:
        if self.on_loop and not servable.runs_quickly(key):
            raise RunOnWorker(self)
        return 0

    def inputs(self, servable: Servable, key: str) -> dict:
        if self.built is not None:
            return self.built
        input_dtypes = servable.input_dtypes(key)
        converted = self.typed.arrays(input_dtypes, self.limits) if self.typed else None
        if converted is None:
            doc = self.doc if self.doc is not None else tensor_json.parse_document(self.body)
            has_bools = tensor_json.may_hold_bools(self.body, input_dtypes)
            converted = tensor_json.predict_request_arrays(doc, input_dtypes, has_bools, self.limits)
        self.doc = self.typed = None  # the Python objects (or the tape) of a large body are garbage once converted
        self.built, self.format = converted
        return self.built

    def close(self) -> None:
        """Drops what was parsed and built (the typed request's tape at once)."""
        if self.typed is not None:
            self.typed.close()
        self.doc = self.typed = self.built = None


def _predict(
    manager: ServerCore,
    route: Route,
    body: bytes,
    limits: RequestLimits,
    deadline: Deadline,
    on_loop: bool = False,
    call: JsonPredict | None = None,
) -> bytes:
    """The body is parsed (after a count of its values against the cap) before the model is looked up, as
    officially; then the one predict path runs it. `call`: one begun on the event loop, with what it parsed."""
    if call is None:  # nothing built from the body yet: refuse one holding more values than the cap allows
        tensor_json.check_values(body, limits, lambda: model_info.most_inputs(manager, route.spec))
        with tracing.span("decode"):
            typed = tensor_json.TypedRequest.parse(body)
            doc = None if typed else tensor_json.parse_document(body)
        call = JsonPredict(route.spec, body, deadline, limits, doc, typed)
    call.on_loop = on_loop
    handed_over = False
    try:
        return predict(manager, call, lambda p: tensor_json.predict_response_json(p.outputs, call.format), not on_loop)
    except RunOnWorker:
        handed_over = True
        raise
    except WouldWait:  # another thread took the last place to run meanwhile
        handed_over = True
        raise RunOnWorker(call) from None
    finally:
        if not handed_over:
            call.close()


def _settle(answer: asyncio.Future, result: Any, error: BaseException | None) -> None:
    """Completes a request's future unless its deadline completed it first."""
    if answer.done():
        return
    if error is not None:
        answer.set_exception(error)
    else:
        answer.set_result(result)


def _route_template(verb: str) -> str:
    """The span name's route: the path with the model left as a parameter (versions and labels are attributes)."""
    if verb in rest_paths.INFERENCE_VERBS:
        return f"/v1/models/{{model}}:{verb}"
    return "/v1/models/{model}/metadata" if verb == rest_paths.METADATA else "/v1/models/{model}"


class RunOnWorker(Exception):
    """A request tried on the event loop must go to a worker thread after all; it carries the call, with what
    was parsed or built."""

    def __init__(self, call: JsonPredict):
        super().__init__()
        self.call = call


def process(
    manager: ServerCore,
    route: Route,
    body: bytes,
    limits: RequestLimits = RequestLimits(),
    deadline: Deadline | None = None,
    on_loop: bool = False,
    call: JsonPredict | None = None,
) -> bytes:
    """Runs one API request and returns the JSON body: blocking, on a worker thread; or, `on_loop`, a quick
    predict on the event loop that raises RunOnWorker instead of waiting for anything (`call`: the predict
    it carried, for the worker to go on with)."""
    deadline = deadline if deadline is not None else Deadline.none()
    deadline.check()  # it may have waited for a worker
    if route.method == "status":
        return tensor_json.status_json(
            model_info.get_model_status(manager, get_model_status_pb2.GetModelStatusRequest(model_spec=route.spec))
        )
    if route.method == "metadata":
        request = get_model_metadata_pb2.GetModelMetadataRequest(
            model_spec=route.spec, metadata_field=[SIGNATURE_DEF_FIELD]
        )
        return tensor_json.metadata_json(model_info.get_model_metadata(manager, request))
    if route.method == "predict":
        return _predict(manager, route, body, limits, deadline, on_loop, call)
    with tracing.span("decode"):
        doc = tensor_json.parse_document(body)
        request = (
            classification_pb2.ClassificationRequest if route.method == "classify" else regression_pb2.RegressionRequest
        )(model_spec=route.spec)
        _fill_examples(doc, request)
    if route.method == "classify":
        result = inference.classify(manager, request, deadline, limits).result
        with tracing.span("encode"):
            return tensor_json.classify_json(result)
    result = inference.regress(manager, request, deadline, limits).result
    with tracing.span("encode"):
        return tensor_json.regress_json(result)


class RestServer:
    """The REST port: TF Serving's API under /v1 (this module) and the Open Inference Protocol's under /v2
    (serving/api/v2_rest.py), on one HTTP server and one pool of workers."""

    def __init__(self, manager: ServerCore, options: ServerOptions, stopping: threading.Event | None = None):
        from serving.api.v2_rest import V2Rest

        self.manager = manager
        self.options = options
        self.workers = WorkerPool(options.rest_workers, "rest")
        self.http = HttpServer(self.handle, options, self._transport_error)
        self.v2 = V2Rest(manager, options, self, stopping or threading.Event())

    def headers(self, content_type: str = "application/json") -> list[tuple[str, str]]:
        headers = [("Content-Type", content_type)]
        if self.options.rest_cors:
            headers.extend(_CORS.items())
        return headers

    def _json_error(self, status: int, message: str) -> Response:
        return Response(status, tensor_json.error_json(message), self.headers())

    def _transport_error(self, status: int, message: str) -> Response:
        return self._json_error(status, message)

    def _error(self, error: ServingError) -> Response:
        return self._json_error(error.http_status, error.message)

    async def handle(self, request: Request) -> Response:
        path = request.path
        if self.options.metrics_path is not None and path == self.options.metrics_path:
            return Response(200, METRICS.page(), [("Content-Type", "text/plain")])
        if v2_paths.is_v2_path(path):
            return await self.v2.handle(request)
        if not rest_paths.is_api_path(path):
            return Response(404, _NOT_FOUND_BODY.encode(), [("Content-Type", "text/html; charset=utf-8")])
        observation = observe.begin(
            "REST",
            "tfs",
            "",
            "",
            f"{request.method} /v1/models",
            lambda: request.headers,
            {"http.request.method": request.method, "url.path": path},
            lambda: request.peer,
        )
        response, code = None, "OK"
        try:
            response = await self._respond(request, observation)
        except ServingError as e:
            code = e.code_name
            response = self._error(e)
        except BodyRejected as e:
            code = {413: "RESOURCE_EXHAUSTED", 408: "DEADLINE_EXCEEDED"}.get(e.status, "INVALID_ARGUMENT")
            response = self._json_error(e.status, e.message)
        except Exception as e:  # noqa: BLE001 - a bad request never takes the server down
            log.exception("REST request failed: %s %s", request.method, path)
            error = from_tensorflow(e)
            code = error.code_name
            response = self._error(error)
        finally:
            observation.bytes_out = len(response.body) if response is not None else 0
            observation.end(code, response.status if response is not None else 500)
        return response

    async def _respond(self, request: Request, observation: observe.Observation) -> Response:
        if request.method == "OPTIONS":
            if re.search(r"https?://", request.headers.get("origin", "")):
                return Response(200, b"", self.headers())
            raise ServingError(Code.FAILED_PRECONDITION, "Origin header is missing in CORS preflight")
        route = parse_route(request.method, request.path)
        observation.model, observation.method = route.model_name, route.method
        observation.metrics_api = route.method if route.method in rest_paths.INFERENCE_VERBS else ""
        observation.rename(f"{request.method} {_route_template(route.method)}")
        body = await request.body()
        observation.bytes_in = len(body)
        return Response(200, await self._run(route, body, observation), self.headers())

    async def _run(self, route: Route, body: bytes, observation: observe.Observation) -> bytes:
        """Runs the request on a worker thread, or a quick one on the event loop (_ON_LOOP_BODY_BYTES); past
        --rest_api_timeout_in_ms answers 504 and what has not started yet (waiting for a worker, for its turn
        to run or for a batch) never starts."""
        what = f"Request did not complete within {self.options.rest_timeout_ms} ms (--rest_api_timeout_in_ms)"
        timeout = self.options.rest_timeout_ms / 1000 if self.options.rest_timeout_ms > 0 else None
        deadline = Deadline(timeout, what=what)
        call = None
        if route.method == "predict" and self.may_run_on_loop(len(body), timeout):
            try:
                return process(self.manager, route, body, self.options.limits, deadline, on_loop=True)
            except RunOnWorker as e:
                call = e.call
        work = observation.carry(lambda: process(self.manager, route, body, self.options.limits, deadline, call=call))
        return await self.on_worker(work, deadline, timeout, what)

    def may_run_on_loop(self, body_bytes: int, timeout: float | None) -> bool:
        """Whether a predict may be tried on the event loop (_ON_LOOP_BODY_BYTES): the only request in flight,
        a small body, and a deadline far longer than a quick run."""
        return (
            body_bytes <= _ON_LOOP_BODY_BYTES
            and self.http.in_flight == 1
            and (timeout is None or timeout >= 20 * QUICK_RUN_S)
        )

    async def on_worker(self, work: Callable[[], T], deadline: Deadline, timeout: float | None, what: str) -> T:
        """`work()` on a worker thread; past `timeout` seconds the answer is DEADLINE_EXCEEDED (`what`) and what
        has not started yet never starts (`deadline` gives up).

        The hand-off is the cheapest asyncio allows: the job goes on the workers' queue, and its result
        comes back with one `call_soon_threadsafe` (no concurrent.futures Future, no wrapping, no task for
        the timeout: the timer is a plain callback)."""
        loop = asyncio.get_running_loop()
        answer = loop.create_future()

        def job() -> None:
            try:
                result, error = work(), None
            except BaseException as e:  # noqa: BLE001 - handed to the event loop, which answers with it
                result, error = None, e
            loop.call_soon_threadsafe(_settle, answer, result, error)

        def expire() -> None:
            deadline.give_up()
            _settle(answer, None, ServingError(Code.DEADLINE_EXCEEDED, what))

        timer = loop.call_later(timeout, expire) if timeout is not None else None
        self.workers.submit(job)
        try:
            return await answer
        finally:
            if timer is not None:
                timer.cancel()

    async def start(self, host: str, port: int, ssl_context: ssl.SSLContext | None = None) -> None:
        await self.http.start(host, port, ssl_context)

    async def stop(self) -> None:
        """Stops accepting connections and lets requests in flight finish."""
        await self.http.stop(grace_s=60.0)
        self.workers.shutdown()
