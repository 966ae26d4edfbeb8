"""Benchmark of the default sentiment model, side by side with an XLM-R-base-sized classifier.

    .venv/bin/python bench/model.py                 # both models, short messages + tweets, val F1
    .venv/bin/python bench/model.py --no-f1         # timing only
    .venv/bin/python bench/model.py --levers        # speed levers against XLM-R base, one process
    SENTIMENT_PRECISION=fp32 .venv/bin/python bench/model.py   # the default model without int8

Each model runs in its own subprocess (so load time and peak memory are its own) on the same
texts, with the same torch thread count (SENTIMENT_TORCH_THREADS, default 1 since 3 Dec 2026;
the figures before that date were taken with 2):
- load: from nothing in memory to a first result;
- single: one short customer message per call, p50/p99 over repeated calls, through the full
  ``score()`` path (language detection included) and the model alone;
- batched: messages per second through ``score()`` in batches of SENTIMENT_MAX_BATCH (32), for
  short customer messages (and the same batches through the model alone, without language
  detection) and for UMSAB validation tweets (longer, model alone);
- peak RSS of the process.
It prints first the CPU (lscpu's model name, ``torch.backends.cpu.get_cpu_capability()`` and
whether VNNI is present): int8 and fp32 rank differently on AVX2-only and AVX-512 VNNI CPUs, so
quote ratios measured in one run, beside the CPU they ran on.
The XLM-R-base-sized model is ``XLMRobertaForSequenceClassification`` built from the default
``XLMRobertaConfig`` of xlm-roberta-base (278M parameters) with random weights, fp32, fed by the same tokenizer:
fine for timing, meaningless for accuracy. Macro-F1 on UMSAB val is for the default model, and
so is the customer-service check: a complaint, a neutral question and a thanks in each of the
spec's 41 language entries (``bench/data/customer_service_holdout.tsv``, never trained on), with
the class and the detected language of each; and the intensity check: the levels of the graded
customer-service messages that did not fit the score's exponent, against their grades.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
DATA = Path(os.environ.get("UMSAB_DIR", ROOT.parent / "shared" / "data" / "umsab"))
CUSTOMER_SERVICE_HOLDOUT = ROOT / "bench" / "data" / "customer_service_holdout.tsv"

SHORT = [
    "I've waited two hours, this is ridiculous",
    "my order number is 48213",
    "thanks, that fixed it",
    "Llevo dos horas esperando, es ridículo",
    "mon numéro de commande est 48213",
    "danke, das hat es behoben",
    "Can you check the status of my refund?",
    "The app crashes every time I open it",
    "Perfect, thank you so much!",
    "Esperei duas horas, isso é ridículo",
    "Il pacco non è ancora arrivato",
    "我的订单号是 48213",
    "Спасибо, всё работает",
    "Saya tak faham kenapa bayaran belum masuk",
    "Where is my package?",
    "This is the third time I'm asking",
]


def cpu_description() -> dict:
    """The CPU the figures were measured on: its model name (as lscpu prints it), the instruction
    set PyTorch dispatches to, and whether the CPU has VNNI (int8 dot products; fbgemm's int8
    kernels are several times faster with it)."""
    import platform

    import torch

    name, flags = platform.processor() or platform.machine(), set()
    try:
        out = subprocess.run(
            ["lscpu"], capture_output=True, text=True, check=False, env=dict(os.environ, LC_ALL="C")
        ).stdout
        for line in out.splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "Model name":
                name = value.strip()
            elif key.strip() == "Flags":
                flags = set(value.split())
    except OSError:  # no lscpu: /proc/cpuinfo has the same
        pass
    if not flags and Path("/proc/cpuinfo").exists():
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and name in ("", platform.machine()):
                name = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    vnni = sorted(f for f in flags if "vnni" in f)
    return {
        "model_name": name,
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "vnni": ", ".join(vnni) if vnni else "no",
        "cores": os.cpu_count(),
    }


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(kind: str, with_f1: bool, repeats: int) -> dict:
    import numpy as np
    import torch

    from insights.scoring.engine import SentimentScorer, _threads, build_backend

    torch.set_num_threads(_threads())
    started = time.perf_counter()
    if kind == "default":
        backend = build_backend("bundled")  # SENTIMENT_PRECISION=fp32 measures the exact encoder
    elif kind in LEVERS:
        backend = lever_backend(kind)
    else:
        backend = XlmrBaseBackend()
    scorer = SentimentScorer(backend=backend)
    scorer.score([SHORT[0]])
    load = time.perf_counter() - started

    for text in SHORT:  # warm-up
        scorer.score([text])
    single, model_only, single_cpu = [], [], []
    for i in range(repeats):
        text = SHORT[i % len(SHORT)]
        t = time.perf_counter()
        scorer.score([text])
        single.append(time.perf_counter() - t)
        t, c = time.perf_counter(), time.process_time()
        backend.predict([text])
        model_only.append(time.perf_counter() - t)
        single_cpu.append(time.process_time() - c)

    short_batch = SHORT * 32  # 512 messages
    t, c = time.perf_counter(), time.process_time()
    scorer.score(short_batch)
    short_rate = len(short_batch) / (time.perf_counter() - t)
    short_cpu_rate = len(short_batch) / (time.process_time() - c)
    t = time.perf_counter()
    scorer._predict(short_batch, backend)  # the same batches without language detection
    short_model_rate = len(short_batch) / (time.perf_counter() - t)

    tweets = []
    for lang_dir in sorted(DATA.iterdir()) if DATA.exists() else []:
        f = lang_dir / "val_text.txt"
        if f.exists():
            tweets += f.read_text("utf-8").splitlines()[:64]
    tweet_rate = tweet_cpu_rate = None
    if tweets:
        t, c = time.perf_counter(), time.process_time()
        scorer._predict(tweets, backend)
        tweet_rate = len(tweets) / (time.perf_counter() - t)
        tweet_cpu_rate = len(tweets) / (time.process_time() - c)

    out = {
        "model": backend.version,
        "parameters_m": round(_n_params(backend) / 1e6, 1),
        "load_s": round(load, 2),
        "single_score_ms_p50": round(1000 * percentile(single, 50), 2),
        "single_score_ms_p99": round(1000 * percentile(single, 99), 2),
        "single_model_ms_p50": round(1000 * percentile(model_only, 50), 2),
        "single_model_ms_p99": round(1000 * percentile(model_only, 99), 2),
        "batched_short_msgs_per_s": round(short_rate, 1),
        "batched_short_model_msgs_per_s": round(short_model_rate, 1),
        "batched_tweets_msgs_per_s": round(tweet_rate, 1) if tweet_rate else None,
        # CPU time is what a busy shared machine cannot steal: messages per CPU-second, and
        # CPU milliseconds per single message (on 2 idle cores, wall time is about half of it).
        "single_model_cpu_ms_p50": round(1000 * percentile(single_cpu, 50), 2),
        "batched_short_msgs_per_cpu_s": round(short_cpu_rate, 1),
        "batched_tweets_msgs_per_cpu_s": round(tweet_cpu_rate, 1) if tweet_cpu_rate else None,
        "peak_rss_mb": round(rss_mb()),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "threads": torch.get_num_threads(),
    }
    if with_f1 and kind == "default" and DATA.exists():
        from insights.scoring.training import load_split, macro_f1

        per, spread_probs, spread_labels = {}, [], []
        for language, examples in load_split(DATA, "val").items():
            probs = scorer._predict([e.text for e in examples], backend)
            per[language] = round(macro_f1([e.label for e in examples], np.argmax(probs, 1)), 2)
            if language != "hindi":  # labels without signal (docs/model.md)
                spread_probs.append(probs)
                spread_labels += [e.label for e in examples]
        out["umsab_val_macro_f1"] = {"per_language": per, "average": round(sum(per.values()) / len(per), 2)}
        out["umsab_val_level_spread"] = level_spread(
            np.concatenate(spread_probs), spread_labels, getattr(backend, "score_exponent", 1.0)
        )
    if kind == "default":
        out["customer_service_holdout"] = customer_service_check(scorer)
        out["intensity_holdout"] = intensity_check(scorer, backend)
    return out


# Speed levers (``--levers``), each the default model with one change, timed in the same run:
# fp32 instead of calibrated int8; at most 64 tokens a message instead of 256; the first 8 or 6
# of the 12 encoder layers (the speed of an 8- or 6-layer student: the head is fed the last four
# of them, so its classes mean nothing here; bench/layers.py measures what such heads read).
LEVERS = {
    "fp32": "fp32 encoder",
    "max64": "int8, max 64 tokens",
    "layers8": "int8, 8 of 12 layers",
    "layers6": "int8, 6 of 12 layers",
}


def lever_backend(kind: str):
    from insights.scoring.engine import BundledBackend
    from insights.scoring.model import default_model_dir

    if kind == "fp32":
        return BundledBackend(default_model_dir(), quantize=False)
    if kind == "max64":
        return BundledBackend(default_model_dir(), max_tokens=64)
    depth = int(kind.removeprefix("layers"))
    backend = BundledBackend(default_model_dir())
    backend.encoder.encoder.layer = backend.encoder.encoder.layer[:depth]
    backend.encoder.config.num_hidden_layers = depth
    backend.layers = list(range(depth - 3, depth + 1))
    backend.version += f" ({depth} layers, speed only)"
    return backend


def levers(rounds: int) -> dict:
    """Each lever and the XLM-R-base-sized model timed in turn, ``rounds`` times, in one
    process: on a shared, loaded machine every model sees the same load, so the ratios hold
    where absolute times do not. Per model, the median over rounds of: one short message (model
    only, ms), 32 short messages in one batch and the UMSAB tweets in batches (messages/s)."""
    import statistics

    import torch

    from insights.scoring.engine import SentimentScorer, _threads, build_backend

    torch.set_num_threads(_threads())
    backends = {
        "default": build_backend("bundled"),
        **{k: lever_backend(k) for k in LEVERS},
        "xlmr-base": XlmrBaseBackend(),
    }
    tweets = []
    for lang_dir in sorted(DATA.iterdir()) if DATA.exists() else []:
        f = lang_dir / "val_text.txt"
        if f.exists():
            tweets += f.read_text("utf-8").splitlines()[:16]
    short = SHORT * 2  # 32
    times: dict[str, dict[str, list[float]]] = {
        k: {"single": [], "short": [], "tweets": []} for k in backends
    }
    for backend in backends.values():  # warm-up
        SentimentScorer(backend=backend)._predict(short[:4], backend)
    for _ in range(rounds):
        for name, backend in backends.items():
            scorer = SentimentScorer(backend=backend)
            single = []
            for text in SHORT[:8]:
                t = time.perf_counter()
                backend.predict([text])
                single.append(time.perf_counter() - t)
            times[name]["single"].append(statistics.median(single) * 1000)
            t = time.perf_counter()
            scorer._predict(short, backend)
            times[name]["short"].append(len(short) / (time.perf_counter() - t))
            if tweets:
                t = time.perf_counter()
                scorer._predict(tweets, backend)
                times[name]["tweets"].append(len(tweets) / (time.perf_counter() - t))
    out = {
        "cpu": cpu_description(),
        "rounds": rounds,
        "threads": torch.get_num_threads(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "models": {},
    }
    base = {k: statistics.median(v) for k, v in times["xlmr-base"].items() if v}
    print(
        f"CPU: {out['cpu']['model_name']}, torch CPU capability {out['cpu']['torch_cpu_capability']}, "
        f"VNNI: {out['cpu']['vnni']}; {rounds} rounds, load average {out['load_average_1m']}"
    )
    print(f"{'':28} {'single ms':>16} {'32 short msg/s':>18} {'tweets msg/s':>18}")
    for name in backends:
        med = {k: statistics.median(v) for k, v in times[name].items() if v}
        ratio = {k: (base[k] / med[k] if k == "single" else med[k] / base[k]) for k in med}
        out["models"][name] = {k: round(v, 1) for k, v in med.items()} | {
            f"{k}_ratio": round(v, 2) for k, v in ratio.items()
        }
        label = LEVERS.get(name, name)
        print(f"{label:28} " + " ".join(f"{med[k]:>9.1f} ({ratio[k]:>4.1f}x)" for k in med))
    return out


def customer_service_holdout() -> list[tuple[str, str, str]]:
    """(language, label, text) rows of ``CUSTOMER_SERVICE_HOLDOUT``."""
    return [
        tuple(line.split("\t"))
        for line in CUSTOMER_SERVICE_HOLDOUT.read_text("utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]


def customer_service_check(scorer) -> dict:
    """How many of the held-out customer-service messages get their class, and which do not."""
    rows = customer_service_holdout()
    results = scorer.score([text for _, _, text in rows])
    names = ("negative", "neutral", "positive")
    wrong_class, wrong_level, wrong_language = [], [], []
    for (language, label, text), result in zip(rows, results, strict=False):
        top = max(result.probabilities, key=result.probabilities.get) if result.probabilities else None
        if top != names[int(label)]:
            wrong_class.append(f"{language} {names[int(label)]}->{top} ({result.score:+.2f}): {text}")
        # what a representative sees is the level: Neutral, or a negative or positive one
        shown = names[1 + (result.level > 0) - (result.level < 0)] if result.level is not None else None
        if shown != names[int(label)]:
            wrong_level.append(f"{language} {names[int(label)]}->{shown} ({result.score:+.2f}): {text}")
        if result.language != language:
            wrong_language.append(f"{language}->{result.language}: {text}")
    return {
        "right_class": len(rows) - len(wrong_class),
        "messages": len(rows),
        "languages": len({language for language, _, _ in rows}),
        "wrong_class": wrong_class,
        "right_level_side": len(rows) - len(wrong_level),
        "wrong_level_side": wrong_level,
        "right_language": len(rows) - len(wrong_language),
        "wrong_language": wrong_language,
    }


def intensity_check(scorer, backend) -> dict:
    """Levels against the graded customer-service messages that did not fit the exponent:
    with the model's exponent, and with the plain probability difference."""
    from insights.scoring.intensity import agreement, load_intensity_examples

    holdout = load_intensity_examples("holdout")
    probs = scorer._predict([e.text for e in holdout], backend)
    levels = [e.level for e in holdout]
    exponent = float(getattr(backend, "score_exponent", 1.0))
    return {
        "fitted": agreement(probs, levels, exponent),
        "plain": agreement(probs, levels, 1.0),
        "targets": customer_targets(holdout, probs, exponent),
    }


def customer_targets(holdout, probs, exponent: float) -> dict:
    """On the held-out graded messages: the share (%) of calm problem reports (grade Slightly
    negative) kept above Negative, of neutral requests (grade Neutral) read Neutral, of angry
    messages (grade Very negative) at Negative or below; and Hinglish (hi-Latn) levels."""
    import numpy as np

    from insights.scoring.intensity import levels_for

    predicted = levels_for(probs, exponent)
    grades = np.array([e.level for e in holdout])
    hinglish = np.array([e.language == "hi-Latn" for e in holdout])

    def share(mask, hit):
        return round(float(hit[mask].mean() * 100), 1) if mask.any() else None

    return {
        "calm_report_above_negative": share(grades == -1, predicted >= -1),
        "neutral_request_neutral": share(grades == 0, predicted == 0),
        "angry_negative_or_below": share(grades == -3, predicted <= -2),
        "messages": {
            "calm": int((grades == -1).sum()),
            "neutral": int((grades == 0).sum()),
            "angry": int((grades == -3).sum()),
            "hinglish": int(hinglish.sum()),
        },
        "hinglish_exact_level": share(hinglish, predicted == grades),
        "hinglish_within_one": share(hinglish, np.abs(predicted - grades) <= 1),
        "hinglish_direction": share(hinglish, np.sign(predicted) == np.sign(grades)),
    }


def level_spread(probs, labels, exponent: float) -> dict:
    """Per UMSAB label, the share of tweets at each level (%), most negative level first."""
    import numpy as np

    from insights.scoring.intensity import levels_for

    levels, labels = levels_for(probs, exponent), np.asarray(labels)
    return {
        name: [round(float((levels[labels == k] == level).mean() * 100)) for level in range(-3, 4)]
        for k, name in enumerate(("negative", "neutral", "positive"))
    }


def _n_params(backend) -> int:
    model = getattr(backend, "model", None)
    if model is not None:
        return sum(p.numel() for p in model.parameters())
    from safetensors import safe_open

    with safe_open(str(backend.path / "model.safetensors"), "pt") as fh:  # the int8 linears hide theirs
        total = sum(
            fh.get_slice(k).get_shape().numel()
            if hasattr(fh.get_slice(k).get_shape(), "numel")
            else _prod(fh.get_slice(k).get_shape())
            for k in fh.keys()
        )
    return total + sum(p.numel() for p in backend.head.parameters())


def _prod(shape) -> int:
    out = 1
    for n in shape:
        out *= n
    return out


class XlmrBaseBackend:
    """XLM-R-base-sized sequence classifier, random weights, fp32, the bundled tokenizer."""

    def __init__(self) -> None:
        import torch
        from transformers import XLMRobertaConfig, XLMRobertaForSequenceClassification

        from insights.scoring.model import TextNormalizer, bundled_model_path
        from insights.scoring.tokenizer import UnigramTokenizer

        torch.manual_seed(0)
        config = XLMRobertaConfig(  # xlm-roberta-base's config.json
            vocab_size=250_002,
            hidden_size=768,
            num_hidden_layers=12,
            num_attention_heads=12,
            intermediate_size=3072,
            max_position_embeddings=514,
            type_vocab_size=1,
            layer_norm_eps=1e-5,
            pad_token_id=1,
            bos_token_id=0,
            eos_token_id=2,
            num_labels=3,
        )
        self.model = XLMRobertaForSequenceClassification(config).eval()
        path = bundled_model_path()
        self.tokenizer = UnigramTokenizer.from_file(path / "tokenizer.json")
        self.tokenizer.enable_truncation(max_length=256)
        self.normalize = TextNormalizer.from_dir(path)
        self.version = "xlm-roberta-base-sized (random weights, fp32)"
        self._torch = torch

    def token_lengths(self, texts):
        return [len(e.ids) for e in self.tokenizer.encode_batch([self.normalize(t) for t in texts])]

    def predict(self, texts):
        torch = self._torch
        enc = self.tokenizer.encode_batch([self.normalize(t) for t in texts])
        width = max(len(e.ids) for e in enc)
        ids = torch.full((len(enc), width), 1, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for r, e in enumerate(enc):
            ids[r, : len(e.ids)] = torch.tensor(e.ids)
            mask[r, : len(e.ids)] = 1
        with torch.inference_mode():
            return torch.softmax(self.model(input_ids=ids, attention_mask=mask).logits, -1).double().numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-f1", action="store_true")
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument(
        "--levers",
        action="store_true",
        help="instead: the speed levers (fp32, 64 tokens, 8 and 6 layers) against the XLM-R-base-sized "
        "model, all in one process, timed in turn round after round",
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--worker", choices=["default", "xlmr-base", *LEVERS], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, not args.no_f1, args.repeats)))
        return
    results = {"cpu": cpu_description()}
    if args.levers:
        print(json.dumps(levers(args.rounds)))
        return
    for kind in ("default", "xlmr-base"):
        cmd = [sys.executable, __file__, "--worker", kind, "--repeats", str(args.repeats)]
        if args.no_f1:
            cmd.append("--no-f1")
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr[-3000:])
            raise SystemExit(f"{kind} benchmark failed")
        results[kind] = json.loads(proc.stdout.strip().splitlines()[-1])
    d, x = results["default"], results["xlmr-base"]
    keys = [
        "parameters_m",
        "load_s",
        "single_score_ms_p50",
        "single_score_ms_p99",
        "single_model_ms_p50",
        "single_model_ms_p99",
        "batched_short_msgs_per_s",
        "batched_short_model_msgs_per_s",
        "batched_tweets_msgs_per_s",
        "single_model_cpu_ms_p50",
        "batched_short_msgs_per_cpu_s",
        "batched_tweets_msgs_per_cpu_s",
        "peak_rss_mb",
        "load_average_1m",
    ]
    cpu = results["cpu"]
    print(
        f"CPU: {cpu['model_name']} ({cpu['cores']} cores), torch CPU capability "
        f"{cpu['torch_cpu_capability']}, VNNI: {cpu['vnni']}"
    )
    print(f"{'':30} {'default':>12} {'xlmr-base':>12} {'ratio':>8}")
    for k in keys:
        a, b = d.get(k), x.get(k)
        ratio = ""
        if a and b:
            ratio = "" if k == "load_average_1m" else f"{(a / b if 'per_' in k else b / a):.1f}x"
        print(f"{k:30} {a!s:>12} {b!s:>12} {ratio:>8}")
    print(f"default model: {d['model']}")
    if "umsab_val_macro_f1" in d:
        print("UMSAB val macro-F1:", json.dumps(d["umsab_val_macro_f1"]))
    check = d["customer_service_holdout"]
    print(
        f"customer-service check: right class {check['right_class']}/{check['messages']}, "
        f"level on the right side {check['right_level_side']}/{check['messages']} "
        f"in {check['languages']} languages, right language {check['right_language']}/{check['messages']}"
    )
    for line in check["wrong_class"] + check["wrong_level_side"] + check["wrong_language"]:
        print("  ", line)
    for name, figures in ((k, v) for k, v in d["intensity_holdout"].items() if k != "targets"):
        print(
            f"graded holdout, {name} (exponent {figures['exponent']}): exact level {figures['exact']}%, "
            f"within one {figures['within_one']}%, mean level error {figures['mean_level_error']}, "
            f"Very negative by grade {figures['threshold_reach']['-3']}"
        )
    t = d["intensity_holdout"]["targets"]
    print(
        f"graded holdout targets: calm reports above Negative {t['calm_report_above_negative']}%, "
        f"neutral requests Neutral {t['neutral_request_neutral']}%, angry at Negative or below "
        f"{t['angry_negative_or_below']}% ({t['messages']}); Hinglish exact level {t['hinglish_exact_level']}%, "
        f"within one {t['hinglish_within_one']}%, right direction {t['hinglish_direction']}%"
    )
    if "umsab_val_level_spread" in d:
        print(
            "UMSAB val levels by label (% Very negative ... Very positive):",
            json.dumps(d["umsab_val_level_spread"]),
        )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
