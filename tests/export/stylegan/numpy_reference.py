"""An independent NumPy re-implementation of the official StyleGAN ops (NCHW, official variable layouts).

Written from NVlabs/stylegan training/networks_stylegan.py, used by the tests as the hand computation the
Keras port must reproduce. Variables are looked up by official names in a {name: array} dict.
"""

from __future__ import annotations

import numpy as np

SQRT2 = float(np.sqrt(2))


def lrelu(x):
    return np.where(x >= 0, x, 0.2 * x)


def wscale(w, gain=SQRT2, lrmul=1.0):
    """Equalized learning rate: the stored weight times lrmul·gain/√fan_in."""
    fan_in = np.prod(w.shape[:-1])
    return w * (gain / np.sqrt(fan_in) * lrmul)


def dense(x, w, b, gain=SQRT2, lrmul=1.0):
    return x @ wscale(w, gain, lrmul) + b * lrmul


def conv2d(x, w):
    """'SAME' convolution (cross-correlation, as tf.nn.conv2d), x [N,C,H,W], w [k,k,in,out]."""
    k = w.shape[0]
    p = k // 2
    xp = np.pad(x, [(0, 0), (0, 0), (p, p), (p, p)])
    h, wd = x.shape[2], x.shape[3]
    out = np.zeros((x.shape[0], w.shape[3], h, wd))
    for dy in range(k):
        for dx in range(k):
            out += np.einsum("nihw,io->nohw", xp[:, :, dy : dy + h, dx : dx + wd], w[dy, dx])
    return out


def upscale(x):
    return x.repeat(2, axis=2).repeat(2, axis=3)


def summed_kernel(w):
    """Pad a k×k kernel by one and add its four shifts (official fused-resampling kernel)."""
    wp = np.pad(w, [(1, 1), (1, 1), (0, 0), (0, 0)])
    return wp[1:, 1:] + wp[:-1, 1:] + wp[1:, :-1] + wp[:-1, :-1]


def upscale_conv2d_fused(x, w):
    """Official upscale2d_conv2d with fused_scale: tf.nn.conv2d_transpose, stride 2, 'SAME', with the
    summed kernel, written out as a scatter: out[2i + t − 1] += x[i]·K[t] (pad-before 1)."""
    k = summed_kernel(w)  # [4, 4, in, out]
    n, _, h, wd = x.shape
    out = np.zeros((n, w.shape[3], 2 * h + 2, 2 * wd + 2))
    for ty in range(4):
        for tx in range(4):
            out[:, :, ty : ty + 2 * h : 2, tx : tx + 2 * wd : 2] += np.einsum("nihw,io->nohw", x, k[ty, tx])
    return out[:, :, 1 : 2 * h + 1, 1 : 2 * wd + 1]


def downscale(x):
    n, c, h, w = x.shape
    return x.reshape(n, c, h // 2, 2, w // 2, 2).mean(axis=(3, 5))


def blur(x):
    f = np.outer([1, 2, 1], [1, 2, 1]) / 16.0
    c = x.shape[1]
    return conv2d(x, np.einsum("hw,io->hwio", f, np.eye(c)))


def pixel_norm(x):
    return x / np.sqrt(np.mean(x**2, axis=1, keepdims=True) + 1e-8)


def instance_norm(x):
    x = x - x.mean(axis=(2, 3), keepdims=True)
    return x / np.sqrt(np.mean(x**2, axis=(2, 3), keepdims=True) + 1e-8)


def epilogue(x, w_layer, v, scope, noise):
    """noise → bias → lrelu → instance norm → style mod (AdaIN)."""
    x = x + noise * v[f"{scope}/Noise/weight"][None, :, None, None]
    x = lrelu(x + v[f"{scope}/bias"][None, :, None, None])
    x = instance_norm(x)
    style = dense(w_layer, v[f"{scope}/StyleMod/weight"], v[f"{scope}/StyleMod/bias"], gain=1.0)
    c = x.shape[1]
    return x * (style[:, :c, None, None] + 1) + style[:, c:, None, None]


def mapping(z, v, layers=8, lrmul=0.01):
    x = pixel_norm(z)
    for i in range(layers):
        x = lrelu(dense(x, v[f"G_mapping/Dense{i}/weight"], v[f"G_mapping/Dense{i}/bias"], lrmul=lrmul))
    return x


def truncate(dlatents, avg, psi, cutoff):
    out = dlatents.copy()
    out[:, :cutoff] = avg + psi * (dlatents[:, :cutoff] - avg)
    return out


def synthesis(dlatents, v, resolution):
    """Fixed-structure synthesis with the stored (non-random) noise inputs; returns NCHW images."""
    s = "G_synthesis/"
    n = dlatents.shape[0]
    x = np.repeat(v[s + "4x4/Const/const"], n, axis=0)
    x = epilogue(x, dlatents[:, 0], v, s + "4x4/Const", v[s + "noise0"])
    x = conv2d(x, wscale(v[s + "4x4/Conv/weight"]))
    x = epilogue(x, dlatents[:, 1], v, s + "4x4/Conv", v[s + "noise1"])
    for r in range(3, int(np.log2(resolution)) + 1):
        size = f"{2**r}x{2**r}"
        w = wscale(v[f"{s}{size}/Conv0_up/weight"])
        x = blur(upscale_conv2d_fused(x, w) if 2**r >= 128 else conv2d(upscale(x), w))
        x = epilogue(x, dlatents[:, 2 * r - 4], v, f"{s}{size}/Conv0_up", v[f"{s}noise{2 * r - 4}"])
        x = conv2d(x, wscale(v[f"{s}{size}/Conv1/weight"]))
        x = epilogue(x, dlatents[:, 2 * r - 3], v, f"{s}{size}/Conv1", v[f"{s}noise{2 * r - 3}"])
    rgb = conv2d(x, wscale(v[s + "ToRGB_lod0/weight"], gain=1.0))
    return rgb + v[s + "ToRGB_lod0/bias"][None, :, None, None]


def minibatch_stddev(x, group_size=4):
    n, c, h, w = x.shape
    g = min(group_size, n)
    y = x.reshape(g, n // g, c, h, w)
    sd = np.sqrt(((y - y.mean(axis=0)) ** 2).mean(axis=0) + 1e-8).mean(axis=(1, 2, 3))  # [M]
    feature = np.tile(sd, g)[:, None, None, None] * np.ones((n, 1, h, w))
    return np.concatenate([x, feature], axis=1)


def discriminator(images, v, resolution):
    """Fixed-structure D_basic on NCHW images."""
    log2 = int(np.log2(resolution))
    x = lrelu(conv2d(images, wscale(v["FromRGB_lod0/weight"])) + v["FromRGB_lod0/bias"][None, :, None, None])
    for r in range(log2, 2, -1):
        size = f"{2**r}x{2**r}"
        x = lrelu(conv2d(x, wscale(v[f"{size}/Conv0/weight"])) + v[f"{size}/Conv0/bias"][None, :, None, None])
        x = downscale(conv2d(blur(x), wscale(v[f"{size}/Conv1_down/weight"])))
        x = lrelu(x + v[f"{size}/Conv1_down/bias"][None, :, None, None])
    x = minibatch_stddev(x)
    x = lrelu(conv2d(x, wscale(v["4x4/Conv/weight"])) + v["4x4/Conv/bias"][None, :, None, None])
    x = lrelu(dense(x.reshape(len(x), -1), v["4x4/Dense0/weight"], v["4x4/Dense0/bias"]))
    return dense(x, v["4x4/Dense1/weight"], v["4x4/Dense1/bias"], gain=1.0)
