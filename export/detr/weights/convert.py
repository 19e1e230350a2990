"""Official DETR checkpoints (`torch.load(f)["model"]`) <-> the Keras model's weights.

Every official key is paired with one Keras variable and a layout transform: conv (O, I, kh, kw)
-> (kh, kw, I, O); linear and in_proj (out, in) -> (in, out); vectors unchanged. Loading is strict:
a missing, unexpected or mis-shaped key raises ExportError naming it. torch is imported only here,
and only to read a `.pth` file.

Detector checkpoints (detr-r50, ...) load into DETR; panoptic ones (detr-r50-panoptic, ...: the
detector's keys under `detr.`, the head's under `bbox_attention.` and `mask_head.`) into DETRsegm.
"""

from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

import numpy as np

from export.detr.networks.backbone import Bottleneck, ResNetBody
from export.detr.networks.detr import DETR
from export.detr.networks.frozen_batch_norm import FrozenBatchNorm
from export.detr.networks.segmentation import DETRsegm
from export.errors import ExportError
from export.progress import step

PANOPTIC_PREFIXES = ("detr.", "bbox_attention.", "mask_head.")

CONV = "conv"  # torch (O, I, kh, kw) -> keras (kh, kw, I, O)
LINEAR = "linear"  # torch (out, in) -> keras (in, out)
SAME = "same"  # vectors and the query embedding

_TO_KERAS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    CONV: lambda a: np.transpose(a, (2, 3, 1, 0)),
    LINEAR: lambda a: np.transpose(a),
    SAME: lambda a: a,
}
_TO_TORCH_SHAPE: dict[str, Callable[[tuple], tuple]] = {
    CONV: lambda s: (s[3], s[2], s[0], s[1]),
    LINEAR: lambda s: (s[1], s[0]),
    SAME: lambda s: tuple(s),
}


def _bn(prefix: str, bn: FrozenBatchNorm):
    for name in ("weight", "bias", "running_mean", "running_var"):
        yield f"{prefix}.{name}", getattr(bn, name), SAME


def _weight_and_bias(prefix: str, weight, bias, layout: str):
    yield f"{prefix}.weight", weight, layout
    yield f"{prefix}.bias", bias, SAME


def _dense(prefix: str, layer):
    return _weight_and_bias(prefix, layer.kernel, layer.bias, LINEAR)


def _conv2d(prefix: str, layer):
    return _weight_and_bias(prefix, layer.kernel, layer.bias, CONV)


def _norm(prefix: str, layer):
    """LayerNorm or GroupNorm: weight, bias = gamma, beta."""
    return _weight_and_bias(prefix, layer.gamma, layer.beta, SAME)


def _attention(prefix: str, attn):
    yield f"{prefix}.in_proj_weight", attn.in_proj_kernel, LINEAR
    yield f"{prefix}.in_proj_bias", attn.in_proj_bias, SAME
    yield f"{prefix}.out_proj.weight", attn.out_proj_kernel, LINEAR
    yield f"{prefix}.out_proj.bias", attn.out_proj_bias, SAME


def _bottleneck(prefix: str, block: Bottleneck):
    for i in (1, 2, 3):
        yield f"{prefix}.conv{i}.weight", getattr(block, f"conv{i}").kernel, CONV
        yield from _bn(f"{prefix}.bn{i}", getattr(block, f"bn{i}"))
    if block.has_downsample:
        yield f"{prefix}.downsample.0.weight", block.downsample_conv.kernel, CONV
        yield from _bn(f"{prefix}.downsample.1", block.downsample_bn)


def _backbone(prefix: str, body: ResNetBody):
    yield f"{prefix}.conv1.weight", body.conv1.kernel, CONV
    yield from _bn(f"{prefix}.bn1", body.bn1)
    for s, stage in enumerate(body.stages):
        for b, block in enumerate(stage):
            yield from _bottleneck(f"{prefix}.layer{s + 1}.{b}", block)


def weight_map(model: DETR | DETRsegm) -> Iterator[tuple[str, object, str]]:
    """(official key, Keras variable, layout) for every tensor of the official state dict."""
    if isinstance(model, DETRsegm):
        yield from _detr("detr.", model.detr)
        yield from _dense("bbox_attention.q_linear", model.bbox_attention.q_linear)
        yield from _dense("bbox_attention.k_linear", model.bbox_attention.k_linear)
        head = model.mask_head
        for i in range(1, 6):
            yield from _conv2d(f"mask_head.lay{i}", getattr(head, f"lay{i}"))
            yield from _norm(f"mask_head.gn{i}", getattr(head, f"gn{i}"))
        yield from _conv2d("mask_head.out_lay", head.out_lay)
        for i in range(1, 4):
            yield from _conv2d(f"mask_head.adapter{i}", getattr(head, f"adapter{i}"))
    else:
        yield from _detr("", model)


def _detr(prefix: str, model: DETR):
    for key, variable, layout in _detector(model):
        yield prefix + key, variable, layout


def _detector(model: DETR):
    yield from _backbone("backbone.0.body", model.backbone)
    yield from _conv2d("input_proj", model.input_proj)
    yield "query_embed.weight", model.query_embed, SAME
    yield from _dense("class_embed", model.class_embed)
    for i, layer in enumerate(model.bbox_embed.dense_layers):
        yield from _dense(f"bbox_embed.layers.{i}", layer)
    transformer = model.transformer
    for i, layer in enumerate(transformer.encoder_layers):
        p = f"transformer.encoder.layers.{i}"
        yield from _attention(f"{p}.self_attn", layer.self_attn)
        yield from _dense(f"{p}.linear1", layer.ffn.linear1)
        yield from _dense(f"{p}.linear2", layer.ffn.linear2)
        yield from _norm(f"{p}.norm1", layer.norm1)
        yield from _norm(f"{p}.norm2", layer.norm2)
    for i, layer in enumerate(transformer.decoder_layers):
        p = f"transformer.decoder.layers.{i}"
        yield from _attention(f"{p}.self_attn", layer.self_attn)
        yield from _attention(f"{p}.multihead_attn", layer.multihead_attn)
        yield from _dense(f"{p}.linear1", layer.ffn.linear1)
        yield from _dense(f"{p}.linear2", layer.ffn.linear2)
        for n in (1, 2, 3):
            yield from _norm(f"{p}.norm{n}", getattr(layer, f"norm{n}"))
    yield from _norm("transformer.decoder.norm", transformer.decoder_norm)


def official_shapes(model: DETR | DETRsegm) -> dict[str, tuple[int, ...]]:
    """The key -> shape table of the official state dict for this architecture."""
    return {key: _TO_TORCH_SHAPE[layout](tuple(var.shape)) for key, var, layout in weight_map(model)}


def check_kind(keys: Iterable[str], panoptic_model: bool) -> None:
    """A detector checkpoint given to the panoptic model (or the reverse) is named as such; cheap enough to
    run before the model is built."""
    keys = {key for key in keys if not key.endswith("num_batches_tracked")}
    panoptic = bool(keys) and all(key.startswith(PANOPTIC_PREFIXES) for key in keys)
    if panoptic_model and not panoptic and "class_embed.weight" in keys:
        raise ExportError(
            "checkpoint is a DETR detector checkpoint (no 'detr.' keys); the panoptic model "
            "needs a panoptic one such as detr-r50-panoptic-00ce5173.pth"
        )
    if not panoptic_model and panoptic:
        raise ExportError(
            "checkpoint is a DETR panoptic checkpoint (keys under 'detr.', 'bbox_attention.', "
            "'mask_head.'); load it into the panoptic model (DETRsegm, python -m export detr --panoptic)"
        )


def load_state_dict(model: DETR | DETRsegm, state_dict: Mapping[str, np.ndarray]) -> None:
    """Assign an official-layout state dict to the model; strict on keys and shapes."""
    step(f"converting {len(state_dict)} official tensors to the Keras layout")
    entries = list(weight_map(model))
    expected = {key for key, _, _ in entries}
    ignored = {k for k in state_dict if k.endswith("num_batches_tracked")}
    check_kind(state_dict, isinstance(model, DETRsegm))
    unexpected = sorted(set(state_dict) - expected - ignored)
    if unexpected:
        raise ExportError(
            f"checkpoint has unexpected key {unexpected[0]!r}"
            f"{f' (and {len(unexpected) - 1} more)' if len(unexpected) > 1 else ''}"
        )
    missing = [key for key, _, _ in entries if key not in state_dict]
    if missing:
        raise ExportError(
            f"checkpoint is missing key {missing[0]!r}{f' (and {len(missing) - 1} more)' if len(missing) > 1 else ''}"
        )
    values = []
    for key, variable, layout in entries:
        array = np.asarray(state_dict[key], dtype=np.float32)
        want = _TO_TORCH_SHAPE[layout](tuple(variable.shape))
        if tuple(array.shape) != want:
            raise ExportError(f"checkpoint key {key!r} has shape {tuple(array.shape)}, expected {want}")
        values.append((variable, _TO_KERAS[layout](array)))
    for variable, value in values:
        variable.assign(value)


def export_state_dict(model: DETR | DETRsegm) -> dict[str, np.ndarray]:
    """The model's weights as an official-layout state dict of numpy arrays."""
    inverse = {CONV: lambda a: np.transpose(a, (3, 2, 0, 1)), LINEAR: np.transpose, SAME: lambda a: a}
    return {key: inverse[layout](np.asarray(var.numpy())) for key, var, layout in weight_map(model)}


def read_checkpoint(path: str | Path) -> dict[str, np.ndarray]:
    """Read `torch.load(path)["model"]` as numpy arrays (needs torch, the project's optional extra)."""
    step(f"reading the official checkpoint {Path(path).name}")
    try:
        import torch
    except ImportError as error:
        raise ExportError("reading a .pth checkpoint needs torch: pip install 'keras-to-serving[torch]'") from error
    path = Path(path)
    if not path.is_file():
        raise ExportError(f"checkpoint not found: {path}")
    try:
        import argparse

        with torch.serialization.safe_globals([argparse.Namespace]):
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a bad file
        raise ExportError(
            f"cannot read checkpoint {str(path)!r}: {type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else ''}"
        ) from error
    if not isinstance(checkpoint, dict) or "model" not in checkpoint:
        raise ExportError(
            f"checkpoint {str(path)!r} has no 'model' entry (expected torch.save({{'model': state_dict}}))"
        )
    state_dict = checkpoint["model"]
    if not isinstance(state_dict, Mapping):
        raise ExportError(
            f"checkpoint {str(path)!r} entry 'model' is a {type(state_dict).__name__}, "
            "expected a state dict (names to tensors)"
        )
    bad = [k for k, v in state_dict.items() if not isinstance(k, str) or not hasattr(v, "detach")]
    if bad:
        raise ExportError(f"checkpoint key {bad[0]!r} is not a name with a tensor")
    arrays = {}
    for key, value in state_dict.items():
        try:
            arrays[key] = value.detach().cpu().float().numpy()
        except (RuntimeError, TypeError, ValueError) as error:  # sparse, quantized, complex…
            raise ExportError(
                f"checkpoint key {key!r} is not a dense real tensor: {str(error).splitlines()[0]}"
            ) from None
    return arrays
