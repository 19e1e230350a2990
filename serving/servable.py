"""One loaded SavedModel version: its SignatureDefs and the functions that run them."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow.python.saved_model.loader_impl import parse_saved_model

from protocol.dtypes import type_name
from protocol.generated.tensorflow.core.protobuf import meta_graph_pb2 as wire_meta_graph_pb2
from protocol.methods import CLASSIFY_METHOD, DEFAULT_SIGNATURE, PREDICT_METHOD, REGRESS_METHOD
from serving.admission import RunAdmission
from serving.deadlines import NO_DEADLINE, Deadline
from serving.metrics import METRICS
from serving.status import Code, ServingError, failed_precondition, from_tensorflow, invalid_argument

log = logging.getLogger("serving")

_API_BY_METHOD = {CLASSIFY_METHOD: "Classify", REGRESS_METHOD: "Regress"}
# A signature whose runs take at most this long may run on the REST event loop when nothing else is in flight
# there (rest.py): the longest the loop is held by one request, unless an input makes a run slow (an image
# bomb decodes for seconds); after one slow run a signature runs on worker threads for SLOW_RUN_COOLDOWN_S.
QUICK_RUN_S = 0.05
SLOW_RUN_COOLDOWN_S = 60.0


class WouldWait(Exception):
    """A run asked not to wait (for a batch or for its turn) would have had to."""


def read_meta_graph(path: str, tags: Sequence[str]) -> meta_graph_pb2.MetaGraphDef:
    """The MetaGraphDef of `path` whose tag set equals `tags` (the source of method_name)."""
    if not any(os.path.isfile(os.path.join(path, name)) for name in ("saved_model.pb", "saved_model.pbtxt")):
        raise ServingError(
            Code.NOT_FOUND, f"Could not find SavedModel .pb or .pbtxt at supplied export directory path: {path}"
        )
    model = parse_saved_model(path)
    for meta_graph in model.meta_graphs:
        if set(meta_graph.meta_info_def.tags) == set(tags):
            return meta_graph
    available = [sorted(m.meta_info_def.tags) for m in model.meta_graphs]
    raise ServingError(
        Code.NOT_FOUND,
        f"Could not find meta graph def matching supplied tags: "
        f"{{ {' '.join(tags)} }}. To inspect available tag-sets in the SavedModel, "
        f"please use the SavedModel CLI: `saved_model_cli`. Available: {available}",
    )


class Servable:
    """A SavedModel version: signature metadata from saved_model.pb, callables from tf.saved_model.load."""

    def __init__(self, name: str, version: int, path: str, tags: Sequence[str] = ("serve",)):
        self.name = name
        self.version = version
        self.path = path
        self.meta_graph = read_meta_graph(path, tags)
        # In the wire protocol's classes (GetModelMetadata answers with them); same fields, other pool.
        self.signature_defs = {
            key: wire_meta_graph_pb2.SignatureDef.FromString(signature.SerializeToString())
            for key, signature in self.meta_graph.signature_def.items()
        }
        self._loaded = tf.saved_model.load(path, tags=list(tags))
        self._functions = {key: self._loaded.signatures[key] for key in self._loaded.signatures.keys()}
        self.input_specs = {key: fn.structured_input_signature[1] for key, fn in self._functions.items()}
        self.batcher = None  # the shared BatchScheduler, set by the server when this model is batched
        self.batch_options = None  # its queue settings (the model's own batching_params.pbtxt, or the server's)
        self.admission = RunAdmission(0)  # set by the server: --max_concurrent_runs_per_model
        self._quick_from: dict[str, float] = {}  # signature -> monotonic time from which it counts as quick
        METRICS.register_model(name)
        self._in_flight = 0
        self._idle = threading.Condition()

    # ------------------------------------------------------------ handles
    def acquire(self) -> None:
        with self._idle:
            self._in_flight += 1

    def release(self) -> None:
        with self._idle:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.notify_all()

    def wait_idle(self) -> None:
        with self._idle:
            self._idle.wait_for(lambda: self._in_flight == 0)

    def unload(self) -> None:
        self.batcher = None
        self._functions.clear()
        self._loaded = None

    # ------------------------------------------------------------ signatures
    def signature(self, key: str) -> wire_meta_graph_pb2.SignatureDef:
        key = key or DEFAULT_SIGNATURE
        if key not in self.signature_defs:
            raise failed_precondition(f'Serving signature key "{key}" not found.')
        return self.signature_defs[key]

    def input_dtypes(self, key: str) -> dict[str, int]:
        """Input name -> DataType enum; REST's error for an unknown signature."""
        key = key or DEFAULT_SIGNATURE
        if key not in self.signature_defs:
            raise invalid_argument(f'Serving signature name: "{key}" not found in signature def')
        return {name: info.dtype for name, info in self.signature_defs[key].inputs.items()}

    def check_inputs(self, key: str, inputs: Mapping[str, np.ndarray]) -> None:
        """Names, dtypes and shapes against the signature, before anything runs (or joins a batch)."""
        signature = self.signature(key)
        expected = set(signature.inputs)
        sent = set(inputs)
        if sent != expected:
            raise invalid_argument(
                f"input size does not match signature: {len(sent)}!={len(expected)} "
                f"len({{{','.join(sorted(sent))}}}) != len({{{','.join(sorted(expected))}}}). "
                f"Sent extra: {{{','.join(sorted(sent - expected))}}}. "
                f"Missing but required: {{{','.join(sorted(expected - sent))}}}."
            )
        specs = self.input_specs.get(key or DEFAULT_SIGNATURE, {})
        for index, name in enumerate(sorted(expected)):
            array = inputs[name]
            spec = specs.get(name)
            want = signature.inputs[name].dtype
            got = tf.as_dtype(array.dtype).as_datatype_enum if array.dtype != object else tf.string.as_datatype_enum
            if got != want:
                raise invalid_argument(f"Expects arg[{index}] to be {type_name(want)} but {type_name(got)} is provided")
            if spec is not None and not spec.shape.is_compatible_with(array.shape):
                raise invalid_argument(
                    f"The shape of input '{name}' is {list(array.shape)}, which is incompatible "
                    f"with the signature shape {spec.shape.as_list() if spec.shape.rank is not None else '<unknown>'}"
                )

    def runs_quickly(self, key: str) -> bool:
        """The signature ran quickly before, not slowly lately, and nothing (a batch) would make it wait."""
        quick_from = self._quick_from.get(key or DEFAULT_SIGNATURE)
        return self.batcher is None and quick_from is not None and time.monotonic() >= quick_from

    def run(
        self, key: str, inputs: Mapping[str, np.ndarray], deadline: Deadline = NO_DEADLINE, wait: bool = True
    ) -> dict[str, np.ndarray]:
        """Runs a signature, through the batcher when there is one; never starts past the deadline.
        With `wait=False` it raises WouldWait rather than wait for a batch or for its turn."""
        if self.batcher is not None:
            if not wait:
                raise WouldWait
            return self.batcher.run(self, key or DEFAULT_SIGNATURE, inputs, deadline, self.batch_options)
        return self.run_now(key, inputs, deadline, wait)

    def run_now(
        self, key: str, inputs: Mapping[str, np.ndarray], deadline: Deadline = NO_DEADLINE, wait: bool = True
    ) -> dict[str, np.ndarray]:
        fn = self._functions.get(key or DEFAULT_SIGNATURE)
        if fn is None:
            raise failed_precondition(f'Serving signature key "{key}" not found.')
        key = key or DEFAULT_SIGNATURE
        if wait:
            self.admission.enter(deadline)
        elif not self.admission.try_enter():
            raise WouldWait
        try:
            deadline.check()
            start = time.perf_counter()
            try:
                outputs = fn(**{name: tf.constant(value) for name, value in inputs.items()})
                arrays = {name: tensor.numpy() for name, tensor in outputs.items()}
            except Exception as e:  # noqa: BLE001 - every model failure becomes a canonical error
                raise from_tensorflow(e) from None
            elapsed = time.perf_counter() - start
        finally:
            self.admission.leave()
        if elapsed > QUICK_RUN_S:
            self._quick_from[key] = time.monotonic() + SLOW_RUN_COOLDOWN_S
        else:
            self._quick_from.setdefault(key, 0.0)
        api = _API_BY_METHOD.get(self.signature_defs[key].method_name, "Predict")
        METRICS.runtime_latency.labels(self.name, api, "TF2").observe(elapsed * 1e6)
        return arrays

    def predict(
        self,
        key: str,
        inputs: Mapping[str, np.ndarray],
        output_filter: Sequence[str] = (),
        deadline: Deadline = NO_DEADLINE,
        wait: bool = True,
    ) -> dict[str, np.ndarray]:
        signature = self.signature(key)
        if signature.method_name not in (PREDICT_METHOD, CLASSIFY_METHOD, REGRESS_METHOD) and self.method_check:
            raise ServingError(
                Code.INTERNAL,
                "Expected prediction signature method_name to be one of "
                f"{{{PREDICT_METHOD}, {CLASSIFY_METHOD}, {REGRESS_METHOD}}}. "
                f"Was: {signature.method_name}",
            )
        seen = set()
        for alias in output_filter:
            if alias not in signature.outputs:
                raise invalid_argument(
                    f"output tensor alias not found in signature: {alias} Outputs expected to "
                    f"be in the set {{{','.join(sorted(signature.outputs))}}}."
                )
            if alias in seen:
                raise invalid_argument(f"duplicate output tensor alias: {alias}")
            seen.add(alias)
        self.check_inputs(key, inputs)
        outputs = self.run(key, inputs, deadline, wait)
        if output_filter:
            outputs = {alias: outputs[alias] for alias in output_filter}
        return outputs

    method_check = False  # --enable_signature_method_name_check, set by the server
