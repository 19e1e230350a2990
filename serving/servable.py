"""One loaded SavedModel version, held as the official server holds it: a Session and its SignatureDefs.

Signatures run by tensor name (serving/session_bundle.py); the request's input names and dtypes are checked
against the SignatureDef first, with the official messages, and the graph judges everything else (shapes
included), as `Session::Run` does in tensorflow_model_server.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from protocol.dtypes import type_name
from protocol.generated.tensorflow.core.protobuf import meta_graph_pb2 as wire_meta_graph_pb2
from protocol.methods import CLASSIFY_METHOD, DEFAULT_SIGNATURE, PREDICT_METHOD, REGRESS_METHOD
from serving import session_bundle, tracing
from serving.admission import RunAdmission
from serving.batching import Batching
from serving.deadlines import NO_DEADLINE, Deadline
from serving.errors import Code, ServingError, failed_precondition, from_tensorflow, invalid_argument
from serving.metrics import METRICS
from serving.session_bundle import SessionCall, SessionSettings

log = logging.getLogger("serving")

_API_BY_METHOD = {CLASSIFY_METHOD: "Classify", REGRESS_METHOD: "Regress"}
# A signature whose runs take at most this long may run on the REST event loop when nothing else is in flight
# there (serving/api/tfs_rest.py): the longest the loop is held by one request, unless an input makes a run slow
# (an image bomb decodes for seconds); after one run longer than SLOW_RUN_S a signature runs on worker threads for
# SLOW_RUN_COOLDOWN_S. A run between the two (a 30 ms model that took 60 ms on a busy machine) changes nothing:
# counting it as slow sent B0 (p99 ~50 ms here) to worker threads for most of every minute.
QUICK_RUN_S = 0.05
SLOW_RUN_S = 0.25
SLOW_RUN_COOLDOWN_S = 60.0
# Each distinct set of fetched outputs (output_filter) is its own callable, i.e. its own executor in the
# session. A client could otherwise ask for every subset of a signature's outputs: past this many callables
# per servable, a filtered request runs the signature's full callable and the filter is applied afterwards.
MAX_CALLABLES = 32


@dataclass(frozen=True)
class ServableOptions:
    """Everything a loaded version is configured with, from the server's flags."""

    session: SessionSettings = SessionSettings()
    method_check: bool = False  # --enable_signature_method_name_check
    max_concurrent_runs: int = 0  # --max_concurrent_runs_per_model (0: no limit)
    batching: Batching | None = None  # --enable_batching: the shared scheduler and the queue settings rule
    warmup_iterations: int = 0  # --enable_model_warmup: replay each warmup record this often (0: no warmup)


class WouldWait(Exception):
    """A run asked not to wait (for a batch or for its turn) would have had to."""


def _dtype_enum(array: np.ndarray) -> int:
    import tensorflow as tf

    if array.dtype.kind in "OSU":
        return tf.string.as_datatype_enum
    return tf.as_dtype(array.dtype).as_datatype_enum


class Servable:
    """A SavedModel version in its own Session; `run` and `predict` are safe to call from many threads."""

    def __init__(self, name: str, version: int, path: str, options: ServableOptions = ServableOptions()):
        self.name = name
        self.version = version
        self.path = path
        self.options = options
        self._session, meta_graph = session_bundle.load(path, options.session, name, version)
        # In the wire protocol's classes (GetModelMetadata answers with them); same fields, other pool.
        self.signature_defs = {
            key: wire_meta_graph_pb2.SignatureDef.FromString(signature.SerializeToString())
            for key, signature in meta_graph.signature_def.items()
        }
        self.batcher = options.batching.scheduler if options.batching is not None else None
        self.batch_options = options.batching.queue_options(path) if options.batching is not None else None
        if self.batch_options is None:
            self.batcher = None
        self.admission = RunAdmission(options.max_concurrent_runs)
        self._calls: OrderedDict[tuple[str, tuple[str, ...]], SessionCall] = OrderedDict()
        self._calls_lock = threading.Lock()
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
        """Closes the session: its variables, kernels and executors go with it."""
        self.batcher = None
        with self._calls_lock:
            self._calls.clear()
        session, self._session = self._session, None
        if session is not None:
            session.close()

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
        """Names and dtypes against the signature (the official messages), before anything runs or joins a
        batch. Shapes are the graph's to judge, as in Session::Run."""
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
        for index, name in enumerate(sorted(expected)):
            want = signature.inputs[name].dtype
            got = _dtype_enum(inputs[name])
            if got != want:
                raise invalid_argument(f"Expects arg[{index}] to be {type_name(want)} but {type_name(got)} is provided")

    def runs_quickly(self, key: str) -> bool:
        """The signature ran quickly before, not slowly lately, and nothing (a batch) would make it wait."""
        quick_from = self._quick_from.get(key or DEFAULT_SIGNATURE)
        return self.batcher is None and quick_from is not None and time.monotonic() >= quick_from

    # ------------------------------------------------------------ runs
    def _call(self, key: str, fetches: tuple[str, ...]) -> tuple[SessionCall, tuple[str, ...]]:
        """The callable fetching `fetches` (all outputs when empty) and the aliases it returns, in order."""
        signature = self.signature_defs[key]
        fetched = fetches or tuple(sorted(signature.outputs))
        with self._calls_lock:
            if self._session is None:
                raise ServingError(Code.UNAVAILABLE, f"Servable {self.name} version {self.version} is unloaded")
            call = self._calls.get((key, fetched))
            if call is not None:
                self._calls.move_to_end((key, fetched))
                return call, fetched
            if fetches and len(self._calls) >= MAX_CALLABLES:
                return self._call_locked(key, ()), tuple(sorted(signature.outputs))
            return self._call_locked(key, fetched), fetched

    def _call_locked(self, key: str, fetched: tuple[str, ...]) -> SessionCall:
        signature = self.signature_defs[key]
        fetched = fetched or tuple(sorted(signature.outputs))
        call = self._calls.get((key, fetched))
        if call is None:
            if not fetched:
                raise failed_precondition(f'Serving signature "{key}" has no outputs to fetch.')
            feeds = [signature.inputs[name].name for name in sorted(signature.inputs)]
            try:
                call = SessionCall(self._session, feeds, [signature.outputs[alias].name for alias in fetched])
            except Exception as e:  # noqa: BLE001 - a signature naming tensors the graph lacks
                raise from_tensorflow(e) from None
            self._calls[(key, fetched)] = call
            while len(self._calls) > MAX_CALLABLES:
                self._calls.popitem(last=False)
        return call

    def run(
        self,
        key: str,
        inputs: Mapping[str, np.ndarray],
        deadline: Deadline = NO_DEADLINE,
        wait: bool = True,
        outputs: Sequence[str] = (),
    ) -> dict[str, np.ndarray]:
        """Runs a signature, through the batcher when there is one; never starts past the deadline.
        With `wait=False` it raises WouldWait rather than wait for a batch or for its turn."""
        if self.batcher is not None:
            if not wait:
                raise WouldWait
            results = self.batcher.run(self, key or DEFAULT_SIGNATURE, inputs, deadline, self.batch_options)
            return {alias: results[alias] for alias in outputs} if outputs else results
        return self.run_now(key, inputs, deadline, wait, outputs)

    def run_now(
        self,
        key: str,
        inputs: Mapping[str, np.ndarray],
        deadline: Deadline = NO_DEADLINE,
        wait: bool = True,
        outputs: Sequence[str] = (),
    ) -> dict[str, np.ndarray]:
        """One Session run of signature `key`, fetching `outputs` (all when empty)."""
        key = key or DEFAULT_SIGNATURE
        if key not in self.signature_defs:
            raise failed_precondition(f'Serving signature key "{key}" not found.')
        call, fetched = self._call(key, tuple(outputs))
        feeds = [inputs[name] for name in sorted(inputs)]
        if wait:
            self.admission.enter(deadline)
        elif not self.admission.try_enter():
            raise WouldWait
        try:
            deadline.check()
            start = time.perf_counter()
            try:
                with tracing.span("model.run", {"serving.model.signature_name": key}):
                    values = call(*feeds)
            except Exception as e:  # noqa: BLE001 - every model failure becomes a canonical error
                raise from_tensorflow(e) from None
            elapsed = time.perf_counter() - start
        finally:
            self.admission.leave()
        if elapsed > SLOW_RUN_S:
            self._quick_from[key] = time.monotonic() + SLOW_RUN_COOLDOWN_S
        elif elapsed <= QUICK_RUN_S:
            self._quick_from.setdefault(key, 0.0)
        api = _API_BY_METHOD.get(self.signature_defs[key].method_name, "Predict")
        METRICS.runtime_latency.labels(self.name, api, "TF1").observe(elapsed * 1e6)
        results = {alias: np.asarray(value) for alias, value in zip(fetched, values)}
        return {alias: results[alias] for alias in outputs} if outputs else results

    def predict(
        self,
        key: str,
        inputs: Mapping[str, np.ndarray],
        output_filter: Sequence[str] = (),
        deadline: Deadline = NO_DEADLINE,
        wait: bool = True,
    ) -> dict[str, np.ndarray]:
        """PreProcessPrediction + Session::Run: the signature's method, the output filter and the inputs'
        names and dtypes are checked, then the graph runs."""
        signature = self.signature(key)
        if signature.method_name not in (PREDICT_METHOD, CLASSIFY_METHOD, REGRESS_METHOD) and self.options.method_check:
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
        return self.run(key, inputs, deadline, wait, tuple(output_filter))
