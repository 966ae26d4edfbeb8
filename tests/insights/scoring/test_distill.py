"""The distilled student (insights/scoring/distill.py) on a tiny BERT: it starts as the first
layers of its teacher's encoder, its adapters load back as the sum of both updates, and
training moves its probabilities toward the teacher's."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from insights.scoring.adapters import merge_adapters
from insights.scoring.distill import distill, make_student, stacked_adapters
from tests.insights.scoring import tiny


@pytest.fixture
def tiny_bert():
    return tiny.tiny_bert(layers=5, hidden=16, vocab=60, intermediate=32, positions=32)


def _inputs(seed: int = 1, n: int = 6, width: int = 9):
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, 60, (n, width), generator=generator)
    mask = torch.ones_like(ids)
    mask[0, 5:] = 0  # one padded row
    return ids, mask


def _hidden(model, ids, mask, layer: int) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states[layer]


def test_a_student_starts_as_the_first_layers_of_its_teacher_with_only_adapters_to_train(tiny_bert):
    teacher = copy.deepcopy(tiny_bert)
    student = make_student(tiny_bert, depth=4)
    assert len(student.encoder.layer) == 4 and student.config.num_hidden_layers == 4
    trainable = [name for name, p in student.named_parameters() if p.requires_grad]
    assert trainable and all("lora" in name for name in trainable)
    ids, mask = _inputs()
    torch.testing.assert_close(_hidden(student, ids, mask, 4), _hidden(teacher, ids, mask, 4))


def test_stacked_adapters_load_as_the_sum_of_the_committed_and_the_new_update(tiny_bert):
    torch.manual_seed(3)
    committed = {
        "0.attention.self.query.a": torch.randn(2, 16) * 0.1,
        "0.attention.self.query.b": torch.randn(16, 2) * 0.1,
        "3.output.dense.a": torch.randn(2, 32) * 0.1,
        "3.output.dense.b": torch.randn(16, 2) * 0.1,
    }
    base = copy.deepcopy(tiny_bert)
    merge_adapters(tiny_bert, committed)  # the served encoder: committed adapters merged
    student = make_student(tiny_bert, depth=4, rank=2, alpha=4.0)
    with torch.no_grad():  # a trained student: every new update non-zero
        for name, p in student.named_parameters():
            if "lora" in name:
                p.normal_(0, 0.1)
    ids, mask = _inputs()

    stacked = stacked_adapters(student, committed)
    assert stacked["0.attention.self.query.a"].shape == (4, 16)  # ranks add up where both exist
    assert stacked["1.attention.self.query.a"].shape == (2, 16)
    loaded = base  # a fresh copy of the base encoder, cut the same way, as the serving path loads it
    loaded.encoder.layer = loaded.encoder.layer[:4]
    merge_adapters(loaded, stacked)
    torch.testing.assert_close(
        _hidden(loaded, ids, mask, 4), _hidden(student, ids, mask, 4), atol=1e-5, rtol=1e-4
    )


def test_distilling_moves_the_student_toward_the_teachers_probabilities(tiny_bert):
    generator = torch.Generator().manual_seed(5)
    ids = [torch.randint(1, 60, (int(n),), generator=generator).tolist() for n in torch.randint(3, 10, (64,))]
    # A teacher that reads the first token: the student must learn something to follow it.
    teacher = np.array([[3.0, 0.0, -3.0] if i[0] < 30 else [-3.0, 0.0, 3.0] for i in ids], np.float32)
    targets = np.zeros((len(ids), 3), np.float32)
    no_labels = np.zeros(len(ids), np.float32)  # the teacher alone
    student = make_student(tiny_bert, depth=4)

    def kl_to_teacher(head) -> float:
        width = max(len(i) for i in ids)
        x = torch.zeros((len(ids), width), dtype=torch.long)
        m = torch.zeros_like(x)
        for row, i in enumerate(ids):
            x[row, : len(i)], m[row, : len(i)] = torch.tensor(i), 1
        from insights.scoring.head import pool_hidden_states

        with torch.no_grad():
            out = student(input_ids=x, attention_mask=m, output_hidden_states=True)
            log_p = torch.log_softmax(head(pool_hidden_states(out.hidden_states, m, [1, 2, 3, 4])), -1)
        t = torch.softmax(torch.from_numpy(teacher), -1)
        return float((t * (torch.log(t) - log_p)).sum(-1).mean())

    untrained = distill(
        student, 0, ids, teacher, targets, no_labels, mix=1.0, steps=1, head_lr=0.0, adapter_lr=0.0
    )
    before = kl_to_teacher(untrained)
    head = distill(
        student, 0, ids, teacher, targets, no_labels, mix=1.0, steps=60, batch_size=16, head_lr=1e-2
    )
    assert kl_to_teacher(head) < 0.5 * before
