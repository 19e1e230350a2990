"""A SavedModel loaded as TensorFlow Serving loads it: the MetaGraph for a tag set, in its own Session.

The official server (SavedModelBundleFactory) imports the MetaGraphDef into a Session, restores the
variables, runs the main/legacy-init op (and TF2's `__saved_model_init_op`) with the assets, and from then
on runs signatures with `Session::Run` on their tensor names. Doing the same here is what lets every
SavedModel the official server loads load here too (TF1 graphs, ref variables, Keras 2 and 3 exports), lets
the graph judge input shapes, and gives a version's memory back when its Session closes (TF2's object
loader keeps traced functions alive in the process).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass

import tensorflow as tf
from tensorflow.core.protobuf import config_pb2, meta_graph_pb2, rewriter_config_pb2
from tensorflow.python.framework import op_def_registry
from tensorflow.python.saved_model.loader_impl import SavedModelLoader

from serving.errors import Code, ServingError

log = logging.getLogger("serving")

# Op libraries the official binary links in, imported (when installed) only for a graph that needs their ops.
_OP_LIBRARIES = {"tensorflow_text": "tensorflow-text"}


@dataclass(frozen=True)
class SessionSettings:
    """What every model's Session is created with (SessionBundleConfig): the MetaGraph tags, and the
    ConfigProto built from --tensorflow_session_config_file, the parallelism flags and --mixed_precision."""

    tags: tuple[str, ...] = ("serve",)
    config: bytes = b""  # a serialized ConfigProto

    @classmethod
    def build(
        cls,
        tags: Sequence[str] = ("serve",),
        config_text: str = "",
        intra_op_threads: int = 0,
        inter_op_threads: int = 0,
        gpu_memory_fraction: float = 0.0,
        mixed_precision: str = "",
    ) -> SessionSettings:
        """The official order: the config file first, then the GPU fraction and thread counts, then the bf16
        rewrite."""
        from google.protobuf import text_format

        config = config_pb2.ConfigProto()
        if config_text:
            try:
                text_format.Parse(config_text, config)
            except text_format.ParseError as e:
                raise ServingError(Code.INVALID_ARGUMENT, f"Invalid ConfigProto in session config file: {e}") from None
        config.gpu_options.per_process_gpu_memory_fraction = gpu_memory_fraction
        if intra_op_threads > 0 or inter_op_threads > 0:
            config.intra_op_parallelism_threads = max(intra_op_threads, 0)
            config.inter_op_parallelism_threads = max(inter_op_threads, 0)
        if mixed_precision == "bfloat16":
            rewrite = config.graph_options.rewrite_options
            rewrite.auto_mixed_precision_onednn_bfloat16 = rewriter_config_pb2.RewriterConfig.ON
        return cls(tuple(tags) or ("serve",), config.SerializeToString())

    def config_proto(self, name: str, version: int) -> config_pb2.ConfigProto:
        config = config_pb2.ConfigProto.FromString(self.config)
        config.experimental.session_metadata.name = name
        config.experimental.session_metadata.version = version
        return config


def saved_model_path_check(path: str) -> None:
    if not any(os.path.isfile(os.path.join(path, name)) for name in ("saved_model.pb", "saved_model.pbtxt")):
        raise ServingError(
            Code.NOT_FOUND, f"Could not find SavedModel .pb or .pbtxt at supplied export directory path: {path}"
        )


def _meta_graph(loader: SavedModelLoader, path: str, tags: Sequence[str]) -> meta_graph_pb2.MetaGraphDef:
    for meta_graph in loader.saved_model.meta_graphs:
        if set(meta_graph.meta_info_def.tags) == set(tags):
            return meta_graph
    available = [sorted(m.meta_info_def.tags) for m in loader.saved_model.meta_graphs]
    raise ServingError(
        Code.NOT_FOUND,
        f"Could not find meta graph def matching supplied tags: "
        f"{{ {' '.join(tags)} }}. To inspect available tag-sets in the SavedModel, "
        f"please use the SavedModel CLI: `saved_model_cli`. Available: {available}",
    )


def _unregistered_ops(meta_graph: meta_graph_pb2.MetaGraphDef) -> set[str]:
    graph = meta_graph.graph_def
    ops = {node.op for node in graph.node}
    for function in graph.library.function:
        ops.update(node.op for node in function.node_def)
    ops -= {function.signature.name for function in graph.library.function}
    return {op for op in ops if op_def_registry.get(op) is None}


def _register_op_libraries(meta_graph: meta_graph_pb2.MetaGraphDef, path: str) -> None:
    """Imports the op libraries a graph needs (the official binary links TF Text in); a graph whose ops
    no installed library provides fails its load with one line saying which ops and what to install."""
    missing = _unregistered_ops(meta_graph)
    for module in _OP_LIBRARIES:
        if not missing:
            return
        try:
            __import__(module)
        except ImportError:
            continue
        missing = _unregistered_ops(meta_graph)
    if missing:
        hint = ", ".join(f"pip install {package}" for package in _OP_LIBRARIES.values())
        raise ServingError(
            Code.NOT_FOUND,
            f"Op type not registered '{sorted(missing)[0]}' in binary (the SavedModel at {path} uses ops "
            f"{sorted(missing)} that no installed op library provides; TF Text ops: {hint})",
        )


def load(
    path: str, settings: SessionSettings, name: str = "", version: int = 0
) -> tuple[tf.compat.v1.Session, meta_graph_pb2.MetaGraphDef]:
    """A Session holding the SavedModel's MetaGraph for `settings.tags`, variables restored, init ops run.

    Returns the session and the MetaGraphDef reduced to its signatures (as the official
    --remove_unused_fields_from_bundle_metagraph does: the graph itself lives on in the session)."""
    saved_model_path_check(path)
    loader = SavedModelLoader(path)
    meta_graph = _meta_graph(loader, path, settings.tags)
    _register_op_libraries(meta_graph, path)
    graph = tf.Graph()
    session = tf.compat.v1.Session(graph=graph, config=settings.config_proto(name, version))
    try:
        with graph.as_default():
            loader.load(session, list(settings.tags))
    except BaseException:
        session.close()
        raise
    signatures = meta_graph_pb2.MetaGraphDef()
    signatures.meta_info_def.CopyFrom(meta_graph.meta_info_def)
    signatures.signature_def.MergeFrom(meta_graph.signature_def)
    return session, signatures


class SessionCall:
    """One signature's run: feeds and fetches by tensor name, as `Session::Run` takes them.

    Built from CallableOptions, so no Python-side shape check stands between the request and the graph
    (Session.run and make_callable add one; the official server has none)."""

    def __init__(self, session: tf.compat.v1.Session, feeds: Sequence[str], fetches: Sequence[str]):
        options = config_pb2.CallableOptions(feed=list(feeds), fetch=list(fetches))
        self._call = session._make_callable_from_options(options)  # noqa: SLF001 - the only shape-check-free path

    def __call__(self, *arrays):
        return self._call(*arrays)
