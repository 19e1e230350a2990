"""DETR's post-norm transformer: positional encodings on queries and keys only, never on values.

Batch-first layout ([N, L, C]) instead of PyTorch's [L, N, C]; the arithmetic is the same.
"""

import keras
from keras import ops

LAYER_NORM_EPS = 1e-5  # PyTorch's default; Keras defaults to 1e-3


@keras.saving.register_keras_serializable(package="detr")
class MultiHeadAttention(keras.layers.Layer):
    """torch.nn.MultiheadAttention: one stacked q/k/v projection (in_proj), out_proj, key padding mask.

    Weights keep the PyTorch layout transposed: `in_proj_kernel` [d, 3d] is `in_proj_weight.T`.
    """

    def __init__(self, d_model: int, num_heads: int, dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.d_model, self.num_heads, self.dropout_rate = d_model, num_heads, dropout
        self.dropout = keras.layers.Dropout(dropout)

    def build(self, input_shape=None):
        d = self.d_model
        self.in_proj_kernel = self.add_weight(name="in_proj_kernel", shape=(d, 3 * d), initializer="glorot_uniform")
        self.in_proj_bias = self.add_weight(name="in_proj_bias", shape=(3 * d,), initializer="zeros")
        self.out_proj_kernel = self.add_weight(name="out_proj_kernel", shape=(d, d), initializer="glorot_uniform")
        self.out_proj_bias = self.add_weight(name="out_proj_bias", shape=(d,), initializer="zeros")

    def _heads(self, x, index):
        d = self.d_model
        x = (
            ops.matmul(x, self.in_proj_kernel[:, index * d : (index + 1) * d])
            + self.in_proj_bias[index * d : (index + 1) * d]
        )
        batch, length = ops.shape(x)[0], ops.shape(x)[1]
        x = ops.reshape(x, (batch, length, self.num_heads, d // self.num_heads))
        return ops.transpose(x, (0, 2, 1, 3))

    def call(self, query, key, value, key_padding_mask=None, training=None):
        head_dim = self.d_model // self.num_heads
        q = self._heads(query, 0) * (float(head_dim) ** -0.5)
        k, v = self._heads(key, 1), self._heads(value, 2)
        logits = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2)))
        if key_padding_mask is not None:
            logits = ops.where(key_padding_mask[:, None, None, :], float("-inf"), logits)
        weights = self.dropout(ops.softmax(logits, axis=-1), training=training)
        out = ops.transpose(ops.matmul(weights, v), (0, 2, 1, 3))
        out = ops.reshape(out, (ops.shape(out)[0], ops.shape(out)[1], self.d_model))
        return ops.matmul(out, self.out_proj_kernel) + self.out_proj_bias

    def get_config(self):
        return {
            **super().get_config(),
            "d_model": self.d_model,
            "num_heads": self.num_heads,
            "dropout": self.dropout_rate,
        }


class _FeedForward(keras.layers.Layer):
    """linear1 -> ReLU -> dropout -> linear2."""

    def __init__(self, d_model: int, dim_feedforward: int, dropout: float, **kwargs):
        super().__init__(**kwargs)
        self.linear1 = keras.layers.Dense(dim_feedforward, activation="relu")
        self.dropout = keras.layers.Dropout(dropout)
        self.linear2 = keras.layers.Dense(d_model)

    def call(self, x, training=None):
        return self.linear2(self.dropout(self.linear1(x), training=training))


class _PostNormLayer(keras.layers.Layer):
    """What encoder and decoder layers share: their config, self-attention, FFN and two add & norms."""

    def __init__(
        self, d_model: int = 256, num_heads: int = 8, dim_feedforward: int = 2048, dropout: float = 0.1, **kwargs
    ):
        super().__init__(**kwargs)
        self.config = {
            "d_model": d_model,
            "num_heads": num_heads,
            "dim_feedforward": dim_feedforward,
            "dropout": dropout,
        }
        self.self_attn = MultiHeadAttention(d_model, num_heads, dropout)
        self.ffn = _FeedForward(d_model, dim_feedforward, dropout)
        self.norm1 = keras.layers.LayerNormalization(epsilon=LAYER_NORM_EPS)
        self.norm2 = keras.layers.LayerNormalization(epsilon=LAYER_NORM_EPS)
        self.dropout1 = keras.layers.Dropout(dropout)
        self.dropout2 = keras.layers.Dropout(dropout)

    @staticmethod
    def _add_norm(x, update, dropout, norm, training):
        return norm(x + dropout(update, training=training))

    def get_config(self):
        return {**super().get_config(), **self.config}


@keras.saving.register_keras_serializable(package="detr")
class TransformerEncoderLayer(_PostNormLayer):
    """x = norm1(x + attn(x+pos, x+pos, x)); x = norm2(x + ffn(x))."""

    def call(self, src, pos, key_padding_mask, training=None):
        q = k = src + pos
        src = self._add_norm(
            src, self.self_attn(q, k, src, key_padding_mask, training=training), self.dropout1, self.norm1, training
        )
        return self._add_norm(src, self.ffn(src, training=training), self.dropout2, self.norm2, training)


@keras.saving.register_keras_serializable(package="detr")
class TransformerDecoderLayer(_PostNormLayer):
    """Self-attention over queries, cross-attention to the memory, FFN; each followed by add & norm."""

    def __init__(
        self, d_model: int = 256, num_heads: int = 8, dim_feedforward: int = 2048, dropout: float = 0.1, **kwargs
    ):
        super().__init__(d_model, num_heads, dim_feedforward, dropout, **kwargs)
        self.multihead_attn = MultiHeadAttention(d_model, num_heads, dropout)
        self.norm3 = keras.layers.LayerNormalization(epsilon=LAYER_NORM_EPS)
        self.dropout3 = keras.layers.Dropout(dropout)

    def call(self, tgt, memory, pos, query_pos, key_padding_mask, training=None):
        q = k = tgt + query_pos
        tgt = self._add_norm(tgt, self.self_attn(q, k, tgt, training=training), self.dropout1, self.norm1, training)
        attended = self.multihead_attn(tgt + query_pos, memory + pos, memory, key_padding_mask, training=training)
        tgt = self._add_norm(tgt, attended, self.dropout2, self.norm2, training)
        return self._add_norm(tgt, self.ffn(tgt, training=training), self.dropout3, self.norm3, training)


@keras.saving.register_keras_serializable(package="detr")
class Transformer(keras.layers.Layer):
    """Encoder (no final norm) and decoder whose final LayerNorm is applied to every layer's output.

    Returns the decoder states of every layer, stacked: [num_decoder_layers, N, Q, d_model]; with
    `return_memory=True` also the encoder output [N, H*W, d_model] (the official transformer returns
    both; the panoptic head attends over that memory).
    """

    def __init__(
        self,
        d_model: int = 256,
        num_heads: int = 8,
        num_encoder_layers: int = 6,
        num_decoder_layers: int = 6,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.config = {
            "d_model": d_model,
            "num_heads": num_heads,
            "num_encoder_layers": num_encoder_layers,
            "num_decoder_layers": num_decoder_layers,
            "dim_feedforward": dim_feedforward,
            "dropout": dropout,
        }
        self.d_model = d_model
        self.encoder_layers = [
            TransformerEncoderLayer(d_model, num_heads, dim_feedforward, dropout) for _ in range(num_encoder_layers)
        ]
        self.decoder_layers = [
            TransformerDecoderLayer(d_model, num_heads, dim_feedforward, dropout) for _ in range(num_decoder_layers)
        ]
        self.decoder_norm = keras.layers.LayerNormalization(epsilon=LAYER_NORM_EPS)

    def call(self, src, mask, query_embed, pos_embed, training=None, return_memory: bool = False):
        """src, pos_embed: [N, H, W, d]; mask: [N, H, W] True on padding; query_embed: [Q, d]."""
        batch = ops.shape(src)[0]
        src = ops.reshape(src, (batch, -1, self.d_model))
        pos = ops.reshape(pos_embed, (batch, -1, self.d_model))
        mask = ops.reshape(mask, (batch, -1))
        query_pos = ops.broadcast_to(query_embed[None], (batch, *query_embed.shape))
        memory = src
        for layer in self.encoder_layers:
            memory = layer(memory, pos, mask, training=training)
        tgt = ops.zeros_like(query_pos)
        states = []
        for layer in self.decoder_layers:
            tgt = layer(tgt, memory, pos, query_pos, mask, training=training)
            states.append(self.decoder_norm(tgt))
        states = ops.stack(states)
        return (states, memory) if return_memory else states

    def get_config(self):
        return {**super().get_config(), **self.config}
