"""How much arithmetic a model needs per image, and how much the machine's cores can do.

FLOPs are counted from the exported graph: the tensor signature is traced at batch 1 with static
shapes, frozen (function calls inlined, variables made constants), and each op is costed with the
per-op-type functions TensorFlow's profiler uses (Conv2D, DepthwiseConv2dNative, MatMul, BatchMatMul,
Conv2DBackpropInput, element-wise ops). Papers quote multiply-accumulates ("FLOPs" in the
EfficientNet and DETR papers are MACs); 1 MAC = 2 FLOPs here.

The machine's achievable limit is measured: the best of a few large fp32 (and bf16) matmuls and
3x3 convolutions in TensorFlow; oneDNN's convolution reaches a higher rate than TensorFlow's matmul
here, so the larger of the two is the practical ceiling. Where /proc/cpuinfo allows, the theoretical
peak is estimated too, from the cores, the clock and the widest vector FMA the flags show.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping
from pathlib import Path

# Op types that are multiply-accumulate contractions (the "MACs" the papers count).
CONTRACTIONS = {
    "Conv2D",
    "DepthwiseConv2dNative",
    "MatMul",
    "BatchMatMul",
    "BatchMatMulV2",
    "BatchMatMulV3",
    "Conv2DBackpropInput",
    "Conv3D",
    "Einsum",
}


def count_flops(version_dir: Path, signature: str, specs: Mapping[str, tuple]) -> dict:
    """FLOPs of one call of `signature` with inputs of the given (shape, dtype), by op type."""
    import tensorflow as tf
    from tensorflow.python.framework import ops
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    loaded = tf.saved_model.load(str(version_dir))
    function = loaded.signatures[signature]
    traced = tf.function(lambda **kw: function(**kw)).get_concrete_function(
        **{name: tf.TensorSpec(shape, tf.as_dtype(dtype)) for name, (shape, dtype) in specs.items()}
    )
    graph = convert_variables_to_constants_v2(traced).graph
    flops: dict[str, int] = {}
    uncounted: set[str] = set()
    for op in graph.get_operations():
        try:  # the per-op cost functions TensorFlow's profiler uses
            value = ops.get_stats_for_node_def(graph, op.node_def, "flops").value
        except ValueError:  # no cost registered for this op type
            if op.type in CONTRACTIONS:
                uncounted.add(op.type)
            continue
        if value:
            flops[op.type] = flops.get(op.type, 0) + value
    total = sum(flops.values())
    contraction = sum(v for k, v in flops.items() if k in CONTRACTIONS)
    return {
        "signature": signature,
        "input_shapes": {k: list(s) for k, (s, _) in specs.items()},
        "gflops": total / 1e9,
        "contraction_gflops": contraction / 1e9,
        "gmacs": contraction / 2e9,
        "by_op_type_gflops": {k: v / 1e9 for k, v in sorted(flops.items(), key=lambda kv: -kv[1])},
        "contractions_without_cost": sorted(uncounted),
    }


def matmul_gflops(size: int, dtype: str, repeats: int = 5) -> float:
    """Best achieved GFLOP/s of a size x size x size matmul (2 n^3 FLOPs) in TensorFlow."""
    import tensorflow as tf

    a = tf.cast(tf.random.normal((size, size)), dtype)
    b = tf.cast(tf.random.normal((size, size)), dtype)
    matmul = tf.function(lambda x, y: tf.matmul(x, y))
    matmul(a, b).numpy()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        matmul(a, b).numpy()
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def conv_gflops(size: int, channels: int, repeats: int = 5) -> float:
    """Best achieved GFLOP/s of a 3x3 'SAME' convolution, channels -> channels, on one size x size map."""
    import tensorflow as tf

    x = tf.random.normal((1, size, size, channels))
    kernel = tf.random.normal((3, 3, channels, channels))
    conv = tf.function(lambda a, k: tf.nn.conv2d(a, k, 1, "SAME"))
    conv(x, kernel).numpy()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        conv(x, kernel).numpy()
        best = min(best, time.perf_counter() - start)
    return 2 * 9 * channels * channels * size * size / best / 1e9


def cpu_facts() -> dict:
    """Model, cores, clock and vector flags from /proc/cpuinfo, and the peak they imply.

    Peak = cores x clock x FLOPs per cycle, with FLOPs per cycle = lanes x 2 (an FMA is two FLOPs)
    x 2 FMA pipes per core. Two 512-bit FMA pipes hold for Intel Xeon (Skylake-SP and later) and AMD
    Zen 5 (CPU family 26); Zen 4 (family 25) runs AVX-512 on 256-bit pipes, which halves it. The
    clock is /proc/cpuinfo's (under a hypervisor usually the nominal one, not the boost clock).
    bf16: VDPBF16PS does two bf16 products per fp32 lane, so twice the fp32 rate.
    """
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""

    def field(name: str) -> str:
        match = re.search(rf"^{name}\s*:\s*(.*)$", text, re.M)
        return match.group(1).strip() if match else ""

    flags = set(field("flags").split())
    cores = os.cpu_count() or 1
    mhz = float(field("cpu MHz") or 0)
    vendor, family = field("vendor_id"), field("cpu family")
    if "avx512f" in flags:
        lanes = 8 if (vendor == "AuthenticAMD" and family == "25") else 16
    elif "avx2" in flags or "avx" in flags:
        lanes = 8
    else:
        lanes = 4
    fma = "fma" in flags or "avx512f" in flags
    flops_per_cycle = lanes * (2 if fma else 1) * 2
    fp32_peak = cores * mhz / 1e3 * flops_per_cycle
    return {
        "model_name": field("model name"),
        "vendor": vendor,
        "family": family,
        "cores": cores,
        "mhz": mhz,
        "avx512f": "avx512f" in flags,
        "avx512_bf16": "avx512_bf16" in flags,
        "amx_bf16": "amx_bf16" in flags,
        "amx_tile": "amx_tile" in flags,
        "fp32_flops_per_cycle_per_core": flops_per_cycle,
        "fp32_peak_gflops": fp32_peak,
        "bf16_peak_gflops": fp32_peak * 2 if "avx512_bf16" in flags else None,
    }


def machine_limits(quick: bool) -> dict:
    size, repeats = (1024, 2) if quick else (4096, 5)
    conv_size, conv_channels = (32, 128) if quick else (128, 256)
    limits = {
        **cpu_facts(),
        "matmul_size": size,
        "matmul_fp32_gflops": matmul_gflops(size, "float32", repeats),
        "matmul_bf16_gflops": matmul_gflops(size, "bfloat16", repeats),
        "conv": f"3x3, {conv_channels}->{conv_channels} channels, {conv_size}x{conv_size}",
        "conv_fp32_gflops": conv_gflops(conv_size, conv_channels, repeats),
    }
    limits["achievable_fp32_gflops"] = max(limits["matmul_fp32_gflops"], limits["conv_fp32_gflops"])
    return limits
