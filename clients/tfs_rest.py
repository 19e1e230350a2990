"""REST client for TensorFlow Serving (`/v1/models/...`), numpy in and numpy out.

Over one server or several replicas (`clients.http`). The model's metadata is read once per
(model, version, label) and used to send string inputs as `{"b64": ...}` and to give outputs their
dtypes. Numeric tensors are written by orjson straight from numpy (`protocol.json_text.dumps`): no
Python list of floats is built for a request.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from clients import json_tensors
from clients.addressing import ModelRef
from clients.base import ServingClient
from clients.errors import ServingError
from clients.http import HttpTransport
from clients.signatures import (
    Inputs,
    ModelMetadata,
    Signature,
    VersionStatus,
    named_inputs,
    parse_metadata,
    parse_status,
)
from protocol import b64
from protocol.json_text import dumps
from protocol.methods import DEFAULT_SIGNATURE


class RestClient(ServingClient):
    """Calls a server's REST API. `url` is e.g. `http://127.0.0.1:8501` or `https://host:8501`, or a
    list of base URLs of replicas serving the same models: calls go round robin over them and fail
    over to another one (`clients.replicas`).

    `retries` bounds the extra attempts per call, `backoff` (seconds) the pause before a replica is
    tried again. `verify` and `cert` are passed to requests: `verify` a CA bundle path (or False to
    skip verification), `cert` a client certificate path or a (certificate, key) pair of paths.
    """

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
    ):
        super().__init__()
        self.transport = HttpTransport(
            url, timeout=timeout, retries=retries, backoff=backoff, pool_size=pool_size, verify=verify, cert=cert
        )
        self.urls = self.transport.urls
        self.session = self.transport.session  # e.g. for hooks on every request

    def close(self) -> None:
        self.transport.close()

    def _call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        return self.transport.call_json(method, path, None if body is None else dumps(body))

    # ------------------------------------------------------------------ model service

    def status(self, model: str, *, version: int | None = None, label: str | None = None) -> list[VersionStatus]:
        """Version states of a model (all versions, or the one addressed)."""
        return parse_status(self._call("GET", ModelRef(model, version, label).rest_path()))

    def _read_metadata(self, ref: ModelRef) -> ModelMetadata:
        return parse_metadata(self._call("GET", ref.rest_path("metadata")))

    # ------------------------------------------------------------------ prediction service

    def predict(
        self,
        model: str,
        inputs: Inputs,
        *,
        signature: str = DEFAULT_SIGNATURE,
        version: int | None = None,
        label: str | None = None,
        row: bool = False,
        output_filter: Sequence[str] | None = None,
    ) -> dict[str, np.ndarray]:
        """Run a predict signature. Columnar (`inputs`) by default; `row=True` sends `instances`.

        Returns every output (or those in `output_filter`) as numpy, string outputs as bytes.
        """
        ref = ModelRef(model, version, label)
        sig = self.metadata(model, version=version, label=label).signature(signature)
        named = named_inputs(inputs, sig)
        if row:
            body = {"signature_name": signature, "instances": self._rows(named, sig)}
        else:
            encoded = {k: json_tensors.encode(v, sig.inputs.get(k)) for k, v in named.items()}
            body = {"signature_name": signature, "inputs": encoded}
        answer = self._call("POST", ref.rest_path("predict"), body)
        outputs = self._outputs(answer, sig, row)
        if output_filter is not None:
            missing = set(output_filter) - set(outputs)
            if missing:
                raise ServingError("INVALID_ARGUMENT", f"output_filter names unknown outputs {sorted(missing)}")
            outputs = {k: outputs[k] for k in output_filter}
        return outputs

    @staticmethod
    def _rows(named: Mapping[str, Any], sig: Signature) -> list[Any]:
        arrays = {k: json_tensors.as_array(v, sig.inputs.get(k)) for k, v in named.items()}
        sizes = {a.shape[0] if a.ndim else None for a in arrays.values()}
        if len(sizes) != 1 or None in sizes:
            raise ValueError("row format needs every input batched with the same first dimension")
        (size,) = sizes
        if len(arrays) == 1:
            ((name, array),) = arrays.items()
            return json_tensors.encode(array, sig.inputs.get(name))
        return [{k: json_tensors.encode(a[i], sig.inputs.get(k)) for k, a in arrays.items()} for i in range(size)]

    @staticmethod
    def _outputs(answer: Mapping[str, Any], sig: Signature, row: bool) -> dict[str, np.ndarray]:
        if row:
            predictions = answer["predictions"]
            if predictions and isinstance(predictions[0], dict) and not b64.is_b64(predictions[0]):
                names = predictions[0].keys()
                return {k: json_tensors.decode([p[k] for p in predictions], sig.outputs.get(k)) for k in names}
            name = next(iter(sig.outputs))  # a single output: plain rows
            return {name: json_tensors.decode(predictions, sig.outputs[name])}
        outputs = answer["outputs"]
        if isinstance(outputs, dict) and not b64.is_b64(outputs):
            return {k: json_tensors.decode(v, sig.outputs.get(k)) for k, v in outputs.items()}
        name = next(iter(sig.outputs))
        return {name: json_tensors.decode(outputs, sig.outputs[name])}

    def classify(
        self,
        model: str,
        examples: Sequence[Mapping[str, Any]],
        *,
        context: Mapping[str, Any] | None = None,
        signature: str = DEFAULT_SIGNATURE,
        version: int | None = None,
        label: str | None = None,
    ) -> list[list[tuple[str, float]]]:
        """Classify tf.Example-shaped dicts; per example a list of (class label, score)."""
        body = self._example_body(examples, context, signature)
        answer = self._call("POST", ModelRef(model, version, label).rest_path("classify"), body)
        return [[(str(c[0]), float(c[1])) for c in classes] for classes in answer["results"]]

    def regress(
        self,
        model: str,
        examples: Sequence[Mapping[str, Any]],
        *,
        context: Mapping[str, Any] | None = None,
        signature: str = DEFAULT_SIGNATURE,
        version: int | None = None,
        label: str | None = None,
    ) -> list[float]:
        """Regress tf.Example-shaped dicts; one value per example."""
        body = self._example_body(examples, context, signature)
        answer = self._call("POST", ModelRef(model, version, label).rest_path("regress"), body)
        return [float(v) for v in answer["results"]]

    @staticmethod
    def _example_body(
        examples: Sequence[Mapping[str, Any]], context: Mapping[str, Any] | None, signature: str
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"signature_name": signature, "examples": [_json_example(e) for e in examples]}
        if context is not None:
            body["context"] = _json_example(context)
        return body


def _json_feature(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return b64.encode(value)
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_json_feature(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _json_example(example: Mapping[str, Any]) -> dict[str, Any]:
    """Feature values: numbers, strings, bytes (sent as b64) or lists of one kind."""
    return {k: _json_feature(v) for k, v in example.items()}
