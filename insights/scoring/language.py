"""Language detection and the supported-language gate.

``langdetect`` (seeded, so deterministic) does the statistics; a script check runs first for
the scripts that name one language here (kana → Japanese, Hangul → Korean, Thai, Hebrew, Greek),
and close-language rules cover what langdetect cannot say:

- **Serbian**: langdetect has no Serbian. Cyrillic text with ђ or ћ, or with ј/љ/њ/џ and none of
  Macedonian's ѓ/ќ/ѕ, is Serbian (Cyrillic) ``sr-Cyrl``. Latin text that langdetect calls
  Croatian/Slovenian/Bosnian is Serbian (Latin) ``sr-Latn`` when Serbian (ekavian) cues outnumber
  Croatian (ijekavian) ones, else it stays Croatian/Slovenian.
- **Malay**: langdetect has no Malay and calls it Indonesian. Malaysian vocabulary (kerana, wang,
  nombor, sahaja, awak, mahu, ...) outnumbering Indonesian (karena, uang, nomor, saja, bisa, ...)
  makes it ``ms``.
- **Hindi in Latin letters** (Hinglish): two or more distinct romanized Hindi words (hai, nahi,
  kya, mujhe, bahut, ...) make it ``hi-Latn`` (langdetect would call it Indonesian, Somali or
  Tagalog). It is not one of the 41 entries but is scored as Hindi (:data:`SCORED_AS`).
- **Chinese**: ``zh-cn`` → ``zh-Hans``, ``zh-tw`` → ``zh-Hant``; Cantonese characters (嘅 咗 唔 係
  冇 喺 佢 啲 ...) make it Chinese (Hong Kong SAR) ``zh-HK``.

A short text (under 20 characters) takes the conversation's earlier language (the hint) when
that language is written in the same script, unless langdetect is near certain (p >= 0.999, at
least 6 letters) of another supported language that it does not rank the hint beside; a longer
text takes the hint only when langdetect's confidence is under 0.80 and the hint is a candidate.
With no hint yet (a conversation's first message), a text of 20 characters or more takes the
organisation's base language on the same terms. Text without letters
(emoji, digits, punctuation) has no language: :func:`detect_language` returns ``None``.
"""

from __future__ import annotations

import re
import unicodedata

# The spec's 41 language entries: code -> English name.
SUPPORTED_LANGUAGES: dict[str, str] = {
    "ar": "Arabic",
    "bg": "Bulgarian",
    "zh-HK": "Chinese (Hong Kong SAR)",
    "ca": "Catalan",
    "zh-Hans": "Chinese Simplified",
    "zh-Hant": "Chinese Traditional",
    "hr": "Croatian",
    "cs": "Czech",
    "da": "Danish",
    "nl": "Dutch",
    "en": "English",
    "et": "Estonian",
    "fi": "Finnish",
    "fr": "French",
    "de": "German",
    "el": "Greek",
    "he": "Hebrew",
    "hi": "Hindi",
    "hu": "Hungarian",
    "id": "Indonesian",
    "it": "Italian",
    "ja": "Japanese",
    "ko": "Korean",
    "lv": "Latvian",
    "lt": "Lithuanian",
    "ms": "Malay",
    "no": "Norwegian",
    "pl": "Polish",
    "pt": "Portuguese",
    "ro": "Romanian",
    "ru": "Russian",
    "sr-Cyrl": "Serbian (Cyrillic)",
    "sr-Latn": "Serbian (Latin)",
    "sk": "Slovak",
    "sl": "Slovenian",
    "es": "Spanish",
    "sv": "Swedish",
    "th": "Thai",
    "tr": "Turkish",
    "uk": "Ukrainian",
    "vi": "Vietnamese",
}

# Names of the other languages the detector may report (named on the screens; not scored,
# except those in SCORED_AS).
OTHER_LANGUAGE_NAMES: dict[str, str] = {
    "hi-Latn": "Hindi (Latin)",
    "af": "Afrikaans",
    "bn": "Bengali",
    "cy": "Welsh",
    "fa": "Persian",
    "gu": "Gujarati",
    "kn": "Kannada",
    "mk": "Macedonian",
    "ml": "Malayalam",
    "mr": "Marathi",
    "ne": "Nepali",
    "pa": "Punjabi",
    "so": "Somali",
    "sq": "Albanian",
    "sw": "Swahili",
    "ta": "Tamil",
    "te": "Telugu",
    "tl": "Tagalog",
    "ur": "Urdu",
}


def language_name(code: str | None) -> str:
    """The language's English name for the screens ("Serbian (Latin)" for ``sr-Latn``); the
    code itself for a language without a name here, "" for none."""
    if not code:
        return ""
    return SUPPORTED_LANGUAGES.get(code) or OTHER_LANGUAGE_NAMES.get(code) or code


# Languages outside the 41 entries that are scored as one of them. Hindi in Latin letters: most
# of UMSAB's Hindi tweets are romanized, and the model reads them well above chance (48 macro-F1
# on held-out Hindi tweets against 33), so refusing them threw the signal away.
SCORED_AS: dict[str, str] = {"hi-Latn": "hi"}

SHORT_TEXT = 20  # characters: below this a detection alone is not trusted over the hint
MIN_CONFIDENCE = 0.80

_ALIASES = {
    "zh-cn": "zh-Hans",
    "zh-tw": "zh-Hant",
    "nb": "no",
    "nn": "no",
    "iw": "he",
    "in": "id",
    "zh": "zh-Hans",
    "zh-hans": "zh-Hans",
    "zh-hant": "zh-Hant",
    "zh-hk": "zh-HK",
    "sr-cyrl": "sr-Cyrl",
    "sr-latn": "sr-Latn",
    "sr": "sr-Cyrl",
    "hi-latn": "hi-Latn",
}

_SCRIPT_OF = {
    "ar": "Arabic",
    "bg": "Cyrillic",
    "ru": "Cyrillic",
    "uk": "Cyrillic",
    "sr-Cyrl": "Cyrillic",
    "zh-HK": "Han",
    "zh-Hans": "Han",
    "zh-Hant": "Han",
    "ja": "Han",
    "el": "Greek",
    "he": "Hebrew",
    "hi": "Devanagari",
    "ko": "Hangul",
    "th": "Thai",
}


def normalize_code(code: str | None) -> str | None:
    if not code:
        return None
    code = code.strip()
    return _ALIASES.get(code.lower(), code if code in SUPPORTED_LANGUAGES else code.lower())


def primary_subtag(code: str | None) -> str | None:
    return None if not code else code.split("-")[0].lower()


def language_script(code: str | None) -> str:
    return _SCRIPT_OF.get(code or "", "Latin")


# --------------------------------------------------------------------------- scripts


def _char_script(ch: str) -> str | None:
    cp = ord(ch)
    if 0x3040 <= cp <= 0x30FF or 0x31F0 <= cp <= 0x31FF or 0xFF66 <= cp <= 0xFF9D:
        return "Kana"
    if 0xAC00 <= cp <= 0xD7AF or 0x1100 <= cp <= 0x11FF or 0x3130 <= cp <= 0x318F:
        return "Hangul"
    if 0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2FA1F or 0xF900 <= cp <= 0xFAFF:
        return "Han"
    if not ch.isalpha():
        return None
    try:
        name = unicodedata.name(ch)
    except ValueError:
        return None
    for script in ("LATIN", "CYRILLIC", "ARABIC", "DEVANAGARI", "THAI", "HEBREW", "GREEK"):
        if name.startswith(script):
            return script.capitalize()
    return "Other"


def script_counts(text: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for ch in text:
        script = _char_script(ch)
        if script:
            counts[script] = counts.get(script, 0) + 1
    return counts


# --------------------------------------------------------------------------- close languages

_SERBIAN_CYRILLIC_ONLY = set("ђћЂЋ")
_SERBIAN_MACEDONIAN = set("јљњџЈЉЊЏ")
_MACEDONIAN_ONLY = set("ѓќѕЃЌЅ")

_WORD = re.compile(r"\w+", re.UNICODE)
_SERBIAN_LATIN_CUES = re.compile(
    r"^(šta|gde|uvek|ovde|lep[aoeiu]?|lepo|vreme(na)?|hiljad\w*|porudžbin\w*|reš\w*|razume\w*|"
    r"dete|deca|mleko|hleb|reč\w*|nedelj\w*|voz\w*|kafa|tačno|mesec\w*|pesm\w*|cena|ceo|cela|"
    r"devojk\w*|sredu|uslug\w*|molim|hteo|htela|beše|bio|bila|treba|ne(ma|mam)|sam|smo)$"
)
_CROATIAN_CUES = re.compile(
    r"^(što|gdje|uvijek|ovdje|lijep\w*|vrijeme(na)?|tisuć\w*|narudžb\w*|riješ\w*|razumije\w*|"
    r"dijete|djeca|mlijeko|kruh|riječ\w*|tjedan\w*|vlak\w*|kava|točno|mjesec\w*|pjesm\w*|cijena|"
    r"cijel\w*|djevojk\w*|usluga|htio|htjela|bijaše|sveučilišt\w*|zrakoplov\w*|glazb\w*)$"
)
# Words shared by Serbian and Croatian only count for Serbian when nothing Croatian appears.
# Serbian Cyrillic words without ђ/ћ/ј/љ/њ/џ that Russian, Bulgarian and Ukrainian do not use.
_SERBIAN_CYRILLIC_CUES = re.compile(
    r"^(хвала|шта|све|увек|овде|лепо|молим|данас|сутра|решил\w*|решен\w*|хиљад\w*|недељ\w*)$"
)
_SHARED_SR_HR = {"molim", "bio", "bila", "treba", "nema", "nemam", "sam", "smo"}

_MALAY_CUES = re.compile(
    r"^(kerana|sahaja|wang|nombor|awak|mahu|boleh|kereta|percuma|encik|cik|beritahu|telefon|"
    r"pejabat|kedai|bila|dah|nak|akaun|bayaran|semak|betul|macam|ialah|sebab|kat|tak|"
    r"baiki|masaalah|faham|cuba|sila|pesanan|jangan|terlalu|teruk|bilakah|hantar|dihantar|"
    r"bungkusan|selepas)$"
)
_INDONESIAN_CUES = re.compile(
    r"^(karena|saja|uang|nomor|bisa|mau|kantor|toko|kapan|akun|telepon|nggak|gak|enggak|"
    r"banget|dong|sih|kok|aja|udah|gimana|kenapa|pembayaran|mobil|gratis|bapak|ibu|coba|"
    r"silakan|tolong|belum|parah|jelek|kamu|anda|kirim|dikirim)$"
)
# Hindi written in Latin letters ("Hinglish", "mera order abhi tak nahi aaya"). langdetect calls
# it Indonesian, Somali, Swahili, Tagalog or English. It gets a code of its own, so that the
# language is named right, and is scored as Hindi (SCORED_AS). Two distinct words of this
# list make a text Hinglish; words that other Latin-script languages use too (ke, ki, ko, se,
# me, na, to, ho, mein, din, kal; Vietnamese typed without accents: tha, thi; Danish hun,
# Finnish raha, Czech dost, Portuguese acha, pata, bola) are left out.
ROMANIZED_HINDI = "hi-Latn"
_ROMANIZED_HINDI_CUES = re.compile(
    r"^(hai|hain|hoon|nahi|nahin|nhi|kya|kyu|kyun|kyon|mujhe|mujhko|muje|maine|mera|meri|"
    r"tera|teri|tum|tumhe|tumko|tumhara|tumhari|aap|aapka|aapki|aapke|aapko|apna|apni|apne|"
    r"hum|humko|hamara|hamari|humara|unka|unki|unke|unko|iska|iski|iske|uska|uski|uske|kuch|"
    r"bahut|bohot|bohat|accha|achha|achchha|acchi|achhi|yaar|karo|karna|karke|kiya|kiye|"
    r"rahi|rahe|hoga|hogi|gaya|gayi|gaye|abhi|kab|kaise|kaisa|kaisi|kahan|kyunki|"
    r"lekin|magar|bhi|sirf|wala|wali|wale|kisi|hui|diya|dijiye|kijiye|batao|bataiye|samajh|"
    r"paisa|paise|wapas|jaldi|bilkul|theek|thik|galat|bekar|bakwas|shukriya|dhanyavaad|"
    r"dhanyawad|dhanyavad|haan|yeh|woh|aur|chahiye|ghatiya|kripya|sabko|aaya|aayi|matlab|"
    r"bhai|dekho|dekha|dekhi|karenge|karega|karegi|milega|bolo|ladka|ladki|"
    r"wahan|yahan|aaj|raat|pyaar|pyar|zindagi|chalo)$"
)
_CANTONESE = set("嘅咗唔係冇喺佢啲嘢咁乜睇畀俾嚟哋咩噉喎囉嗰啱揾搵攞諗")
_SIMPLIFIED_ONLY = set("这们个说时来为对国会后动么发现还没问经样长见办气员务单话题钱")
_TRADITIONAL_ONLY = set("這們個說時來為對國會後動麼發現還沒問經樣長見辦氣員務單話題錢")


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def serbian_latin_votes(text: str) -> tuple[int, int]:
    words = _words(text)
    hr = sum(1 for w in words if _CROATIAN_CUES.match(w))
    sr = sum(1 for w in words if _SERBIAN_LATIN_CUES.match(w) and (hr == 0 or w not in _SHARED_SR_HR))
    return sr, hr


def romanized_hindi_votes(text: str) -> int:
    """Distinct romanized Hindi words in ``text``."""
    return len({w for w in _words(text) if _ROMANIZED_HINDI_CUES.match(w)})


def malay_votes(text: str) -> tuple[int, int]:
    words = _words(text)
    return (sum(1 for w in words if _MALAY_CUES.match(w)), sum(1 for w in words if _INDONESIAN_CUES.match(w)))


def _chinese_variant(text: str, detected: str | None) -> str:
    chars = set(text)
    if chars & _CANTONESE:
        return "zh-HK"
    simp, trad = len(chars & _SIMPLIFIED_ONLY), len(chars & _TRADITIONAL_ONLY)
    if simp != trad:
        return "zh-Hans" if simp > trad else "zh-Hant"
    return "zh-Hant" if detected == "zh-tw" else "zh-Hans"


# --------------------------------------------------------------------------- langdetect


def _langdetect(text: str) -> list[tuple[str, float]]:
    from .ngram_detector import ngram_detector

    return ngram_detector().detect(text)


def detect_languages(
    texts: list[str], hints: list[str | None] | None = None, prior: str | None = None
) -> list[str | None]:
    """``detect_language`` for many texts, langdetect's part run over all of them at once."""
    from .ngram_detector import ngram_detector

    hints = hints if hints is not None else [None] * len(texts)
    candidates = ngram_detector().detect_many([t if isinstance(t, str) else "" for t in texts])
    return [
        detect_language(text, hint, prior, candidates=c)
        for text, hint, c in zip(texts, hints, candidates, strict=False)
    ]


def detect_language(
    text: str,
    hint: str | None = None,
    prior: str | None = None,
    *,
    candidates: list[tuple[str, float]] | None = None,
) -> str | None:
    """The language code of ``text`` (a key of SUPPORTED_LANGUAGES, or another langdetect code),
    or None when it has no letters. ``hint`` is the conversation's earlier language; ``prior``
    the organisation's base language, a weaker hint for a conversation's first messages.
    ``candidates``: langdetect's answer for ``text`` when the caller already has it."""
    if not text or not text.strip():
        return None
    hint = normalize_code(hint)
    counts = script_counts(text)
    if not counts:
        return None
    script = max(counts, key=counts.get)
    if counts.get("Kana"):
        return "ja"
    if script == "Hangul":
        return "ko"
    if script in ("Thai", "Hebrew", "Greek"):
        return {"Thai": "th", "Hebrew": "he", "Greek": "el"}[script]
    if script == "Han":
        if hint in ("zh-HK", "zh-Hans", "zh-Hant") and not (set(text) & _CANTONESE):
            simp, trad = len(set(text) & _SIMPLIFIED_ONLY), len(set(text) & _TRADITIONAL_ONLY)
            if simp == trad or (hint == "zh-Hans") == (simp > trad):
                return hint
        if candidates is None:
            candidates = _langdetect(text)
        top = candidates[0][0] if candidates else None
        return _chinese_variant(text, top)

    if script == "Cyrillic":
        letters = set(text)
        if letters & _SERBIAN_CYRILLIC_ONLY or (
            letters & _SERBIAN_MACEDONIAN and not letters & _MACEDONIAN_ONLY
        ):
            return "sr-Cyrl"

    if script == "Latin" and romanized_hindi_votes(text) >= 2:
        return ROMANIZED_HINDI

    if candidates is None:
        candidates = _langdetect(text)
    if not candidates:
        return hint if hint and language_script(hint) == _script_family(script) else None
    code, prob = candidates[0]
    code = normalize_code(code)

    if code in ("hr", "sl", "bs", "sr") and script == "Latin":
        sr, hr = serbian_latin_votes(text)
        if sr > hr or (hint == "sr-Latn" and hr == 0):
            code = "sr-Latn"
    elif code in ("id", "ms", "tl", "so", "sw"):
        # langdetect has no Malay, and short Malay/Indonesian is often called Tagalog/Somali.
        ms, ind = malay_votes(text)
        if ms > ind or (code == "id" and hint == "ms" and ind == 0):
            code = "ms"
        elif ind > 0 or (code != "id" and hint in ("ms", "id")):
            code = "id" if ind >= ms and hint != "ms" else "ms"
    elif code in ("mk", "bg", "ru", "uk") and (
        any(_SERBIAN_CYRILLIC_CUES.match(w) for w in _words(text))
        or (hint == "sr-Cyrl" and len(text.strip()) < SHORT_TEXT)
    ):
        code = "sr-Cyrl"

    if hint and hint != code and language_script(hint) == _script_family(script):
        hinted = _ranked(candidates, hint)
        if len(text.strip()) < SHORT_TEXT:
            n_letters = sum(counts.values())
            if not is_supported(code) or hinted or prob < 0.999 or n_letters < 6:
                return hint
        elif prob < MIN_CONFIDENCE and hinted:
            return hint
    prior = normalize_code(prior)
    if (
        hint is None
        and prior
        and prior != code
        and prob < MIN_CONFIDENCE
        and len(text.strip()) >= SHORT_TEXT
        and _ranked(candidates, prior)
    ):
        # No conversation language yet: between close candidates, the organisation's own
        # language ("Hi, I have a question about my bill" is French 0.57, English 0.43).
        return prior
    return code


def _ranked(candidates: list[tuple[str, float]], language: str) -> bool:
    """Whether langdetect ranks ``language`` (or its primary subtag) among its candidates."""
    return any(normalize_code(c) in (language, primary_subtag(language)) for c, _ in candidates)


def _script_family(script: str) -> str:
    return {"Kana": "Han"}.get(script, script)


def is_supported(code: str | None) -> bool:
    """Whether messages in ``code`` are scored: one of the 41 entries, or read as one of them."""
    return scored_as(code) is not None


def scored_as(code: str | None) -> str | None:
    """The entry of the 41 that messages in ``code`` are scored as, or None (not scored)."""
    if code in SUPPORTED_LANGUAGES:
        return code
    return SCORED_AS.get(code or "")
