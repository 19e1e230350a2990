"""REST API (aiohttp): the routes, JSON bodies, headers and status codes of the official HTTP server."""
from __future__ import annotations

import asyncio
import json
import logging
import re
import ssl
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Optional

from aiohttp import web
from google.protobuf import json_format

from protocol import b64, rest_paths
from protocol.generated.tensorflow.core.example import example_pb2
from protocol.generated.tensorflow_serving.apis import (classification_pb2, get_model_metadata_pb2,
                                                        get_model_status_pb2, model_pb2, regression_pb2)
from protocol.methods import DEFAULT_SIGNATURE, SIGNATURE_DEF_FIELD

from serving import api, inference, tensor_json
from serving.core.server_core import ServerCore
from serving.metrics import METRICS
from serving.status import Code, ServingError, from_tensorflow, invalid_argument

log = logging.getLogger("serving")

_NOT_FOUND_BODY = ("<HTML><HEAD>\n<TITLE>404 Not Found</TITLE>\n</HEAD><BODY>\n<H1>Not Found</H1>\n"
                   "The requested URL was not found on this server.</BODY></HTML>\n")
_CORS = {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "POST, GET",
         "Access-Control-Allow-Headers": "Content-Type"}


@dataclass
class RestOptions:
    timeout_ms: int = 30000
    cors: bool = False
    max_body_bytes: int = 1 << 30
    metrics_path: Optional[str] = None


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


def _status_json(response: get_model_status_pb2.GetModelStatusResponse) -> str:
    opts = dict(always_print_fields_with_no_presence=True, preserving_proto_field_name=True)
    return json.dumps(json_format.MessageToDict(response, **opts), indent=1)


def _metadata_json(response: get_model_metadata_pb2.GetModelMetadataResponse) -> str:
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    response.metadata[SIGNATURE_DEF_FIELD].Unpack(signature_map)
    opts = dict(always_print_fields_with_no_presence=True, preserving_proto_field_name=True)
    body = {"model_spec": json_format.MessageToDict(response.model_spec, **opts),
            "metadata": {SIGNATURE_DEF_FIELD: json_format.MessageToDict(signature_map, **opts)}}
    return json.dumps(body, indent=1)


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
        feature.bytes_list.value.append(value.encode("utf-8"))
    elif isinstance(value, float):
        check("float_list")
        feature.float_list.value.append(value)
    elif isinstance(value, int):
        check("int64_list")
        if value >= 1 << 63:
            raise invalid_argument(f"Feature: {name} has uint64_t element. Only int64_t is supported.")
        feature.int64_list.value.append(value)
    else:
        raise invalid_argument(f"Feature: {name} has element with unexpected JSON type: "
                               f"{tensor_json.json_type(value)}")


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
        raise invalid_argument(f"JSON Value: {tensor_json.debug_string(doc)} When method is classify, key "
                               "'examples' is expected and was not found")
    examples = doc["examples"]
    if not isinstance(examples, list):
        raise invalid_argument(f"JSON Value: {tensor_json.debug_string(doc)} Expecting 'examples' value to be an "
                               "list/array")
    if not examples:
        raise invalid_argument(f"JSON Value: {tensor_json.debug_string(doc)} 'examples' value is an empty array")
    for value in examples:
        _example(value, target.examples.add())


def _classify_json(result: classification_pb2.ClassificationResult) -> str:
    if not result.classifications:
        raise invalid_argument("Cannot convert empty ClassificationResults to JSON")
    rows = []
    for classifications in result.classifications:
        pairs = [f"[{json.dumps(c.label)}, {tensor_json.float_json(c.score)}]" for c in classifications.classes]
        rows.append("[" + ", ".join(pairs) + "]")
    return '{"results": [' + ", ".join(rows) + "]}"


def _regress_json(result: regression_pb2.RegressionResult) -> str:
    if not result.regressions:
        raise invalid_argument("Cannot convert empty RegressionResults to JSON")
    return '{"results": [' + ", ".join(tensor_json.float_json(r.value) for r in result.regressions) + "]}"


def process(manager: ServerCore, route: Route, body: bytes) -> str:
    """Runs one API request (blocking; called in the worker pool) and returns the JSON body."""
    if route.method == "status":
        return _status_json(api.get_model_status(manager, get_model_status_pb2.GetModelStatusRequest(
            model_spec=route.spec)))
    if route.method == "metadata":
        request = get_model_metadata_pb2.GetModelMetadataRequest(model_spec=route.spec,
                                                                 metadata_field=[SIGNATURE_DEF_FIELD])
        return _metadata_json(api.get_model_metadata(manager, request))
    doc = tensor_json.parse_document(body)
    if route.method == "predict":
        key = tensor_json.signature_name(doc)
        with manager.servable(route.spec) as servable:
            has_bools = b"true" in body or b"false" in body
            inputs, fmt = tensor_json.predict_request_arrays(doc, servable.input_dtypes(key), has_bools)
            outputs = servable.predict(key or DEFAULT_SIGNATURE, inputs)
        return tensor_json.predict_response_json(outputs, fmt)
    if route.method == "classify":
        request = classification_pb2.ClassificationRequest(model_spec=route.spec)
        _fill_examples(doc, request)
        return _classify_json(inference.classify(manager, request).result)
    request = regression_pb2.RegressionRequest(model_spec=route.spec)
    _fill_examples(doc, request)
    return _regress_json(inference.regress(manager, request).result)


class RestServer:
    def __init__(self, manager: ServerCore, options: RestOptions, workers: int):
        self.manager = manager
        self.options = options
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rest")
        self.app = web.Application(client_max_size=options.max_body_bytes)
        self.app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner: Optional[web.AppRunner] = None

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.options.cors:
            headers.update(_CORS)
        return headers

    def _error(self, error: ServingError) -> web.Response:
        body = json.dumps({"error": error.message}, indent=1)
        return web.Response(status=error.http_status, body=body.encode(), headers=self._headers())

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.rel_url.raw_path
        if self.options.metrics_path is not None and path == self.options.metrics_path:
            return web.Response(body=METRICS.page(), headers={"Content-Type": "text/plain"})
        if not rest_paths.is_api_path(path):
            return web.Response(status=404, text=_NOT_FOUND_BODY, content_type="text/html")
        start = time.perf_counter()
        model_name, api_name, code = "", "", "OK"
        try:
            if request.method == "OPTIONS":
                if re.search(r"https?://", request.headers.get("Origin", "")):
                    return web.Response(status=200, headers=self._headers())
                raise ServingError(Code.FAILED_PRECONDITION, "Origin header is missing in CORS preflight")
            route = parse_route(request.method, path)
            model_name = route.model_name
            api_name = route.method if route.method in rest_paths.INFERENCE_VERBS else ""
            try:
                body = await request.read()
            except web.HTTPRequestEntityTooLarge:
                code = "RESOURCE_EXHAUSTED"
                body_text = json.dumps({"error": f"Request body exceeds the limit of {self.options.max_body_bytes} "
                                                 "bytes (--max_request_body_bytes)"})
                return web.Response(status=413, body=body_text.encode(), headers=self._headers())
            text = await self._run(route, body)
            return web.Response(body=text.encode("utf-8", "surrogateescape"), headers=self._headers())
        except ServingError as e:
            code = e.code_name
            return self._error(e)
        except Exception as e:  # noqa: BLE001 - a bad request never takes the server down
            log.exception("REST request failed: %s %s", request.method, path)
            error = from_tensorflow(e)
            code = error.code_name
            return self._error(error)
        finally:
            METRICS.record_request(model_name, api_name, "REST", code, (time.perf_counter() - start) * 1e6)

    async def _run(self, route: Route, body: bytes) -> str:
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self.pool, process, self.manager, route, body)
        timeout = self.options.timeout_ms / 1000 if self.options.timeout_ms > 0 else None
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except asyncio.TimeoutError:
            raise ServingError(Code.DEADLINE_EXCEEDED,
                               f"Request did not complete within {self.options.timeout_ms} ms "
                               "(--rest_api_timeout_in_ms)") from None

    async def start(self, host: str, port: int, ssl_context: Optional[ssl.SSLContext] = None) -> None:
        self.runner = web.AppRunner(self.app, access_log=None, handle_signals=False, shutdown_timeout=60.0)
        await self.runner.setup()
        site = web.TCPSite(self.runner, host, port, reuse_address=True, ssl_context=ssl_context)
        await site.start()

    async def stop(self) -> None:
        """Stops accepting connections and lets requests in flight finish."""
        if self.runner is not None:
            await self.runner.cleanup()
        self.pool.shutdown(wait=True)
