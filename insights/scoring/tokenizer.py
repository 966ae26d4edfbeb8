"""A compact Unigram tokenizer for the bundled model, in plain Python.

The ``tokenizers`` library builds a byte trie of hash maps for the 250,002 pieces: about 280 MB
resident in every scoring process, a quarter of its memory. The pieces fit in a dict of a few tens
of MB, and the Viterbi search over a word of a few characters costs microseconds, with a word
cache for the common ones. It reads the same ``tokenizer.json`` and gives the same ids as
``tokenizers`` (the test suite compares both on the UMSAB training texts), with one deliberate
difference: special tokens typed by a customer ("<s>", "</s>") are text, not control tokens.
"""

from __future__ import annotations

import json
import re
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

METASPACE = "\u2581"
UNK_PENALTY = 10.0  # what SentencePiece and ``tokenizers`` subtract from the lowest score for an unknown
_SPACE_RUNS = re.compile(" {2,}")
SPECIAL_PIECES = ("<s>", "</s>", "<pad>", "<unk>", "<mask>")
_WORDS = re.compile(f"{METASPACE}[^{METASPACE}]*")


@dataclass(frozen=True)
class Encoding:
    ids: list[int]


class UnigramTokenizer:
    """Normalise spaces, metaspace with a leading ``▁``, Viterbi per word, ``<s> … </s>``."""

    def __init__(
        self,
        pieces: Sequence[str],
        scores: Sequence[float],
        *,
        unk_id: int,
        bos_id: int,
        eos_id: int,
        pad_id: int,
        specials: Sequence[int] = (),
    ) -> None:
        skip = set(specials) | {unk_id, bos_id, eos_id, pad_id}
        self._ids = {piece: i for i, piece in enumerate(pieces) if i not in skip}
        self._scores = array("d", scores)
        self._unk_score = min(scores) - UNK_PENALTY
        self._max_piece = max(len(piece) for piece in self._ids)
        self._names = {
            unk_id: pieces[unk_id],
            bos_id: pieces[bos_id],
            eos_id: pieces[eos_id],
            pad_id: pieces[pad_id],
        }
        self.unk_id, self.bos_id, self.eos_id, self.pad_id = unk_id, bos_id, eos_id, pad_id
        self.max_length: int | None = None
        self._word_ids = lru_cache(maxsize=65536)(self._viterbi)

    @classmethod
    def from_file(cls, path: str | Path) -> UnigramTokenizer:
        data = json.loads(Path(path).read_text("utf-8"))
        model = data["model"]
        if model.get("type") != "Unigram":
            raise ValueError(f"{path}: a Unigram model is expected, not {model.get('type')!r}")
        pieces = [piece for piece, _ in model["vocab"]]
        scores = [float(score) for _, score in model["vocab"]]
        del data, model
        special = {piece: i for i, piece in enumerate(pieces) if piece in SPECIAL_PIECES}
        missing = [name for name in SPECIAL_PIECES[:4] if name not in special]
        if missing:
            raise ValueError(f"{path}: the special pieces {', '.join(missing)} are missing")
        return cls(
            pieces,
            scores,
            unk_id=special["<unk>"],
            bos_id=special["<s>"],
            eos_id=special["</s>"],
            pad_id=special["<pad>"],
            specials=list(special.values()),
        )

    # -- the interface the engine uses (a subset of ``tokenizers.Tokenizer``) -------------------

    def enable_truncation(self, max_length: int) -> None:
        self.max_length = max_length

    def token_to_id(self, token: str) -> int | None:
        for i, name in self._names.items():
            if name == token:
                return i
        return self._ids.get(token)

    def encode(self, text: str) -> Encoding:
        ids: list[int] = []
        text = METASPACE + _SPACE_RUNS.sub(" ", text).replace(" ", METASPACE)
        if text.startswith(METASPACE * 2):  # the text began with a space: no second prefix
            text = text[1:]
        for word in _WORDS.findall(text):
            ids.extend(self._word_ids(word))
        if self.max_length is not None and len(ids) > self.max_length - 2:
            ids = ids[: max(0, self.max_length - 2)]
        return Encoding([self.bos_id, *ids, self.eos_id])

    def encode_batch(self, texts: Sequence[str]) -> list[Encoding]:
        return [self.encode(text) for text in texts]

    # -- Viterbi, as ``tokenizers``' Unigram.encode_optimized does it ---------------------------

    def _viterbi(self, word: str) -> tuple[int, ...]:
        n = len(word)
        best = [0.0] + [float("-inf")] * n
        back_start = [0] * (n + 1)
        back_id = [-1] * (n + 1)
        ids, scores, longest = self._ids, self._scores, self._max_piece
        for start in range(n):
            base = best[start]
            single = False
            for end in range(start + 1, min(n, start + longest) + 1):
                piece_id = ids.get(word[start:end])
                if piece_id is None:
                    continue
                score = base + scores[piece_id]
                if back_id[end] == -1 or score > best[end]:
                    best[end], back_start[end], back_id[end] = score, start, piece_id
                if end == start + 1:
                    single = True
            if not single:
                score = base + self._unk_score
                if back_id[start + 1] == -1 or score > best[start + 1]:
                    best[start + 1], back_start[start + 1], back_id[start + 1] = score, start, self.unk_id
        out: list[int] = []
        unknown_end = None  # consecutive unknowns are one <unk> (tokenizers' fuse_unk)
        end = n
        while end > 0:
            start, piece_id = back_start[end], back_id[end]
            if piece_id == self.unk_id:
                if unknown_end is None:
                    unknown_end = end
            else:
                if unknown_end is not None:
                    out.append(ids.get(word[end:unknown_end], self.unk_id))
                    unknown_end = None
                out.append(piece_id)
            end = start
        if unknown_end is not None:
            out.append(ids.get(word[0:unknown_end], self.unk_id))
        out.reverse()
        return tuple(out)
