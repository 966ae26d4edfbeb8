"""A randomly initialised BERT encoder small enough for unit tests of the model's plumbing
(quantization, adapters, distillation, export), the same for every seed."""

from __future__ import annotations


def tiny_bert(
    *,
    layers: int = 2,
    hidden: int = 32,
    vocab: int = 120,
    intermediate: int = 64,
    positions: int = 64,
    seed: int = 0,
    **config,
):
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    return BertModel(
        BertConfig(
            vocab_size=vocab,
            hidden_size=hidden,
            num_hidden_layers=layers,
            num_attention_heads=2,
            intermediate_size=intermediate,
            max_position_embeddings=positions,
            **config,
        ),
        add_pooling_layer=False,
    ).eval()
