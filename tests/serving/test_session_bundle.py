"""A SavedModel in a Session, as the official server holds it: settings, loading, running by tensor name."""

from __future__ import annotations

import numpy as np
import pytest

from serving import servable as servable_module
from serving.errors import Code, ServingError
from serving.servable import Servable, ServableOptions
from serving.session_bundle import SessionSettings, load
from serving.testing.foreign_models import build_tf1_half_plus_three, build_unknown_op
from serving.testing.models import build_multi_io, build_slow


@pytest.fixture(scope="module")
def tf1_model(tmp_path_factory):
    return build_tf1_half_plus_three(tmp_path_factory.mktemp("tf1") / "half_plus_three") / "1"


@pytest.fixture(scope="module")
def multi_io_model(tmp_path_factory):
    return build_multi_io(tmp_path_factory.mktemp("multi_io") / "multi_io") / "1"


def test_settings_apply_the_config_file_then_the_flags_as_officially():
    from tensorflow.core.protobuf import config_pb2, rewriter_config_pb2

    settings = SessionSettings.build(
        tags=["serve", "gpu"],
        config_text="intra_op_parallelism_threads: 7 allow_soft_placement: true",
        inter_op_threads=3,
        mixed_precision="bfloat16",
    )
    config = settings.config_proto("model", 4)
    assert settings.tags == ("serve", "gpu")
    assert config.allow_soft_placement  # from the file
    assert (config.intra_op_parallelism_threads, config.inter_op_parallelism_threads) == (0, 3)  # flags win
    rewrite = config.graph_options.rewrite_options
    assert rewrite.auto_mixed_precision_onednn_bfloat16 == rewriter_config_pb2.RewriterConfig.ON
    assert (config.experimental.session_metadata.name, config.experimental.session_metadata.version) == ("model", 4)
    assert isinstance(config, config_pb2.ConfigProto)
    untouched = SessionSettings.build(config_text="intra_op_parallelism_threads: 7").config_proto("m", 1)
    assert untouched.intra_op_parallelism_threads == 7  # no flag given: the file's value stays


def test_a_session_config_that_does_not_parse_is_refused():
    with pytest.raises(ServingError) as raised:
        SessionSettings.build(config_text="intra_op_parallelism_threads: many")
    assert raised.value.code == Code.INVALID_ARGUMENT
    assert "ConfigProto" in raised.value.message


def test_loading_keeps_the_signatures_and_drops_the_graph(tf1_model):
    session, meta_graph = load(str(tf1_model), SessionSettings())
    try:
        assert set(meta_graph.signature_def) == {
            "serving_default",
            "regress_x_to_y",
            "incr_counter",
            "get_counter",
            "lookup",
        }
        assert meta_graph.signature_def["serving_default"].inputs["x"].name == "x:0"
        assert not meta_graph.graph_def.node  # the graph lives on in the session only
    finally:
        session.close()


def test_an_unknown_tag_set_names_the_available_ones(tf1_model):
    with pytest.raises(ServingError) as raised:
        load(str(tf1_model), SessionSettings(tags=("serve", "tpu")))
    assert raised.value.code == Code.NOT_FOUND
    assert "Could not find meta graph def matching supplied tags: { serve tpu }" in raised.value.message
    assert "['serve']" in raised.value.message


def test_an_op_no_library_registers_fails_the_load_with_what_to_install(tmp_path):
    path = build_unknown_op(tmp_path / "custom") / "1"
    with pytest.raises(ServingError) as raised:
        load(str(path), SessionSettings())
    assert raised.value.code == Code.NOT_FOUND
    assert "Op type not registered 'MadeUpCustomOpForTests'" in raised.value.message
    assert "pip install tensorflow-text" in raised.value.message


def test_the_graph_judges_shapes(tf1_model):
    """[3] into a [None, 1] placeholder runs (broadcast by the graph), as in the official server."""
    servable = Servable("tf1", 1, str(tf1_model))
    try:
        outputs = servable.predict("", {"x": np.array([2.0, 3.0, 4.0], np.float32)})
        np.testing.assert_array_equal(outputs["y"], [4.0, 4.5, 5.0])
        with pytest.raises(ServingError) as raised:  # a shape the graph cannot take: its own error
            servable.predict("regress_x_to_y", {"inputs": np.array([[b""]], object)})  # ParseExample: a vector
        assert raised.value.code == Code.INVALID_ARGUMENT
        assert "[[" not in raised.value.message and "{{node" not in raised.value.message
    finally:
        servable.unload()


def test_ref_variables_assets_and_the_main_op_work(tf1_model):
    servable = Servable("tf1", 1, str(tf1_model))
    try:
        assert servable.predict("incr_counter", {})["output"] == 1.0
        assert servable.predict("incr_counter", {})["output"] == 2.0
        assert servable.predict("get_counter", {})["output"] == 2.0  # the session keeps the state
        ids = servable.predict("lookup", {"keys": np.array([b"dog", b"bird", b"fish"], object)})["ids"]
        np.testing.assert_array_equal(ids, [1, 2, -1])  # the table the main op filled from the asset
    finally:
        servable.unload()


def test_dtypes_are_checked_with_the_official_message(tf1_model):
    servable = Servable("tf1", 1, str(tf1_model))
    try:
        with pytest.raises(ServingError) as raised:
            servable.predict("", {"x": np.array([[1.0]], np.float64)})
        assert raised.value.code == Code.INVALID_ARGUMENT
        assert raised.value.message == "Expects arg[0] to be float but double is provided"
    finally:
        servable.unload()


def test_output_filters_share_a_bounded_set_of_callables(multi_io_model, monkeypatch):
    monkeypatch.setattr(servable_module, "MAX_CALLABLES", 2)
    servable = Servable("multi_io", 1, str(multi_io_model))
    inputs = {"a": np.array([[1.0, 2.0]], np.float32), "b": np.array([3], np.int64)}
    try:
        full = servable.predict("", inputs)
        for selection in (("total",), ("flag",), ("doubled", "total"), ("flag", "doubled"), ("total",)):
            outputs = servable.predict("", inputs, selection)
            assert list(outputs) == list(selection)
            for alias in selection:
                np.testing.assert_array_equal(outputs[alias], full[alias])
            assert len(servable._calls) <= 2
    finally:
        servable.unload()


def test_an_unloaded_version_answers_unavailable(tf1_model):
    servable = Servable("tf1", 1, str(tf1_model), ServableOptions())
    servable.unload()
    with pytest.raises(ServingError) as raised:
        servable.predict("", {"x": np.array([[1.0]], np.float32)})
    assert raised.value.code == Code.UNAVAILABLE


def test_only_a_slow_run_sends_a_signature_off_the_event_loop(tmp_path):
    """A quick signature stays a candidate for the REST event loop through a run that is merely slower than
    usual (a busy machine), and leaves it for the cooldown after a run past SLOW_RUN_S (an input that costs
    seconds)."""
    servable = Servable("slow", 1, str(build_slow(tmp_path / "slow") / "1"))
    try:
        assert not servable.runs_quickly("")  # nothing known before a first run
        for seconds in (0.0, 0.0):
            servable.predict("", {"seconds": np.array([seconds], np.float32)})
        assert servable.runs_quickly("")
        middling = (servable_module.QUICK_RUN_S + servable_module.SLOW_RUN_S) / 2
        servable.predict("", {"seconds": np.array([middling], np.float32)})
        assert servable.runs_quickly("")
        servable.predict("", {"seconds": np.array([servable_module.SLOW_RUN_S + 0.05], np.float32)})
        assert not servable.runs_quickly("")
        servable.predict("", {"seconds": np.array([0.0], np.float32)})
        assert not servable.runs_quickly("")  # the cooldown outlasts a quick run
    finally:
        servable.unload()
