"""Attention that never lets padding or another message into a message's sums.

With padding, a message's attention runs over a longer, masked row: its softmax and its product
with the values add the same numbers plus zeros, but in another order on another kernel path
(which one depends on the CPU's instruction set). The fp32 result then differs in its last bits,
a value at an int8 quantisation step rounds the other way in a later layer, and the score moves:
on an AVX2-only AMD EPYC "my order number is 48213" scored 0.0058 alone and 0.0095 beside a
longer message, while everything before the attention (embeddings, int8 products, layer norms)
was bit for bit the same.

:func:`length_grouped_attention` runs the attention of the messages of each length together, on
their unpadded rows, with no mask: exactly the computation that a message alone gets. Every
other operation of the encoder works token by token, so a message's hidden states, hence its
score, no longer depend on what it is batched with, on any CPU.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

ATTENTION_NAME = "length_grouped_sdpa"


def _lengths(attention_mask: torch.Tensor | None, batch: int, width: int) -> torch.Tensor:
    """Each message's token count from the encoder's 4-D mask (right padding)."""
    if attention_mask is None:
        return torch.full((batch,), width, dtype=torch.long)
    keys = attention_mask[:, 0, 0, :] if attention_mask.dim() == 4 else attention_mask
    allowed = keys if keys.dtype == torch.bool else keys == 0
    return allowed.expand(batch, width).sum(dim=-1)


def length_grouped_attention(
    module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs,
):
    """A ``transformers`` attention function: (batch, heads, tokens, head_dim) in,
    (batch, tokens, heads, head_dim) out, like its ``sdpa`` one. Padded positions get zeros:
    no real token attends to them, and pooling skips them."""
    batch, _, width, _ = query.shape
    lengths = _lengths(attention_mask, batch, width)
    p = dropout if module.training else 0.0
    if bool((lengths == width).all()):
        out = F.scaled_dot_product_attention(query, key, value, dropout_p=p, scale=scaling)
        return out.transpose(1, 2).contiguous(), None
    out = torch.zeros_like(query)
    for length in torch.unique(lengths).tolist():
        rows = (lengths == length).nonzero().flatten()
        n = int(length)
        out[rows, :, :n] = F.scaled_dot_product_attention(
            query[rows, :, :n], key[rows, :, :n], value[rows, :, :n], dropout_p=p, scale=scaling
        )
    return out.transpose(1, 2).contiguous(), None


def use_length_grouped_attention(encoder) -> None:
    """Make ``encoder`` (a ``transformers`` model) run :func:`length_grouped_attention`."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(ATTENTION_NAME, length_grouped_attention)
    AttentionMaskInterface.register(ATTENTION_NAME, sdpa_mask)
    encoder.set_attn_implementation(ATTENTION_NAME)
