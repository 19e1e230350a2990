"""Official pickle → Keras: round trip on pickles with the official object layout and variable names."""

import pickle
import sys

import numpy as np
import pytest

from export.cli import main
from export.errors import ExportError
from export.stylegan.weights.convert import discriminator_from_pickle, generator_from_pickle, read_official_pickle
from tests.export.cli_output import messages
from tests.export.stylegan import numpy_reference as ref
from tests.export.stylegan.official_pickle import write_official_pickle


def as_float64(variables):
    return {k: np.asarray(v, np.float64) for k, v in variables.items()}


def test_generator_from_pickle_computes_what_the_official_weights_define(tmp_path, monkeypatch):
    path = tmp_path / "karras2019stylegan-test-16x16.pkl"
    official = write_official_pickle(path, monkeypatch)
    for network in ("Gs", "G"):
        generator = generator_from_pickle(path, network=network)
        v = as_float64(official[network])
        assert generator.config.resolution == 16 and generator.config.nf(1) == 8
        z = np.random.default_rng(1).standard_normal((3, 16)).astype(np.float32)
        dlatents = np.repeat(ref.mapping(z, v)[:, None], generator.num_layers, axis=1)
        expected = ref.synthesis(ref.truncate(dlatents, v["dlatent_avg"], 0.7, 8), v, 16).transpose(0, 2, 3, 1)
        got = generator(z, truncation_psi=0.7, truncation_cutoff=8).numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-3 * np.abs(expected).max())
        np.testing.assert_array_equal(generator.dlatent_avg.numpy(), official[network]["dlatent_avg"])
        np.testing.assert_array_equal(
            generator.synthesis.noise_inputs[2].numpy()[0, :, :, 0], official[network]["G_synthesis/noise2"][0, 0]
        )


def test_discriminator_from_pickle(tmp_path, monkeypatch):
    path = tmp_path / "net.pkl"
    official = write_official_pickle(path, monkeypatch)
    discriminator = discriminator_from_pickle(path)
    images = np.random.default_rng(2).standard_normal((4, 16, 16, 3)).astype(np.float32)
    expected = ref.discriminator(images.transpose(0, 3, 1, 2), as_float64(official["D"]), 16)
    np.testing.assert_allclose(discriminator(images).numpy(), expected, rtol=1e-3, atol=1e-3 * np.abs(expected).max())


def test_reader_keeps_the_official_structure(tmp_path, monkeypatch):
    path = tmp_path / "net.pkl"
    official = write_official_pickle(path, monkeypatch)
    g, d, gs = read_official_pickle(path)
    assert (g.name, d.name, gs.name) == ("G", "D", "Gs")
    assert set(gs.components) == {"mapping", "synthesis"}
    assert gs.build_func_name == "G_style"
    assert set(gs.variables) == set(official["Gs"])
    for name in (
        "G_mapping/Dense0/weight",
        "G_synthesis/4x4/Const/const",
        "G_synthesis/8x8/Conv0_up/weight",
        "G_synthesis/noise0",
        "dlatent_avg",
    ):
        np.testing.assert_array_equal(gs.variables[name], official["Gs"][name])


def test_missing_variable_is_named(tmp_path, monkeypatch):
    path = tmp_path / "net.pkl"
    write_official_pickle(path, monkeypatch, edit=lambda v: v.pop("8x8/Conv1/weight"))
    with pytest.raises(ExportError, match="G_synthesis/8x8/Conv1/weight is missing"):
        generator_from_pickle(path)


def test_misshaped_variable_is_named_with_both_shapes(tmp_path, monkeypatch):
    path = tmp_path / "net.pkl"
    write_official_pickle(
        path, monkeypatch, edit=lambda v: v.update({"4x4/Const/const": np.ones((1, 8, 5, 5), np.float32)})
    )
    with pytest.raises(
        ExportError, match=r"G_synthesis/4x4/Const/const has shape \[1, 8, 5, 5\].*expects \[1, 8, 4, 4\]"
    ):
        generator_from_pickle(path)


def test_unexpected_variable_is_named(tmp_path, monkeypatch):
    path = tmp_path / "net.pkl"
    write_official_pickle(path, monkeypatch, edit=lambda v: v.update({"32x32/Conv1/weight": np.ones((3, 3, 8, 8))}))
    with pytest.raises(ExportError, match="G_synthesis/32x32/Conv1/weight has no counterpart"):
        generator_from_pickle(path)


def test_foreign_pickles_are_refused_without_running_code(tmp_path):
    path = tmp_path / "evil.pkl"
    with open(path, "wb") as f:
        pickle.dump(ExportError("not a network"), f)
    with pytest.raises(ExportError, match="unexpected class export.errors.ExportError"):
        read_official_pickle(path)
    (tmp_path / "junk.pkl").write_bytes(b"not a pickle")
    with pytest.raises(ExportError, match="cannot read"):
        read_official_pickle(tmp_path / "junk.pkl")
    with pytest.raises(ExportError, match="not found"):
        read_official_pickle(tmp_path / "absent.pkl")


@pytest.mark.slow
def test_every_official_1024_variable_maps_onto_the_keras_networks():
    """The full FFHQ 1024² name/shape set (official schedule) loads into Generator and Discriminator."""
    from export.stylegan.networks.config import StyleGANConfig
    from export.stylegan.networks.discriminator import Discriminator
    from export.stylegan.networks.generator import Generator
    from export.stylegan.weights.convert import assign_official_variables
    from tests.export.stylegan.official_pickle import discriminator_variables, generator_variables

    rng = np.random.default_rng(0)
    mapping, synthesis = generator_variables(rng, 1024, 8192, 512, 512)
    official = {
        "dlatent_avg": np.zeros(512, np.float32),
        **{f"G_mapping/{k}": v for k, v in mapping.items()},
        **{f"G_synthesis/{k}": v for k, v in synthesis.items()},
    }
    generator = Generator(StyleGANConfig())
    assign_official_variables(generator.official_variables(), official, "Gs")
    trainable = sum(
        v.size for k, v in official.items() if "noise" not in k and not k.endswith("lod") and k != "dlatent_avg"
    )
    assert trainable == 26_219_627
    np.testing.assert_array_equal(generator.synthesis.convs[-2].weight.numpy(), synthesis["1024x1024/Conv0_up/weight"])
    discriminator = Discriminator(StyleGANConfig())
    assign_official_variables(discriminator.official_variables(), discriminator_variables(rng, 1024, 8192, 512), "D")


def test_a_pickle_naming_a_numpy_module_that_runs_code_is_refused_before_importing_it(tmp_path, capsys):
    """Importing numpy.f2py.__main__ runs f2py's command line: the reader must never import it."""
    path = tmp_path / "f2py.pkl"
    # Protocol 2 (as official pickles are; the CLI refuses other files before reading them), then GLOBAL.
    path.write_bytes(b"\x80\x02cnumpy.f2py.__main__\nndarray\n.")  # 32 bytes
    sys.modules.pop("numpy.f2py.__main__", None)
    assert main(["stylegan", "--pickle", str(path), "--models-dir", str(tmp_path / "models")]) == 2
    captured = capsys.readouterr()
    assert messages(captured.err) == [
        "error: unexpected class numpy.f2py.__main__.ndarray in the pickle: not an official StyleGAN pickle"
    ]
    assert captured.out == "" and "numpy.f2py.__main__" not in sys.modules
    assert not (tmp_path / "models").exists()


@pytest.mark.parametrize(
    "module, name",
    [
        ("numpy", "load"),
        ("numpy.core.multiarray", "ndarray"),
        ("numpy.lib.npyio", "_reconstruct"),
        ("builtins", "eval"),
        ("dnnlib.tflib.network", "build"),
    ],
)
def test_only_exact_module_and_name_pairs_resolve(tmp_path, module, name):
    path = tmp_path / "other.pkl"
    path.write_bytes(f"c{module}\n{name}\n.".encode())
    with pytest.raises(ExportError, match=f"unexpected class {module}.{name}"):
        read_official_pickle(path)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda state: state.update(variables=7), "G network state is malformed"),
        (lambda state: state.update(variables=[("a", 1, 2)]), "G network state is malformed"),
        (lambda state: state.update(static_kwargs=[1, 2]), "G network state is malformed"),
        (lambda state: state.update(components=["x"]), "G network components are list"),
    ],
)
def test_malformed_network_states_are_one_line_errors(tmp_path, monkeypatch, edit, message):
    from tests.export.stylegan import official_pickle

    state_of = official_pickle.Network.__getstate__

    def corrupted(network):
        state = state_of(network)
        if network.name == "G":
            edit(state)
        return state

    monkeypatch.setattr(official_pickle.Network, "__getstate__", corrupted)
    path = tmp_path / "bad.pkl"
    write_official_pickle(path, monkeypatch)
    with pytest.raises(ExportError, match=message):
        read_official_pickle(path)
