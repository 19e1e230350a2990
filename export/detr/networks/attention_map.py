"""The panoptic head's multi-head attention map of each object query over the encoder memory.

DETR's MHAttentionMap: only the attention weights are computed (no values, no output projection).
They become the per-query input channels of the mask head.
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="detr")
class MHAttentionMap(keras.layers.Layer):
    """queries [N, Q, query_dim], memory [N, h, w, query_dim], padding mask [N, h, w] (True on padding)
    -> attention weights [N, Q, h, w, num_heads].

    The official layout is [N, Q, num_heads, h, w]; heads are last here because they feed the mask
    head as channels (channels-last). As in the official module the softmax runs jointly over heads and
    positions (one distribution per query, not one per head), logits are scaled by
    (hidden_dim / num_heads) ** -0.5 and padded positions get -inf. k_linear is applied to every
    position of the memory (the official 1x1 conv with the linear layer's weight).
    """

    def __init__(self, query_dim: int, hidden_dim: int, num_heads: int, dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.query_dim, self.hidden_dim, self.num_heads, self.dropout_rate = query_dim, hidden_dim, num_heads, dropout
        if hidden_dim % num_heads:
            raise ValueError(f"hidden_dim {hidden_dim} is not divisible by num_heads {num_heads}")
        self.q_linear = keras.layers.Dense(hidden_dim, kernel_initializer="glorot_uniform")
        self.k_linear = keras.layers.Dense(hidden_dim, kernel_initializer="glorot_uniform")
        self.dropout = keras.layers.Dropout(dropout)

    def call(self, queries, memory, mask=None, training=None):
        head_dim = self.hidden_dim // self.num_heads
        q = self.q_linear(queries)
        k = self.k_linear(memory)
        q = ops.reshape(q, (*ops.shape(q)[:2], self.num_heads, head_dim)) * (float(head_dim) ** -0.5)
        k = ops.reshape(k, (*ops.shape(k)[:3], self.num_heads, head_dim))
        weights = ops.einsum("bqnc,bhwnc->bqhwn", q, k)
        if mask is not None:
            weights = ops.where(mask[:, None, :, :, None], float("-inf"), weights)
        shape = ops.shape(weights)
        flat = ops.reshape(weights, (shape[0], shape[1], -1))
        weights = ops.reshape(ops.softmax(flat, axis=-1), shape)
        return self.dropout(weights, training=training)

    def get_config(self):
        return {
            **super().get_config(),
            "query_dim": self.query_dim,
            "hidden_dim": self.hidden_dim,
            "num_heads": self.num_heads,
            "dropout": self.dropout_rate,
        }
