"""The Open Inference Protocol over REST: `/v2/...` on the REST port, beside TF Serving's `/v1/...`, on
serving/ops (serving/api/v2.py has what it shares with the gRPC front end).

Paths are protocol/v2/paths.py's. Inference takes JSON tensors (`data`, flat or nested) and the binary
tensor data extension in both directions (protocol/v2/binary.py): an input with `binary_data_size` has its
raw bytes after the JSON header, and an output is answered that way when asked for (`binary_data`,
`binary_data_output`) or when its BYTES are not UTF-8 (JSON cannot carry them). The request `id` is echoed.

Limits are the REST API's: the body limit and read timeouts of serving/http_server.py, the value cap on the
JSON header before it is parsed (serving/tensor_json/budget.py), the element cap on every declared shape
before its data is read, --rest_api_timeout_in_ms (tightened by a `timeout` parameter). Every malformed
request is a 400 with `{"error": ...}` saying what is wrong; statuses follow the canonical codes
(protocol/status.py): 404 for a model or version not served, 503 for one not ready, 504 past the deadline.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

import numpy as np

from protocol.json_text import dumps, loads
from protocol.v2 import binary, json_data, parameters, paths, raw
from serving import tensor_json
from serving.api import v2
from serving.core.server_core import ServerCore
from serving.deadlines import Deadline
from serving.errors import Code, ServingError, from_tensorflow, invalid_argument
from serving.http_server import BodyRejected, Request, Response
from serving.ops import model_info, observe
from serving.ops.predict import Prediction
from serving.options import ServerOptions
from serving.servable import WouldWait

if TYPE_CHECKING:
    from serving.api.tfs_rest import RestServer

log = logging.getLogger("serving")
_INFER_API = "infer"


class V2Rest:
    def __init__(self, core: ServerCore, options: ServerOptions, rest: RestServer, stopping: threading.Event):
        self.core = core
        self.options = options
        self.rest = rest  # its workers, headers and deadline hand-off
        self.stopping = stopping

    async def handle(self, request: Request) -> Response:
        observation = observe.begin(
            "REST",
            "v2",
            "",
            None,
            f"{request.method} /v2",
            lambda: request.headers,
            {"http.request.method": request.method, "url.path": request.path},
            lambda: request.peer,
        )
        response, code = None, "OK"
        try:
            try:
                call = paths.parse(request.method, request.path)
            except paths.PathError as e:
                raise ServingError(Code[e.code], str(e)) from None
            observation.model, observation.method = call.model, call.kind
            if call.kind == paths.INFER:
                observation.metrics_api = _INFER_API
            response = await self._route(call, request, observation)
        except ServingError as e:
            code = e.code_name
            response = self._error(e.http_status, e.message)
        except BodyRejected as e:
            code = {413: "RESOURCE_EXHAUSTED", 408: "DEADLINE_EXCEEDED"}.get(e.status, "INVALID_ARGUMENT")
            response = self._error(e.status, e.message)
        except Exception as e:  # noqa: BLE001 - a bad request never takes the server down
            log.exception("v2 REST request failed: %s %s", request.method, request.path)
            error = from_tensorflow(e)
            code = error.code_name
            response = self._error(error.http_status, error.message)
        finally:
            observation.bytes_out = len(response.body) if response is not None else 0
            observation.end(code, response.status if response is not None else 500)
        return response

    def _json(self, document: Any, status: int = 200) -> Response:
        return Response(status, dumps(document), self.rest.headers())

    def _error(self, status: int, message: str) -> Response:
        return self._json({"error": message}, status)

    async def _route(self, call: paths.V2Call, request: Request, observation: observe.Observation) -> Response:
        kind = call.kind
        if kind == paths.SERVER_LIVE:
            return self._json({"live": True})
        if kind == paths.SERVER_READY:
            ready = await self._blocking(lambda _: v2.server_ready(self.core, self.stopping.is_set()))
            return self._json({"ready": ready}, 200 if ready else 503)
        if kind == paths.SERVER_METADATA:
            return self._json(v2.server_metadata())
        if kind == paths.MODEL_READY:
            ready = await self._blocking(lambda _: v2.model_ready(self.core, call.model, call.version))
            return self._json({"name": call.model, "ready": ready}, 200 if ready else 503)
        if kind == paths.MODEL_METADATA:
            signature = _query(request.query).get(parameters.SIGNATURE, "")
            return self._json(
                await self._blocking(lambda _: v2.model_metadata(self.core, call.model, call.version, signature))
            )
        body = await request.body()
        observation.bytes_in = len(body)
        if kind == paths.INFER:
            return await self._infer(call, request, body, observation)
        document = _object(body, allow_empty=True)
        if kind == paths.REPOSITORY_INDEX:
            ready_only = _read(document, "ready", bool, "repository index request") or False
            return self._json(await self._blocking(lambda _: v2.repository_index(self.core, ready_only)))
        settings = parameters.check_object(document.get("parameters"), "repository request")
        peer = request.peer
        load = kind == paths.REPOSITORY_LOAD
        await self._blocking(
            lambda timeout: v2.repository_change(
                self.core, call.model, load, peer, self.options.model_management, list(settings), timeout
            )
        )
        return self._json({})

    async def _blocking(self, work):
        """`work(seconds left)` on a worker thread, within --rest_api_timeout_in_ms."""
        limit = self.options.rest_timeout_ms / 1000 if self.options.rest_timeout_ms > 0 else None
        what = f"Request did not complete within {self.options.rest_timeout_ms} ms (--rest_api_timeout_in_ms)"
        return await self.rest.on_worker(lambda: work(limit), Deadline(limit, what=what), limit, what)

    async def _infer(
        self, call: paths.V2Call, request: Request, body: bytearray, observation: observe.Observation
    ) -> Response:
        header_length = _header_length(request.headers.get(binary.HEADER_LENGTH.lower()), len(body))
        if header_length == 0:
            raise invalid_argument(
                "a request without an inference header (Inference-Header-Content-Length: 0) is not supported: "
                "send the JSON header with the tensors' names, datatypes and shapes"
            )
        _, data = binary.split(body, header_length)
        head = body if header_length is None else bytes(body[:header_length])  # all JSON: no copy
        spec = v2.model_spec(call.model, call.version)
        tensor_json.check_values(head, self.options.limits, lambda: model_info.most_inputs(self.core, spec))
        document = _object(head)
        request_parameters = parameters.check_object(document.get("parameters"), "inference request")
        request_id = document.get("id", "")
        if not isinstance(request_id, str):
            raise invalid_argument(f"'id' must be a string, got {request_id!r}")
        arrays = read_inputs(document, data, self.options)
        requested, as_binary = requested_outputs(document, request_parameters)
        signature = v2.signature_of(request_parameters)
        timeout_s = v2.timeout_of(request_parameters)
        limit = self.options.rest_timeout_ms / 1000 if self.options.rest_timeout_ms > 0 else None
        if timeout_s is not None:
            limit = timeout_s if limit is None else min(limit, timeout_s)
        what = "Request did not complete within --rest_api_timeout_in_ms or its 'timeout' parameter"
        deadline = Deadline(limit, what=what)

        def run(on_loop: bool = False) -> tuple[bytes, int | None]:
            return v2.infer(
                self.core,
                call.model,
                call.version,
                signature,
                arrays,
                list(requested),
                deadline,
                self.options.limits,
                lambda prediction: infer_response(prediction, request_id, requested, as_binary),
                on_loop,
            )

        answer = None
        if self.rest.may_run_on_loop(len(body), limit):  # alone, small and quick: no hand-off to a worker
            try:
                answer, length = run(on_loop=True)
            except WouldWait:
                pass
        if answer is None:
            answer, length = await self.rest.on_worker(observation.carry(run), deadline, limit, what)
        if length is None:
            return Response(200, answer, self.rest.headers())
        headers = self.rest.headers(binary.BINARY_CONTENT_TYPE) + [(binary.HEADER_LENGTH, str(length))]
        return Response(200, answer, headers)


def _header_length(value: str | None, size: int) -> int | None:
    try:
        return binary.header_length(value, size)
    except ValueError as e:
        raise invalid_argument(str(e)) from None


def _object(text: bytes | bytearray | memoryview, allow_empty: bool = False) -> dict:
    """The JSON object a request body (or its header) holds; an empty body is {} where `allow_empty`."""
    if allow_empty and not bytes(text).strip():
        return {}
    try:
        document = loads(text)
    except ValueError as e:
        raise invalid_argument(f"JSON Parse error: {e}") from None
    if not isinstance(document, dict):
        raise invalid_argument(f"the request must be a JSON object, got {type(document).__name__}")
    return document


def _read(document: dict, key: str, kind: type, what: str) -> Any:
    try:
        return parameters.read(document, key, kind, what)
    except ValueError as e:
        raise invalid_argument(str(e).replace("parameter ", "")) from None


def _query(query: str) -> dict[str, str]:
    from urllib.parse import parse_qsl

    return dict(parse_qsl(query, keep_blank_values=True))


def read_inputs(document: dict, data: memoryview, options: ServerOptions) -> dict[str, np.ndarray]:
    """The request's inputs as arrays: binary ones as views of the body, JSON ones from `data`; every
    declared datatype, shape and size checked before the values are read."""
    inputs = document.get("inputs")
    if not isinstance(inputs, list) or not all(isinstance(t, dict) for t in inputs):
        raise invalid_argument("'inputs' must be a list of tensors (objects with name, datatype, shape, data)")
    sizes, seen = [], set()
    for tensor in inputs:
        name = tensor.get("name")
        if not isinstance(name, str) or not name:
            raise invalid_argument(f"every input needs a 'name' string, got {name!r}")
        if name in seen:
            raise invalid_argument(f"input '{name}' is given more than once")
        seen.add(name)
        v2.declared(name, tensor.get("datatype"), tensor.get("shape"), options.limits)
        tensor_parameters = parameters.check_object(tensor.get("parameters"), f"input '{name}'")
        size = _read(tensor_parameters, parameters.BINARY_DATA_SIZE, int, f"input '{name}'")
        if (size is None) == ("data" not in tensor):
            raise invalid_argument(
                f"input '{name}' needs exactly one of 'data' and the binary_data_size parameter, "
                f"it has {'both' if size is not None else 'neither'}"
            )
        sizes.append(size)
    try:
        chunks = binary.chunks(sizes, data)
        arrays = {}
        for tensor, chunk in zip(inputs, chunks):
            name, what = tensor["name"], f"input '{tensor['name']}'"
            if chunk is None:
                arrays[name] = json_data.decode(tensor["datatype"], tensor["shape"], tensor["data"], what)
            else:
                arrays[name] = raw.decode(tensor["datatype"], tensor["shape"], chunk, what)
    except ValueError as e:
        raise invalid_argument(str(e)) from None
    return arrays


def requested_outputs(document: dict, request_parameters: dict) -> tuple[dict[str, bool | None], bool]:
    """({output name: binary_data or None}, binary_data_output) of a request."""
    as_binary = _read(request_parameters, parameters.BINARY_DATA_OUTPUT, bool, "request") or False
    outputs = document.get("outputs", [])
    if not isinstance(outputs, list) or not all(isinstance(o, dict) for o in outputs):
        raise invalid_argument("'outputs' must be a list of objects with a name")
    requested: dict[str, bool | None] = {}
    for output in outputs:
        name = output.get("name")
        if not isinstance(name, str) or not name:
            raise invalid_argument(f"every requested output needs a 'name' string, got {name!r}")
        if name in requested:
            raise invalid_argument(f"output '{name}' is requested more than once")
        output_parameters = parameters.check_object(output.get("parameters"), f"output '{name}'")
        requested[name] = _read(output_parameters, parameters.BINARY_DATA, bool, f"output '{name}'")
    return requested, as_binary


def infer_response(
    prediction: Prediction, request_id: str, requested: dict[str, bool | None], as_binary: bool
) -> tuple[bytes, int | None]:
    """(body, JSON header length or None) of an inference answer."""
    header: dict[str, Any] = {"model_name": prediction.model, "model_version": str(prediction.version)}
    if request_id:
        header["id"] = request_id
    outputs, chunks = [], []
    for name in v2.answer_order(prediction, list(requested)):
        array = prediction.outputs.pop(name)
        datatype = v2.output_datatype(name, array)
        wanted = requested.get(name)
        in_binary = as_binary if wanted is None else wanted
        if not in_binary and datatype == "BYTES" and not json_data.is_utf8(array):
            in_binary = True  # JSON cannot carry it: binary data, which every client of the extension reads
        entry: dict[str, Any] = {"name": name, "datatype": datatype, "shape": list(array.shape)}
        if in_binary:
            chunk = raw.encode(array)[1]
            entry["parameters"] = {parameters.BINARY_DATA_SIZE: len(chunk)}
            chunks.append(chunk)
        else:
            entry["data"] = json_data.encode(array, f"output '{name}'")[2]
        outputs.append(entry)
    header["outputs"] = outputs
    parts, length = binary.join(dumps(header), chunks)
    return (parts[0] if length is None else b"".join(parts)), length
