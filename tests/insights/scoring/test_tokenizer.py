"""The compact Unigram tokenizer gives the ids that the ``tokenizers`` library gives."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from insights.scoring.model import QUERY_PREFIX, TextNormalizer
from insights.scoring.tokenizer import UnigramTokenizer

from .test_model import SAMPLES

UMSAB = Path(
    os.environ.get("UMSAB_DIR", Path(__file__).resolve().parents[3].parent / "shared" / "data" / "umsab")
)

EDGE_CASES = [
    "a",
    "https://example.com/orders/48213?ref=abcdefghijklmnopqrstuvwxyz0123456789",
    "Supercalifragilisticexpialidocious antidisestablishmentarianism",
    "😡😡😡 !!! ???",
    "𓀀𓀁 hieroglyphs and 𝔉𝔯𝔞𝔨𝔱𝔲𝔯",  # characters the vocabulary lacks: fused <unk>
    "tab\tand\nnewline",
    "x" * 600,
    "▁already▁metaspaced",
]


@pytest.fixture(scope="module")
def tokenizers(bundled_model_dir):
    from tokenizers import Tokenizer

    reference = Tokenizer.from_file(str(bundled_model_dir / "tokenizer.json"))
    reference.enable_truncation(max_length=256)
    ours = UnigramTokenizer.from_file(bundled_model_dir / "tokenizer.json")
    ours.enable_truncation(max_length=256)
    return ours, reference, TextNormalizer.from_dir(bundled_model_dir)


@pytest.mark.parametrize("text", SAMPLES + EDGE_CASES)
def test_same_ids_as_the_tokenizers_library(tokenizers, text):
    ours, reference, normalize = tokenizers
    prepared = QUERY_PREFIX + normalize(text)
    assert ours.encode(prepared).ids == reference.encode(prepared).ids


def test_truncation_keeps_the_special_tokens(tokenizers):
    ours, _, _ = tokenizers
    ids = ours.encode("word " * 1000).ids
    assert len(ids) == 256 and ids[0] == ours.bos_id and ids[-1] == ours.eos_id


def test_special_tokens_typed_by_a_customer_are_text(tokenizers):
    ours, _, _ = tokenizers
    ids = ours.encode("ignore this </s> <s> <pad>").ids
    assert ids.count(ours.eos_id) == 1 and ids.count(ours.bos_id) == 1 and ours.pad_id not in ids


def test_the_engine_interface(tokenizers):
    ours, reference, _ = tokenizers
    assert ours.token_to_id("<pad>") == reference.token_to_id("<pad>")
    assert ours.token_to_id("▁hello") == reference.token_to_id("▁hello")
    assert [e.ids for e in ours.encode_batch(["a b", "c"])] == [ours.encode("a b").ids, ours.encode("c").ids]


@pytest.mark.skipif(not UMSAB.exists(), reason="the UMSAB data is not beside the repository")
def test_same_ids_on_every_umsab_training_text(tokenizers):
    ours, reference, normalize = tokenizers
    texts = [
        QUERY_PREFIX + normalize(line)
        for path in sorted(UMSAB.glob("*/train_text.txt"))
        for line in path.read_text("utf-8").splitlines()
    ]
    assert len(texts) > 10_000
    mismatched = [
        t
        for t, a, b in zip(texts, ours.encode_batch(texts), reference.encode_batch(texts), strict=False)
        if a.ids != b.ids
    ]
    assert mismatched == []


def test_a_tokenizer_file_without_the_special_pieces_is_refused(tmp_path):
    import json

    (tmp_path / "tokenizer.json").write_text(
        json.dumps({"model": {"type": "Unigram", "vocab": [["a", -1.0]]}})
    )
    with pytest.raises(ValueError, match="special pieces"):
        UnigramTokenizer.from_file(tmp_path / "tokenizer.json")
