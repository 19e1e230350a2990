"""Read an official NVlabs/stylegan pickle (a tuple G, D, Gs of dnnlib Network objects) without TF1.

`dnnlib.tflib.network.Network.__getstate__` stores a dict: version, name, static_kwargs, components
(name → Network), build_module_src, build_func_name, variables (list of (local name, numpy array)).
A restricted unpickler turns each Network into a `NetworkState` (it never executes the embedded build
source, and resolves only the exact (module, name) pairs of dnnlib's Network/EasyDict, OrderedDict and
numpy arrays: no other module is ever imported).
Variable names follow `Network.vars`: own variables, then `<component name>/<name>` for sub-networks,
e.g. `G_mapping/Dense0/weight`, `G_synthesis/4x4/Const/const`, `dlatent_avg`.
"""

from __future__ import annotations

import collections
import dataclasses
import importlib
import pickle
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from export.errors import ExportError
from export.progress import step

if TYPE_CHECKING:  # the Keras side is imported where it is used: reading a pickle needs numpy only
    import keras

    from export.stylegan.networks.config import StyleGANConfig
    from export.stylegan.networks.discriminator import Discriminator
    from export.stylegan.networks.generator import Generator


@dataclasses.dataclass
class NetworkState:
    """What an official Network pickles, with its variables flattened the way `Network.vars` names them."""

    name: str
    static_kwargs: dict
    build_func_name: str
    own_variables: dict[str, np.ndarray]
    components: dict[str, NetworkState]

    @property
    def variables(self) -> dict[str, np.ndarray]:
        names = dict(self.own_variables)
        for component in self.components.values():
            names.update({f"{component.name}/{k}": v for k, v in component.variables.items()})
        return names


class _StubNetwork:
    """Stands in for dnnlib.tflib.network.Network: keeps the pickled state, builds no graph."""

    def __setstate__(self, state: dict) -> None:
        self.state = state


class _StubEasyDict(dict):
    """Stands in for dnnlib.util.EasyDict (a dict with attribute access)."""


def _numpy(module: str, name: str) -> Any:
    """A numpy object by the (module, name) pickles of numpy 1 and 2 use; imports only numpy's own modules."""
    return getattr(importlib.import_module(module), name)


_NUMPY_PAIRS = {
    (module, name)
    for module, names in {
        "numpy": ("ndarray", "dtype"),
        "numpy.core.multiarray": ("_reconstruct", "scalar"),
        "numpy._core.multiarray": ("_reconstruct", "scalar"),
        "numpy.core.numeric": ("_frombuffer",),
        "numpy._core.numeric": ("_frombuffer",),
    }.items()
    for name in names
}
_ALLOWED = {
    ("dnnlib.tflib.network", "Network"): lambda: _StubNetwork,
    ("dnnlib.util", "EasyDict"): lambda: _StubEasyDict,
    ("collections", "OrderedDict"): lambda: collections.OrderedDict,
    **{pair: (lambda pair=pair: _numpy(*pair)) for pair in _NUMPY_PAIRS},
}


class _OfficialUnpickler(pickle.Unpickler):
    """Resolves exactly the (module, name) pairs an official pickle holds; anything else is refused
    before its module is imported (importing a module can run code: ``numpy.f2py.__main__`` does)."""

    def find_class(self, module: str, name: str) -> Any:
        resolve = _ALLOWED.get((module, name))
        if resolve is None:
            raise ExportError(f"unexpected class {module}.{name} in the pickle: not an official StyleGAN pickle")
        return resolve()


def _to_state(obj: Any, what: str) -> NetworkState:
    if not isinstance(obj, _StubNetwork):
        raise ExportError(f"{what} in the pickle is {type(obj).__name__}, not a dnnlib Network")
    state = getattr(obj, "state", None)
    if not isinstance(state, dict):
        raise ExportError(f"{what} network state is {type(state).__name__}, not a dict")
    missing = {"name", "static_kwargs", "variables"} - set(state)
    if missing:
        raise ExportError(f"{what} network state lacks {sorted(missing)}")
    if state.get("version") not in (2, 3):
        raise ExportError(f"{what} network state has unsupported version {state.get('version')!r}")
    components = state.get("components", {})
    if not isinstance(components, dict):
        raise ExportError(f"{what} network components are {type(components).__name__}, not a dict")
    components = {key: _to_state(value, f"{what}.{key}") for key, value in components.items()}
    try:
        return NetworkState(
            name=str(state["name"]),
            static_kwargs=dict(state["static_kwargs"]),
            build_func_name=str(state.get("build_func_name", "")),
            own_variables={str(k): np.asarray(v) for k, v in state["variables"]},
            components=components,
        )
    except (TypeError, ValueError) as error:  # not a mapping, not (name, array) pairs…
        raise ExportError(f"{what} network state is malformed: {error}") from None


def read_official_pickle(path: str | Path) -> tuple[NetworkState, NetworkState, NetworkState]:
    """(G, D, Gs) network states from an official pickle file."""
    try:
        with open(path, "rb") as f:
            loaded = _OfficialUnpickler(f).load()
    except FileNotFoundError:
        raise ExportError(f"pickle not found: {path}") from None
    except ExportError:
        raise
    except Exception as error:  # a damaged pickle can raise almost anything; none of it is a bug here
        reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
        raise ExportError(f"cannot read {path} as a pickle: {reason}") from None
    if not isinstance(loaded, tuple) or len(loaded) != 3:
        raise ExportError(f"{path} holds {type(loaded).__name__}, expected the official tuple (G, D, Gs)")
    return _to_state(loaded[0], "G"), _to_state(loaded[1], "D"), _to_state(loaded[2], "Gs")


def infer_config(generator: NetworkState) -> StyleGANConfig:
    """The network shape an official generator was built with (its static kwargs, else the defaults)."""
    from export.stylegan.networks.config import StyleGANConfig

    synthesis = generator.components.get("synthesis")
    kwargs = {**generator.static_kwargs, **(synthesis.static_kwargs if synthesis else {})}
    if kwargs.get("label_size", 0):
        raise ExportError(f"conditional generators (label_size={kwargs['label_size']}) are not supported")
    fields = {f.name for f in dataclasses.fields(StyleGANConfig)}
    config = {k: v for k, v in kwargs.items() if k in fields}
    config["resolution"] = pickle_resolution(generator)
    try:
        return StyleGANConfig(**config)
    except (TypeError, ValueError) as error:
        raise ExportError(f"unsupported generator configuration in the pickle: {error}") from None


def _official_to_keras(name: str, value: np.ndarray) -> np.ndarray:
    """NCHW-shaped official variables to the NHWC layout of the Keras layers."""
    leaf = name.rsplit("/", 1)[-1]
    if leaf == "const" or leaf.startswith("noise"):
        return np.transpose(value, [0, 2, 3, 1])  # [1, C, H, W] → [1, H, W, C]
    return value


def _official_shape(name: str, keras_shape: tuple) -> tuple:
    leaf = name.rsplit("/", 1)[-1]
    if leaf == "const" or leaf.startswith("noise"):
        return (keras_shape[0], keras_shape[3], keras_shape[1], keras_shape[2])
    return tuple(keras_shape)


def assign_official_variables(
    targets: dict[str, keras.Variable], variables: dict[str, np.ndarray], network: str
) -> None:
    """Set every Keras variable from the official array of the same name; every official variable
    (except the progressive-growing `lod` counters) must be used. Errors name the variable."""
    unused = sorted(k for k in variables if k not in targets and k.rsplit("/", 1)[-1] != "lod")
    if unused:
        raise ExportError(
            f"{network}: pickle variable {unused[0]} has no counterpart in the Keras model "
            f"({len(unused)} unmatched; different resolution or configuration?)"
        )
    for name, variable in targets.items():
        if name not in variables:
            raise ExportError(f"{network}: variable {name} is missing from the pickle")
        value = _official_to_keras(name, np.asarray(variables[name], np.float32))
        if tuple(value.shape) != tuple(variable.shape):
            raise ExportError(
                f"{network}: variable {name} has shape {list(np.asarray(variables[name]).shape)} "
                f"in the pickle, the model expects {list(_official_shape(name, variable.shape))}"
            )
        variable.assign(value)


def generator_from_pickle(path: str | Path, network: str = "Gs", **generator_kwargs) -> Generator:
    """A Keras Generator holding the weights of network `Gs` (default, the averaged generator) or `G`."""
    from export.stylegan.networks.generator import Generator

    step(f"reading the official pickle {Path(path).name} and converting {network}")
    g, _, gs = read_official_pickle(path)
    state = {"G": g, "Gs": gs}.get(network)
    if state is None:
        raise ExportError(f"network must be 'G' or 'Gs', got {network!r}")
    generator = Generator(infer_config(state), **generator_kwargs)
    assign_official_variables(generator.official_variables(), state.variables, network)
    return generator


def discriminator_from_pickle(path: str | Path) -> Discriminator:
    """A Keras Discriminator holding the weights of the pickle's D (to resume training)."""
    from export.stylegan.networks.discriminator import Discriminator

    g, d, _ = read_official_pickle(path)
    discriminator = Discriminator(infer_config(g))
    assign_official_variables(discriminator.official_variables(), d.variables, "D")
    return discriminator


def pickle_resolution(generator: NetworkState) -> int:
    """The output size of an official generator, read from its static kwargs or its noise inputs."""
    synthesis = generator.components.get("synthesis")
    kwargs = {**generator.static_kwargs, **(synthesis.static_kwargs if synthesis else {})}
    if "resolution" in kwargs:
        return int(kwargs["resolution"])
    noise = [k for k in generator.variables if k.startswith("G_synthesis/noise")]
    return 2 ** (len(noise) // 2 + 1) if noise else 1024


def check_official_pickle(path: str | Path, resolution: int) -> None:
    """The structure of an official pickle of a ``resolution``² generator: the tuple (G, D, Gs) of
    dnnlib Networks with mapping and synthesis components and the variables the conversion needs."""
    _, _, gs = read_official_pickle(path)
    for component in ("mapping", "synthesis"):
        if component not in gs.components:
            raise ExportError(f"{path}: Gs has no {component} network")
    for name in ("dlatent_avg", "G_mapping/Dense0/weight", "G_synthesis/4x4/Const/const"):
        if name not in gs.variables:
            raise ExportError(f"{path}: Gs lacks the variable {name}")
    found = pickle_resolution(gs)
    if found != resolution:
        raise ExportError(f"{path} holds a {found}² generator, the published one is {resolution}²")
