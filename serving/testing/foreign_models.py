"""SavedModels the project did not export, built the ways other people build them.

TF1 graphs through SavedModelBuilder (ref variables, a main op, an asset-backed lookup table, a
ParseExample regression signature over a [None, 1] placeholder), Keras 2 (tf_keras) and TF Text models:
the kinds TF Serving loads into a Session that TF2's object loader refuses or re-traces.
"""

from __future__ import annotations

import os
from pathlib import Path

from protocol.methods import PREDICT_METHOD, REGRESS_METHOD


def build_tf1_half_plus_three(base_path: str | os.PathLike, version: int = 1) -> Path:
    """A TF1 graph as tensorflow/serving's saved_model_half_plus_three is built: y = 0.5 x + 3.

    Signatures: serving_default (x [None, 1] -> y), regress_x_to_y (serialized tf.Example with float
    feature x -> outputs), incr_counter / get_counter (a ref variable the session keeps between runs),
    lookup (string keys -> int64 ids from a vocabulary asset, its table filled by the main op).
    """
    import tensorflow as tf

    v1 = tf.compat.v1
    version_dir = Path(base_path) / str(version)
    graph = tf.Graph()
    with graph.as_default():
        a = v1.Variable(0.5, name="a", use_resource=False)
        b = v1.Variable(3.0, name="b", use_resource=False)
        counter = v1.Variable(0.0, name="counter", use_resource=False)
        x = v1.placeholder(tf.float32, [None, 1], name="x")
        y = tf.add(a * x, b, name="y")
        serialized = v1.placeholder(tf.string, [None], name="tf_example")
        parsed = v1.parse_example(serialized, {"x": v1.FixedLenFeature([1], tf.float32)})
        regressed = tf.add(a * parsed["x"], b, name="regressed")
        incremented = v1.assign_add(counter, 1.0, name="incr")
        vocabulary = Path(base_path) / f"vocabulary-{version}.txt"
        vocabulary.parent.mkdir(parents=True, exist_ok=True)
        vocabulary.write_text("cat\ndog\nbird\n")
        asset = tf.constant(str(vocabulary), name="vocabulary_path")
        v1.add_to_collection(v1.GraphKeys.ASSET_FILEPATHS, asset)
        whole_line, line_number = v1.lookup.TextFileIndex.WHOLE_LINE, v1.lookup.TextFileIndex.LINE_NUMBER
        initializer = v1.lookup.TextFileInitializer(asset, tf.string, whole_line, tf.int64, line_number)
        table = v1.lookup.StaticHashTable(initializer, default_value=-1)
        keys = v1.placeholder(tf.string, [None], name="keys")
        ids = table.lookup(keys)

        def signature(inputs, outputs, method=PREDICT_METHOD):
            return v1.saved_model.signature_def_utils.build_signature_def(
                {k: v1.saved_model.utils.build_tensor_info(t) for k, t in inputs.items()},
                {k: v1.saved_model.utils.build_tensor_info(t) for k, t in outputs.items()},
                method,
            )

        with v1.Session(graph=graph) as session:
            session.run(v1.global_variables_initializer())
            builder = v1.saved_model.Builder(str(version_dir))
            builder.add_meta_graph_and_variables(
                session,
                [v1.saved_model.tag_constants.SERVING],
                signature_def_map={
                    "serving_default": signature({"x": x}, {"y": y}),
                    "regress_x_to_y": signature({"inputs": serialized}, {"outputs": regressed}, REGRESS_METHOD),
                    "incr_counter": signature({}, {"output": incremented}),
                    "get_counter": signature({}, {"output": counter.value()}),
                    "lookup": signature({"keys": keys}, {"ids": ids}),
                },
                assets_collection=v1.get_collection(v1.GraphKeys.ASSET_FILEPATHS),
                main_op=v1.saved_model.main_op.main_op(),
            )
            builder.save()
    vocabulary.unlink()  # the SavedModel carries its own copy in assets/
    return Path(base_path)


def build_tf_keras(base_path: str | os.PathLike, version: int = 1) -> Path:
    """A Keras 2 (tf_keras) model saved the Keras 2 way, `model.save(dir)`: inputs `x` [None, 3] -> dense."""
    import tf_keras

    inputs = tf_keras.Input(shape=(3,), name="x")
    outputs = tf_keras.layers.Dense(2, kernel_initializer="ones", bias_initializer="zeros", name="dense")(inputs)
    model = tf_keras.Model(inputs, outputs)
    model.save(str(Path(base_path) / str(version)), save_format="tf")
    return Path(base_path)


def build_tf_text(base_path: str | os.PathLike, version: int = 1) -> Path:
    """A model whose graph uses TF Text ops: `text` [None] -> `normalized` (NFKC, case-folded)."""
    import tensorflow as tf
    import tensorflow_text

    module = tf.Module()

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def serve(text):
        return {"normalized": tensorflow_text.case_fold_utf8(tensorflow_text.normalize_utf8(text, "NFKC"))}

    module.serve = serve
    tf.saved_model.save(module, str(Path(base_path) / str(version)), signatures={"serving_default": serve})
    return Path(base_path)


def build_unknown_op(base_path: str | os.PathLike, version: int = 1) -> Path:
    """A SavedModel whose graph names an op no installed library registers (as one built with a custom op)."""
    from tensorflow.core.protobuf import saved_model_pb2

    model_dir = build_tf1_half_plus_three(base_path, version)
    path = model_dir / str(version) / "saved_model.pb"
    model = saved_model_pb2.SavedModel.FromString(path.read_bytes())
    node = model.meta_graphs[0].graph_def.node.add()
    node.name, node.op = "custom", "MadeUpCustomOpForTests"
    path.write_bytes(model.SerializeToString())
    return model_dir
