"""Any Hugging Face sequence-classification model in place of the bundled one (the
``SENTIMENT_MODEL`` setting), its labels mapped to negative / neutral / positive."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .errors import ModelUnavailable
from .model import quantize_linear_layers

_NAMED = {"negative": 0, "neg": 0, "neutral": 1, "neu": 1, "positive": 2, "pos": 2}
_STARS = re.compile(r"^\s*([1-5])\s*stars?\s*$")


def label_mapping(id2label: dict, num_labels: int) -> np.ndarray:
    """A (num_labels, 3) matrix taking a model's class probabilities to negative/neutral/positive.

    Accepts: negative/neutral/positive names (any case, also neg/neu/pos); LABEL_0..LABEL_2 in
    that order; 1–5 star models (1–2 negative, 3 neutral, 4–5 positive, also LABEL_0..4); and
    two-class negative/positive models (neutral then gets 0).
    """
    names = [
        str(id2label.get(i, id2label.get(str(i), f"LABEL_{i}"))).strip().lower() for i in range(num_labels)
    ]
    matrix = np.zeros((num_labels, 3))
    if all(n in _NAMED for n in names):
        for i, n in enumerate(names):
            matrix[i, _NAMED[n]] = 1.0
        return matrix
    stars = [_STARS.match(n) for n in names]
    if num_labels == 5 and (all(stars) or names == [f"label_{i}" for i in range(5)]):
        for i in range(5):
            matrix[i, (0, 0, 1, 2, 2)[i]] = 1.0
        return matrix
    if num_labels == 3 and names == ["label_0", "label_1", "label_2"]:
        return np.eye(3)
    raise ModelUnavailable(
        f"cannot map the model's labels {names} to negative/neutral/positive: use a model whose "
        "config.id2label names them, or LABEL_0..2 in that order, or 1-5 stars"
    )


class HuggingFaceBackend:
    """Any HF sequence-classification model (a local directory or a hub id), labels mapped."""

    def __init__(self, name_or_path: str, *, max_tokens: int, quantize: bool = False) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
        local = Path(name_or_path).expanduser()
        kwargs = {"local_files_only": offline or local.exists()}
        source = str(local) if local.exists() else name_or_path
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
            self.model = AutoModelForSequenceClassification.from_pretrained(source, **kwargs)
        except Exception as exc:
            raise ModelUnavailable(
                f"cannot load the sentiment model {name_or_path!r} ({exc}); check SENTIMENT_MODEL, "
                "or unset it to use the bundled model built by `python manage.py sentiment_build`"
            ) from exc
        self.model.eval()
        self.mapping = label_mapping(self.model.config.id2label, self.model.config.num_labels)
        if quantize:
            self.model = quantize_linear_layers(self.model)
        self.max_tokens = min(
            max_tokens, getattr(self.tokenizer, "model_max_length", max_tokens) or max_tokens
        )
        self.version = f"hf:{name_or_path}"
        self._torch = torch

    def token_lengths(self, texts: Sequence[str]) -> list[int]:
        enc = self.tokenizer([t.strip() for t in texts], truncation=True, max_length=self.max_tokens)
        return [len(ids) for ids in enc["input_ids"]]

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        torch = self._torch
        enc = self.tokenizer(
            [t.strip() for t in texts],
            truncation=True,
            max_length=self.max_tokens,
            padding=True,
            return_tensors="pt",
        )
        with torch.inference_mode():
            probs = torch.softmax(self.model(**enc).logits.float(), dim=-1).double().numpy()
        return probs @ self.mapping
