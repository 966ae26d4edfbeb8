from __future__ import annotations

import pytest

from insights.scoring.language import (
    SUPPORTED_LANGUAGES,
    detect_language,
    detect_languages,
    is_supported,
    scored_as,
)


def test_the_spec_lists_41_supported_language_entries():
    assert len(SUPPORTED_LANGUAGES) == 41
    for code in ("ms", "id", "sr-Cyrl", "sr-Latn", "zh-HK", "zh-Hans", "zh-Hant", "hr", "no"):
        assert code in SUPPORTED_LANGUAGES


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I have been waiting for two hours and nobody answers", "en"),
        ("Llevo dos horas esperando y nadie me contesta", "es"),
        ("Ich warte seit zwei Stunden und niemand antwortet", "de"),
        ("我已经等了两个小时了，没有人回复我", "zh-Hans"),
        ("我已經等了兩個小時了，沒有人回覆我", "zh-Hant"),
        ("你哋啲嘢咁耐都未到，我等咗兩個鐘", "zh-HK"),
        ("二時間も待っています", "ja"),
        ("두 시간째 기다리고 있어요", "ko"),
        ("Спасибо, теперь всё работает", "ru"),
    ],
)
def test_detects_common_languages(text, expected):
    assert detect_language(text) == expected


def test_detection_is_deterministic():
    text = "ok merci"
    assert len({detect_language(text) for _ in range(20)}) == 1


@pytest.mark.parametrize(
    "text",
    ["Мој број поруџбине је 72015", "Ћао, ђе си, треба ми помоћ", "Хвала, сада све ради"],
)
def test_serbian_cyrillic_is_not_mislabelled_macedonian_or_bulgarian(text):
    assert detect_language(text) == "sr-Cyrl"


def test_macedonian_stays_macedonian_and_unsupported():
    code = detect_language("Ѓорѓи ќе дојде утре, ѕвездите се убави")
    assert code == "mk"
    assert code not in SUPPORTED_LANGUAGES


def test_serbian_latin_cues_beat_croatian():
    assert detect_language("Hvala, to je rešilo problem, sve radi lepo") == "sr-Latn"
    assert detect_language("Hvala, to je riješilo problem, sve radi lijepo") != "sr-Latn"


def test_malay_is_told_from_indonesian():
    assert detect_language("Saya tak faham kenapa bayaran belum masuk ke akaun saya") == "ms"
    assert detect_language("Nombor pesanan saya ialah 38820, boleh semak?") == "ms"
    assert detect_language("Saya nggak bisa bayar karena aplikasinya error terus") == "id"
    # Malaysian "dihantar" / "bungkusan" against Indonesian "dikirim" / "paket"
    assert detect_language("Bilakah bungkusan saya akan dihantar?") == "ms"
    assert detect_language("Kapan paket saya akan dikirim?") == "id"


def test_hint_is_a_prior_for_short_texts():
    assert detect_language("ok", hint="es") == "es"
    assert detect_language("ok", hint="fr") == "fr"
    # ...but not across scripts, and not against a clear longer text
    assert detect_language("спасибо", hint="en") == "ru"
    assert detect_language("Merci beaucoup pour votre aide rapide", hint="en") == "fr"


def test_a_first_message_leans_to_the_base_language_only_when_langdetect_hesitates():
    assert detect_language("Hi, I have a question about my bill") == "fr"  # langdetect: fr 0.57, en 0.43
    assert detect_language("Hi, I have a question about my bill", prior="en") == "en"
    # a clear text keeps its language, and a short one is not overruled by the base language
    assert detect_language("Merci beaucoup pour votre aide rapide", prior="en") == "fr"
    assert detect_language("hola, tengo un problema", prior="en") == "es"
    assert detect_language("merci", prior="en") == detect_language("merci")
    # the conversation's own language, when there is one, comes first
    assert detect_language("Hi, I have a question about my bill", hint="fr", prior="en") == "fr"


@pytest.mark.parametrize("text", ["😡😡", "!!!", "48213", "  ", ""])
def test_text_without_letters_has_no_language(text):
    assert detect_language(text) is None


def test_detecting_many_texts_at_once_answers_as_one_at_a_time():
    texts = [
        "Saya tak faham kenapa bayaran belum masuk",
        "merci",
        "ok",
        "",
        "😡😡",
        "我个包裹几时送到？",
        "Hvala, to je rešilo problem",
        "Hi, I have a question about my bill",
        "danke!",
        "Чекам већ два сата",
        "안녕하세요",
        "gracias",
        "Obrigado pela ajuda",
    ] * 2
    hints = [None, "fr", "de", None, "fr", "zh-HK", None, None, None, None, None, "es", "pt"] * 2
    expected = [detect_language(t, hint=h, prior="en") for t, h in zip(texts, hints, strict=False)]
    assert detect_languages(texts, hints, prior="en") == expected
    assert detect_languages(texts[:2], prior="en") == [detect_language(t, prior="en") for t in texts[:2]]


@pytest.mark.parametrize(
    "text",
    [
        "bahut bekar service hai, mera paisa wapas karo",  # langdetect: Indonesian
        "thank you bhai, sab theek ho gaya",  # langdetect: Somali
        "aapki service bahut acchi hai, shukriya",  # langdetect: Swahili
        "mera order abhi tak nahi aaya, kya ho raha hai",
    ],
)
def test_hindi_in_latin_letters_is_named_as_such_and_scored_as_hindi(text):
    """Named hi-Latn rather than Indonesian or Swahili, and scored as Hindi: it is not one of
    the spec's 41 entries, but the model reads it (docs/model.md, "Hindi in Latin letters")."""
    code = detect_language(text)
    assert code == "hi-Latn"
    assert code not in SUPPORTED_LANGUAGES
    assert is_supported(code) and scored_as(code) == "hi"


def test_an_unlisted_language_is_not_scored_as_any_entry():
    assert scored_as("sw") is None and not is_supported("sw")
    assert scored_as("fr") == "fr"


def test_a_hinglish_conversations_short_follow_up_keeps_its_language():
    assert detect_language("ok thanks", hint="hi-Latn") == "hi-Latn"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("thanks bhai, that fixed it", "en"),  # one Hindi word in English
        ("hai ragione, il pacco non è ancora arrivato", "it"),
        ("toi muon hoi ve don hang, hai ngay roi ma chua thay", "vi"),  # Vietnamese without accents
        ("hun har ikke modtaget sin pakke endnu", "da"),
        ("voce acha que o pedido vai chegar hoje?", "pt"),
        ("to je dost drahé, chci vrátit peníze", "cs"),
    ],
)
def test_words_shared_with_other_languages_do_not_make_a_text_hinglish(text, expected):
    assert detect_language(text) == expected


@pytest.mark.parametrize(
    "code, name",
    [
        ("sr-Latn", "Serbian (Latin)"),
        ("pt", "Portuguese"),
        ("hi-Latn", "Hindi (Latin)"),
        ("sw", "Swahili"),
        ("xx", "xx"),
        ("", ""),
    ],
)
def test_language_names_for_the_screens(code, name):
    from insights.scoring.language import language_name

    assert language_name(code) == name
