from __future__ import annotations

import torch
from torch.nn import functional as F

from insights.scoring.attention import length_grouped_attention


class _Module(torch.nn.Module):
    pass


def _padded_mask(lengths, width):
    keys = torch.arange(width)[None, :] < torch.tensor(lengths)[:, None]
    return keys[:, None, None, :].expand(len(lengths), 1, width, width)


def test_each_message_attends_over_its_own_tokens_exactly_as_alone():
    torch.manual_seed(0)
    lengths, width = [5, 9, 5, 3], 9
    q, k, v = (torch.randn(4, 2, width, 8) for _ in range(3))
    out, _ = length_grouped_attention(_Module().eval(), q, k, v, _padded_mask(lengths, width), scaling=0.3)
    for row, n in enumerate(lengths):
        alone = F.scaled_dot_product_attention(
            q[row : row + 1, :, :n], k[row : row + 1, :, :n], v[row : row + 1, :, :n], scale=0.3
        )
        assert torch.equal(out[row, :n], alone.transpose(1, 2)[0])
        assert not out[row, n:].any()  # padded positions carry nothing


def test_an_additive_float_mask_gives_the_same_lengths_as_a_boolean_one():
    torch.manual_seed(1)
    q, k, v = (torch.randn(2, 1, 4, 8) for _ in range(3))
    boolean = _padded_mask([2, 4], 4)
    additive = torch.zeros(boolean.shape).masked_fill(~boolean, torch.finfo(torch.float32).min)
    a, _ = length_grouped_attention(_Module().eval(), q, k, v, boolean)
    b, _ = length_grouped_attention(_Module().eval(), q, k, v, additive)
    assert torch.equal(a, b)


def test_without_a_mask_every_message_is_full_length():
    torch.manual_seed(2)
    q, k, v = (torch.randn(3, 2, 6, 8) for _ in range(3))
    out, _ = length_grouped_attention(_Module().eval(), q, k, v, None)
    assert torch.equal(out, F.scaled_dot_product_attention(q, k, v).transpose(1, 2))
