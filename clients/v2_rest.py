"""REST client for the Open Inference Protocol (`/v2/...`: KServe v2, Triton, OpenVINO Model Server,
MLServer, and `python -m serving`), numpy in and numpy out, the same `predict` as `RestClient`.

Tensors cross as binary data by default (the binary tensor data extension: the JSON header, then
each tensor's raw bytes; no JSON numbers, no base64), answers are asked for the same way; with
`binary=False` they travel as JSON `data` instead (strings that are not UTF-8 and half floats still go
as binary data, which JSON cannot carry). Over one server or several replicas (`clients.http`).

A TF Serving signature is what v2 calls the model's inputs and outputs: `signature` picks one through
the `signature_name` request parameter (servers that have one function per model only know
`serving_default`); a label addresses a version where the server allows it (this project's does).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from clients.addressing import ModelRef
from clients.base import ServingClient
from clients.errors import ServingError
from clients.http import JSON_HEADERS, HttpTransport
from clients.json_tensors import as_array
from clients.signatures import Inputs, ModelMetadata, VersionStatus, named_inputs, parse_v2_metadata
from protocol.json_text import dumps, loads
from protocol.methods import DEFAULT_SIGNATURE
from protocol.v2 import binary, json_data, parameters, paths, raw


class V2RestClient(ServingClient):
    """Calls a server's v2 REST API. `url` is e.g. `http://127.0.0.1:8501`, or a list of replicas' base
    URLs (round robin and failover, `clients.replicas`). `binary` picks the tensors' form (see above);
    the other arguments are `RestClient`'s."""

    def __init__(
        self,
        url: str | Sequence[str],
        *,
        timeout: float = 60.0,
        retries: int = 3,
        backoff: float = 0.2,
        pool_size: int = 8,
        verify: bool | str = True,
        cert: str | tuple[str, str] | None = None,
        binary: bool = True,
    ):
        super().__init__()
        self.transport = HttpTransport(
            url, timeout=timeout, retries=retries, backoff=backoff, pool_size=pool_size, verify=verify, cert=cert
        )
        self.urls = self.transport.urls
        self.session = self.transport.session
        self.binary = binary

    def close(self) -> None:
        self.transport.close()

    # ------------------------------------------------------------------ health and metadata

    def server_live(self) -> bool:
        return self._ok(paths.PREFIX + "/health/live")

    def server_ready(self) -> bool:
        return self._ok(paths.PREFIX + "/health/ready")

    def server_metadata(self) -> dict[str, Any]:
        """The server's name, version and the protocol extensions it supports."""
        return self.transport.call_json("GET", paths.PREFIX)

    def ready(self, model: str, *, version: int | None = None, label: str | None = None) -> bool:
        """Whether the model (the addressed version, else its latest) can run inferences now."""
        return self._ok(paths.model_path(model, paths.version_string(version, label), paths.MODEL_READY))

    def _ok(self, path: str) -> bool:
        try:
            self.transport.call("GET", path)
        except ServingError as e:
            if e.code in ("UNAVAILABLE", "NOT_FOUND", "INVALID_ARGUMENT", "FAILED_PRECONDITION"):
                return False
            raise
        return True

    def status(self, model: str, *, version: int | None = None, label: str | None = None) -> list[VersionStatus]:
        """The versions the model lists (or the one addressed), AVAILABLE when ready, else UNKNOWN:
        readiness is all v2 says about a version."""
        if version is None and label is None:
            listed = self.transport.call_json("GET", paths.model_path(model)).get("versions", [])
            numbers = [int(v) for v in listed if str(v).isdigit()]
        else:
            numbers = [version if version is not None else self.metadata(model, label=label).version]
        return [VersionStatus(n, "AVAILABLE" if self.ready(model, version=n) else "UNKNOWN", "OK", "") for n in numbers]

    def _read_metadata(self, ref: ModelRef) -> ModelMetadata:
        path = paths.model_path(ref.name, paths.version_string(ref.version, ref.label))
        return parse_v2_metadata(self.transport.call_json("GET", path), ref.version)

    # ------------------------------------------------------------------ inference

    def predict(
        self,
        model: str,
        inputs: Inputs,
        *,
        signature: str = DEFAULT_SIGNATURE,
        version: int | None = None,
        label: str | None = None,
        output_filter: Sequence[str] | None = None,
    ) -> dict[str, np.ndarray]:
        """Run a signature; returns every output (or those in `output_filter`) as numpy, strings as bytes."""
        sig = self.metadata(model, version=version, label=label).signature(signature)
        arrays = {k: as_array(v, sig.inputs.get(k)) for k, v in named_inputs(inputs, sig).items()}
        body, header_length = encode_request(arrays, signature, output_filter, self.binary)
        headers = dict(JSON_HEADERS)
        if header_length is not None:
            headers = {"Content-Type": binary.BINARY_CONTENT_TYPE, binary.HEADER_LENGTH: str(header_length)}
        path = paths.model_path(model, paths.version_string(version, label), paths.INFER)
        response = self.transport.call("POST", path, body, headers)
        return decode_response(response.content, response.headers.get(binary.HEADER_LENGTH))


def encode_request(
    arrays: Mapping[str, np.ndarray], signature: str, output_filter: Sequence[str] | None, as_binary: bool
) -> tuple[bytes, int | None]:
    """(body, JSON header length or None) of an inference request."""
    request_parameters: dict[str, Any] = {}
    if signature != DEFAULT_SIGNATURE:
        request_parameters[parameters.SIGNATURE] = signature
    tensors, chunks = [], []
    for name, array in arrays.items():
        tensor: dict[str, Any] = {"name": name}
        datatype, shape, data = _json_form(array) if not as_binary else (None, None, None)
        if data is None:
            datatype, chunk = raw.encode(array)
            tensor.update(datatype=datatype, shape=list(array.shape))
            tensor["parameters"] = {parameters.BINARY_DATA_SIZE: len(chunk)}
            chunks.append(chunk)
        else:
            tensor.update(datatype=datatype, shape=shape, data=data)
        tensors.append(tensor)
    header: dict[str, Any] = {"inputs": tensors}
    if output_filter:
        wanted = {parameters.BINARY_DATA: as_binary}
        header["outputs"] = [{"name": name, "parameters": wanted} for name in output_filter]
    elif as_binary:
        request_parameters[parameters.BINARY_DATA_OUTPUT] = True
    if request_parameters:
        header["parameters"] = request_parameters
    parts, length = binary.join(dumps(header), chunks)
    return b"".join(parts), length


def _json_form(array: np.ndarray) -> tuple[str | None, list[int] | None, Any]:
    """A tensor as JSON data, or (None, None, None) when JSON cannot carry it (not UTF-8, half floats,
    non-finite floats)."""
    if array.dtype.kind in "OSU" and not json_data.is_utf8(array):
        return None, None, None
    if array.dtype.kind == "f" and (array.dtype.itemsize == 2 or not np.isfinite(array).all()):
        return None, None, None
    return json_data.encode(array)


def decode_response(content: bytes, header_length: str | None) -> dict[str, np.ndarray]:
    """The outputs of an inference response body, JSON data or binary data alike."""
    try:
        length = binary.header_length(header_length, len(content))
        head, data = binary.split(memoryview(bytearray(content)), length)
        document = loads(bytes(head))
        outputs = document.get("outputs", [])
        sizes = [(o.get("parameters") or {}).get(parameters.BINARY_DATA_SIZE) for o in outputs]
        chunks = binary.chunks(sizes, data, "response")
        decoded = {}
        for output, chunk in zip(outputs, chunks):
            what = f"output {output.get('name')!r}"
            if chunk is None:
                decoded[output["name"]] = json_data.decode(output["datatype"], output["shape"], output["data"], what)
            else:
                decoded[output["name"]] = raw.decode(output["datatype"], output["shape"], chunk, what)
        return decoded
    except (ValueError, KeyError, TypeError) as e:
        raise ServingError("INTERNAL", f"unreadable inference response: {e}") from e
