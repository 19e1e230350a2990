"""The bf16 switch the graph-options benchmark uses really rewrites TensorFlow functions."""

import os
import subprocess
import sys

import pytest

from benchmarks.roofline import cpu_facts
from serving.testing.server_process import REPO_ROOT

SCRIPT = """
import numpy as np, tensorflow as tf
from benchmarks.graph_options import apply_bfloat16_rewrite
x = tf.constant(np.random.default_rng(0).standard_normal((64, 256)).astype(np.float32))
weights = [tf.constant(np.random.default_rng(i).standard_normal((256, 256)).astype(np.float32) / 16) for i in range(4)]
def net(x):
    for w in weights:
        x = tf.nn.relu(tf.matmul(x, w))
    return x
fp32 = tf.function(net)(x).numpy()
again = tf.function(net)(x).numpy()
apply_bfloat16_rewrite()
bf16 = tf.function(net)(x).numpy()
print(float(np.abs(fp32 - again).max()), float(np.abs(fp32 - bf16).max() / np.abs(fp32).max()))
"""


@pytest.mark.skipif(
    not (cpu_facts()["avx512_bf16"] or cpu_facts()["amx_bf16"]),
    reason="the oneDNN bf16 rewrite only runs on CPUs with AVX512_BF16 or AMX",
)
def test_bfloat16_rewrite_changes_results_by_bf16_rounding_only():
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO_ROOT)},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    repeat_diff, bf16_relative = map(float, done.stdout.split())
    assert repeat_diff == 0.0  # fp32 is deterministic, so any change below comes from the rewrite
    assert 1e-4 < bf16_relative < 0.05  # bf16 keeps 8 bits of mantissa: about 0.4% per rounding
