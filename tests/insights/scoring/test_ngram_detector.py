"""The NumPy port of langdetect gives langdetect's own answers, probabilities included."""

from __future__ import annotations

import pytest

from insights.scoring.ngram_detector import _Trials, ngram_detector
from tests.insights.scoring.test_tokenizer import UMSAB

SAMPLES = [
    "I've waited two hours, this is ridiculous",
    "thanks, that fixed it",
    "my order number is 48213",
    "J'attends depuis deux heures, c'est ridicule",
    "Ich warte seit zwei Stunden, das ist lächerlich",
    "Llevo dos horas esperando, esto es ridículo",
    "Sto aspettando da due ore, è ridicolo",
    "Estou esperando há duas horas, isso é ridículo",
    "Ik wacht al twee uur, dit is belachelijk",
    "Czekam już dwie godziny, to jest śmieszne",
    "Jag har väntat i två timmar, det här är löjligt",
    "Iki saattir bekliyorum, bu çok saçma",
    "Я жду уже два часа, это смешно",
    "Чекам већ два сата, ово је смешно",
    "Čekam već dva sata, ovo je smešno",
    "Saya sudah menunggu dua jam, ini tidak masuk akal",
    "Saya dah tunggu dua jam, ini memang tak masuk akal",
    "انتظرت ساعتين، هذا سخيف",
    "मैं दो घंटे से इंतज़ार कर रहा हूँ",
    "我已经等了两个小时了，这太荒谬了",
    "ok",
    "merci",
    "danke!",
    "https://example.com a@b.com",
    "??",
    "a",
]


def langdetect_reference(text: str) -> list[tuple[str, float]]:
    from langdetect import DetectorFactory, detector_factory
    from langdetect.lang_detect_exception import LangDetectException

    DetectorFactory.seed = 0
    detector_factory.init_factory()
    detector = detector_factory._factory.create()
    detector.append(text)
    try:
        return [(c.lang, c.prob) for c in detector.get_probabilities()]
    except LangDetectException:
        return []


def test_the_port_equals_langdetect_on_samples_in_many_languages():
    detector = ngram_detector()
    for text in SAMPLES:
        assert detector.detect(text) == langdetect_reference(text), text


def test_many_texts_in_lockstep_get_the_answers_each_gets_alone():
    detector = ngram_detector()
    texts = SAMPLES + ["", "12345", "🙂"] + SAMPLES[::-1]
    assert len(texts) >= _Trials.LOCKSTEP_FROM
    assert detector.detect_many(texts) == [langdetect_reference(text) for text in texts]
    assert detector.detect_many(texts[:3]) == [langdetect_reference(text) for text in texts[:3]]


def test_the_same_text_gets_the_same_answer_every_time():
    detector = ngram_detector()
    first = [detector.detect(text) for text in SAMPLES]
    assert [detector.detect(text) for text in reversed(SAMPLES)] == list(reversed(first))


@pytest.mark.skipif(not UMSAB.exists(), reason="the UMSAB data is not beside the repository")
def test_the_port_equals_langdetect_on_umsab_tweets_and_their_first_words():
    detector = ngram_detector()
    texts = []
    for path in sorted(UMSAB.glob("*/val_text.txt")):
        lines = path.read_text("utf-8").splitlines()[:120]
        texts += lines + [" ".join(line.split()[:3]) for line in lines]
    reference = [langdetect_reference(t) for t in texts]
    different = [t for t, ref in zip(texts, reference, strict=False) if detector.detect(t) != ref]
    assert not different, different[:5]
    together = detector.detect_many(texts)
    assert [t for t, got, ref in zip(texts, together, reference, strict=False) if got != ref] == []
