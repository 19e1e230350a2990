"""TensorFlow's errors as clients see them: the canonical code, the kernel's own words and nothing else."""

from __future__ import annotations

import numpy as np
import pytest

from serving.errors import Code, from_tensorflow


@pytest.fixture(scope="module")
def failing_runs():
    """Two real session errors: an Assert in a function the graph calls, and one in the graph itself."""
    import tensorflow as tf
    from tensorflow.core.protobuf import config_pb2

    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None], name="x")

        @tf.function
        def limited(v):
            tf.debugging.assert_less(v, 10.0, message="image too large")
            return v * 2

        in_function = tf.identity(limited(x), name="in_function")
        check = tf.debugging.assert_less(x, 100.0, message="value too large")
        with tf.control_dependencies([check]):
            in_graph = tf.identity(x, name="in_graph")
    session = tf.compat.v1.Session(graph=graph)
    errors = {}
    for name, tensor in (("function", in_function), ("graph", in_graph)):
        call = session._make_callable_from_options(config_pb2.CallableOptions(feed=["x:0"], fetch=[tensor.name]))
        try:
            call(np.array([1e9], np.float32))
        except tf.errors.OpError as e:
            errors[name] = e
    session.close()
    return errors


@pytest.mark.parametrize("where, words", [("function", "image too large"), ("graph", "value too large")])
def test_a_model_error_keeps_its_code_and_message_without_node_annotations(failing_runs, where, words):
    raw = failing_runs[where].message
    assert "[[" in raw and "{{" in raw  # what TensorFlow adds
    error = from_tensorflow(failing_runs[where])
    assert error.code == Code.INVALID_ARGUMENT
    assert error.message.startswith(f"assertion failed: [{words}]")
    assert "[[" not in error.message and "{{" not in error.message and "\n" not in error.message
