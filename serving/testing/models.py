"""Small real SavedModels for the server's tests and benchmarks, each built the way a user would build it.

from serving.testing.models import build_half_plus_two
base = build_half_plus_two(tmp_path / "half_plus_two")   # <base>/1/saved_model.pb
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from protocol import tensors
from protocol.generated.tensorflow_serving.apis import prediction_log_pb2
from protocol.layout import WARMUP_FILE
from protocol.methods import CLASSIFY_METHOD, REGRESS_METHOD


def _tensorflow():
    """TensorFlow for building a SavedModel; in the client-only venv the test skips instead."""
    import pytest

    return pytest.importorskip("tensorflow", reason="builds a SavedModel: the client-only venv has no TensorFlow")


# ---------------------------------------------------------------------------- models


def set_method_names(version_dir: str | os.PathLike, methods: Mapping[str, str]) -> None:
    """Rewrites signature method_name in saved_model.pb (tf.saved_model.save always writes predict)."""
    from tensorflow.core.protobuf import saved_model_pb2

    path = Path(version_dir) / "saved_model.pb"
    model = saved_model_pb2.SavedModel()
    model.ParseFromString(path.read_bytes())
    for meta_graph in model.meta_graphs:
        for key, method in methods.items():
            meta_graph.signature_def[key].method_name = method
    path.write_bytes(model.SerializeToString())


def build_half_plus_two(
    base_path: str | os.PathLike, version: int = 1, slope: float = 0.5, offset: float = 2.0, warmup: bool = False
) -> Path:
    """y = slope*x + offset with signatures serving_default (x -> y), classify_x_to_y, regress_x_to_y.

    classify/regress take serialized tf.Example `inputs` with float feature `x` and carry the
    classify/regress method_name; classify answers `scores` only (label "").
    """
    tf = _tensorflow()

    module = tf.Module()
    module.slope = tf.Variable(slope, dtype=tf.float32)
    module.offset = tf.Variable(offset, dtype=tf.float32)

    def line(x):
        return module.slope * x + module.offset

    def parse(serialized):
        features = tf.io.parse_example(serialized, {"x": tf.io.FixedLenFeature([1], tf.float32)})
        return line(features["x"])

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
    def predict(x):
        return {"y": line(x)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    def classify(inputs):
        return {"scores": parse(inputs)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    def regress(inputs):
        return {"outputs": parse(inputs)}

    module.predict, module.classify, module.regress = predict, classify, regress
    version_dir = Path(base_path) / str(version)
    tf.saved_model.save(
        module,
        str(version_dir),
        signatures={"serving_default": predict, "classify_x_to_y": classify, "regress_x_to_y": regress},
    )
    set_method_names(version_dir, {"classify_x_to_y": CLASSIFY_METHOD, "regress_x_to_y": REGRESS_METHOD})
    if warmup:
        write_predict_warmup(version_dir, {"x": np.array([1.0, 2.0], np.float32)})
    return Path(base_path)


def build_strings(base_path: str | os.PathLike, version: int = 1) -> Path:
    """String in, strings out: `text` -> `upper` (text) and `text_bytes` (same bytes, b64 over REST), `length`."""
    tf = _tensorflow()

    module = tf.Module()

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def serve(text):
        return {
            "upper": tf.strings.upper(text),
            "text_bytes": tf.identity(text),
            "length": tf.strings.length(text, unit="BYTE"),
        }

    module.serve = serve
    tf.saved_model.save(module, str(Path(base_path) / str(version)), signatures={"serving_default": serve})
    return Path(base_path)


def build_multi_io(base_path: str | os.PathLike, version: int = 1) -> Path:
    """Two inputs, three outputs: a float [N,2], b int64 [N] -> total = sum(a)+b, doubled = 2a, flag = b>0."""
    tf = _tensorflow()

    module = tf.Module()

    @tf.function(
        input_signature=[tf.TensorSpec([None, 2], tf.float32, name="a"), tf.TensorSpec([None], tf.int64, name="b")]
    )
    def serve(a, b):
        return {"total": tf.reduce_sum(a, axis=1) + tf.cast(b, tf.float32), "doubled": 2.0 * a, "flag": b > 0}

    module.serve = serve
    tf.saved_model.save(module, str(Path(base_path) / str(version)), signatures={"serving_default": serve})
    return Path(base_path)


def build_any_shape(base_path: str | os.PathLike, version: int = 1) -> Path:
    """json_tensor_test.cc's three inputs, of any shape: `int_tensor` int32 -> `int_doubled`, `str_tensor` ->
    `str` (the same strings), `bin_tensor` -> `bin_bytes` (the same bytes, b64 over REST)."""
    tf = _tensorflow()

    module = tf.Module()
    specs = [
        tf.TensorSpec(None, tf.int32, name="int_tensor"),
        tf.TensorSpec(None, tf.string, name="str_tensor"),
        tf.TensorSpec(None, tf.string, name="bin_tensor"),
    ]

    @tf.function(input_signature=specs)
    def serve(int_tensor, str_tensor, bin_tensor):
        return {"int_doubled": 2 * int_tensor, "str": tf.identity(str_tensor), "bin_bytes": tf.identity(bin_tensor)}

    module.serve = serve
    tf.saved_model.save(module, str(Path(base_path) / str(version)), signatures={"serving_default": serve})
    return Path(base_path)


def build_float16(base_path: str | os.PathLike, version: int = 1) -> Path:
    """A half-precision input `h` [N] -> `doubled` float32 (REST cannot carry half: 501)."""
    tf = _tensorflow()

    module = tf.Module()

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float16, name="h")])
    def serve(h):
        return {"doubled": 2.0 * tf.cast(h, tf.float32)}

    module.serve = serve
    tf.saved_model.save(module, str(Path(base_path) / str(version)), signatures={"serving_default": serve})
    return Path(base_path)


def build_slow(base_path: str | os.PathLike, version: int = 1) -> Path:
    """`seconds` float [N] -> `slept` (the same values) after spinning max(seconds) of wall time.

    Pure TensorFlow ops (a while loop on tf.timestamp), so the delay survives SavedModel export;
    it keeps one core busy while it waits, so tests use it for a few seconds at most.
    """
    tf = _tensorflow()

    module = tf.Module()

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="seconds")])
    def serve(seconds):
        wait = tf.cast(tf.reduce_max(tf.concat([seconds, [0.0]], 0)), tf.float64)
        start = tf.timestamp()
        elapsed = tf.while_loop(lambda t: t < wait, lambda t: [tf.timestamp() - start], [tf.constant(0.0, tf.float64)])
        return {"slept": seconds + 0.0 * tf.cast(elapsed, tf.float32)}

    module.serve = serve
    tf.saved_model.save(module, str(Path(base_path) / str(version)), signatures={"serving_default": serve})
    return Path(base_path)


def build_turnstile(base_path: str | os.PathLike, version: int = 1) -> Path:
    """`seconds` float [N] -> `order` int64 [N]: how many runs started before this one ended (1 for the first
    run), and `running` int64 [N]: the runs in progress when this one started (itself included); the run spins
    max(seconds) of wall time between the two. Shows the order and the overlap of model runs in a server."""
    tf = _tensorflow()

    module = tf.Module()
    module.started = tf.Variable(0, dtype=tf.int64)
    module.in_progress = tf.Variable(0, dtype=tf.int64)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="seconds")])
    def serve(seconds):
        with tf.control_dependencies(
            [module.in_progress.assign_add(1, read_value=False), module.started.assign_add(1, read_value=False)]
        ):
            running, order = module.in_progress.read_value(), module.started.read_value()
        wait = tf.cast(tf.reduce_max(tf.concat([seconds, [0.0]], 0)), tf.float64)
        start = tf.timestamp() + 0.0 * tf.cast(running + order, tf.float64)
        (elapsed,) = tf.while_loop(
            lambda t: t < wait, lambda t: [tf.timestamp() - start], [tf.constant(0.0, tf.float64)]
        )
        with tf.control_dependencies([elapsed]):
            module.in_progress.assign_sub(1)
        rows = tf.shape(seconds, out_type=tf.int64)
        return {"order": tf.fill(rows, order), "running": tf.fill(rows, running)}

    module.serve = serve
    tf.saved_model.save(module, str(Path(base_path) / str(version)), signatures={"serving_default": serve})
    return Path(base_path)


def build_fill(base_path: str | os.PathLike, version: int = 1) -> Path:
    """`count` int64 [1] -> `values` float32 [count] of 0.5: a tiny request that asks for a large answer."""
    import tensorflow as tf

    module = tf.Module()

    @tf.function(input_signature=[tf.TensorSpec([1], tf.int64, name="count")])
    def serve(count):
        return {"values": tf.fill(tf.cast(count, tf.int32), 0.5)}

    module.serve = serve
    tf.saved_model.save(module, str(Path(base_path) / str(version)), signatures={"serving_default": serve})
    return Path(base_path)


def build_sum(base_path: str | os.PathLike, version: int = 1) -> Path:
    """`x` float32 [n] -> `total` float32 [1]: a large request that asks for a tiny answer."""
    import tensorflow as tf

    module = tf.Module()

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
    def serve(x):
        return {"total": tf.reduce_sum(x, keepdims=True)}

    module.serve = serve
    tf.saved_model.save(module, str(Path(base_path) / str(version)), signatures={"serving_default": serve})
    return Path(base_path)


def write_predict_warmup(version_dir: str | os.PathLike, inputs: Mapping[str, np.ndarray], signature: str = "") -> Path:
    """assets.extra/tf_serving_warmup_requests with one Predict record of `inputs`."""
    import tensorflow as tf

    record = prediction_log_pb2.PredictionLog()
    request = record.predict_log.request
    request.model_spec.signature_name = signature
    for name, array in inputs.items():
        tensors.write(request.inputs[name], array)
    path = Path(version_dir) / WARMUP_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        writer.write(record.SerializeToString())
    return path
