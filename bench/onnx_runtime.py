"""Probe: does ONNX Runtime (CPU, MLAS) beat the torch int8 encoder? Side by side, one process.

    PYTHONPATH=DIR:. .venv/bin/python bench/onnx_runtime.py --threads 1 --rounds 3

onnxruntime, onnx and onnxscript are not project dependencies: install them apart
(``pip install --target DIR onnxruntime onnx onnxscript``) and put DIR on PYTHONPATH. Without
them the probe stops with a message saying so.

The encoder is loaded the way serving loads it (``BundledBackend``: fp32, adapters merged),
exported once to ONNX (outputs: the hidden states the head reads; dynamic batch and token axes;
eager attention, padding masked) and cached in ``--out``, then run by ONNX Runtime as:

- ``ort fp32``: the export as is;
- ``ort int8``: static QDQ int8 of an export of the smoothed fp32 graph that the calibrated int8
  layers quantise (SmoothQuant, alpha 1, query/key/value as one product), each linear layer's
  input quantised with the scale and zero point that ``CalibratedInt8Linear`` derives from the
  project's calibration (127 levels), weights int8 per output channel
  (``onnxruntime.quantization.quantize_static``);
- ``ort int8 dynamic``: ``quantize_dynamic`` of the plain export, for comparison only (its
  activation scale comes from the whole batch, so a message's score depends on its batch).

Every session: ``ORT_ENABLE_ALL``, ``intra_op_num_threads`` = ``--threads``. Timed in turn,
round after round, with the torch int8 encoder that serves, the torch fp32 encoder and
bench/model.py's XLM-R-base-sized model: one short message (p50), 32 short messages in one
batch, 256 UMSAB val tweets (32 a language) in serving's batches. Then, on 304 UMSAB val texts,
the head's class, score and level from each model's features against the torch int8 ones and
the fp32 ones, and whether each model gives a message the same features alone, in a batch of
equal-length messages and in serving's padded batches.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.model import DATA, SHORT, XlmrBaseBackend, cpu_description  # noqa: E402
from insights.scoring.quantization import (  # noqa: E402
    CalibratedInt8Linear,
    FusedProjections,
    ProjectionSlice,
    ScaledActivation,
    smoothing_factors,
)

MISSING = (
    "onnxruntime is not installed: this probe needs onnxruntime, onnx and onnxscript, which are "
    "not project dependencies. Install them apart (pip install --target DIR onnxruntime onnx "
    "onnxscript) and run with PYTHONPATH=DIR:."
)
OPSET = 17
INPUTS = ("input_ids", "attention_mask")


def require_onnxruntime():
    """The ``onnxruntime`` module, or exit with a message that says how to get it."""
    try:
        import onnx  # noqa: F401
        import onnxruntime
    except ImportError as exc:
        raise SystemExit(MISSING) from exc
    return onnxruntime


# --------------------------------------------------------------------------- export


class HiddenStates(nn.Module):
    """The encoder with the hidden states the head reads as its outputs."""

    def __init__(self, encoder: nn.Module, layers: list[int]) -> None:
        super().__init__()
        self.encoder, self.layers = encoder, list(layers)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True)
        return tuple(out.hidden_states[i] for i in self.layers)


def export_encoder(encoder: nn.Module, layers: list[int], path: Path, example: tuple) -> Path:
    """``encoder`` (a transformers model, switched to eager attention) to ONNX with dynamic batch
    and token axes; ``example`` = (ids, mask) with a padded row, so the mask is traced."""
    encoder.set_attn_implementation("eager")
    names = [f"hidden_{i}" for i in layers]
    axes = {name: {0: "batch", 1: "tokens"} for name in (*INPUTS, *names)}
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(
            HiddenStates(encoder, layers).eval(),
            example,
            str(path),
            dynamo=False,
            input_names=list(INPUTS),
            output_names=names,
            dynamic_axes=axes,
            opset_version=OPSET,
            do_constant_folding=True,
        )
    return path


class SmoothedLinear(nn.Module):
    """``(x / s) @ (W * s)^T + b`` in fp32: the graph that the calibrated int8 layer quantises
    (``prescaled``: the producer of ``x`` already divided it)."""

    def __init__(self, linear: nn.Linear, smooth: torch.Tensor, *, prescaled: bool = False) -> None:
        super().__init__()
        self.linear = nn.Linear(linear.in_features, linear.out_features, bias=linear.bias is not None)
        with torch.no_grad():
            self.linear.weight.copy_(linear.weight.detach().float() * smooth)  # as CalibratedInt8Linear
            if linear.bias is not None:
                self.linear.bias.copy_(linear.bias.detach().float())
        self.register_buffer("inverse_smooth", (1.0 / smooth).contiguous())
        self.prescaled = prescaled

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x if self.prescaled else x * self.inverse_smooth)


def weight_key(weight: np.ndarray) -> str:
    """Names a linear layer's weight (out, in) by its contents, to find it in the ONNX graph."""
    return hashlib.sha1(np.ascontiguousarray(weight, dtype=np.float32).tobytes()).hexdigest()


def smooth_for_int8(encoder: nn.Module, stats: dict[str, torch.Tensor]) -> dict[str, tuple[float, int]]:
    """Rewrite ``encoder``'s BERT layers in place into the smoothed fp32 graph that
    ``quantization._quantize_bert_layer`` quantises (one query/key/value product, the
    feed-forward output's smoothing in its activation); return, per smoothed weight
    (:func:`weight_key`), the input scale and zero point that ``CalibratedInt8Linear`` uses."""
    ranges: dict[str, tuple[float, int]] = {}

    def smoothed(linear, index, name, *, smooth=None, prescaled=False):
        low, high = stats[f"{index}.{name}.min"], stats[f"{index}.{name}.max"]
        if smooth is None:
            smooth = smoothing_factors(linear.weight, low, high)
        reference = CalibratedInt8Linear(linear, low, high, smooth=smooth, prescaled=prescaled)
        out = SmoothedLinear(linear, smooth, prescaled=prescaled)
        ranges[weight_key(out.linear.weight.detach().numpy())] = (
            reference.input_scale,
            reference.input_zero_point,
        )
        return out

    for index, layer in enumerate(encoder.encoder.layer):
        attention = layer.attention.self
        projections = [attention.query, attention.key, attention.value]
        fused = nn.Linear(projections[0].in_features, sum(p.out_features for p in projections))
        with torch.no_grad():
            fused.weight.copy_(torch.cat([p.weight.detach().float() for p in projections]))
            fused.bias.copy_(torch.cat([p.bias.detach().float() for p in projections]))
        shared = FusedProjections(
            smoothed(fused, index, "attention.self.query"), [p.out_features for p in projections]
        )
        attention.query, attention.key, attention.value = (ProjectionSlice(shared, i) for i in range(3))
        ff_out = layer.output.dense
        ff_smooth = smoothing_factors(
            ff_out.weight, stats[f"{index}.output.dense.min"], stats[f"{index}.output.dense.max"]
        )
        layer.output.dense = smoothed(ff_out, index, "output.dense", smooth=ff_smooth, prescaled=True)
        layer.intermediate.intermediate_act_fn = ScaledActivation(
            layer.intermediate.intermediate_act_fn, (1.0 / ff_smooth).contiguous()
        )
        layer.intermediate.dense = smoothed(layer.intermediate.dense, index, "intermediate.dense")
        layer.attention.output.dense = smoothed(layer.attention.output.dense, index, "attention.output.dense")
    return ranges


def linear_matmuls(model, ranges: dict[str, tuple[float, int]]) -> dict[str, tuple[str, float, int]]:
    """The ONNX graph's MatMul nodes whose constant weight is one of ``ranges``':
    {node name: (input tensor, scale, zero point)}."""
    from onnx import numpy_helper

    initializers = {i.name: i for i in model.graph.initializer}
    found = {}
    for node in model.graph.node:
        if node.op_type == "MatMul" and node.input[1] in initializers:
            weight = numpy_helper.to_array(initializers[node.input[1]]).T  # ONNX keeps W^T
            key = weight_key(weight)
            if key in ranges:
                found[node.name] = (node.input[0], *ranges[key])
    return found


def quantize_static_calibrated(
    source: Path, target: Path, ranges: dict[str, tuple[float, int]], feeds: list[dict]
) -> int:
    """Static QDQ int8 of ``source``'s linear layers with the given input ranges (uint8
    activations with the project's scale and zero point, int8 weights per output channel, fp32
    outputs); returns how many layers it quantised. ``feeds`` only satisfy the calibrator: every
    quantised activation's range is overridden."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    model = onnx.load(str(source))
    found = linear_matmuls(model, ranges)
    if len(found) != len(ranges):
        raise RuntimeError(f"found {len(found)} of the {len(ranges)} linear layers in {source}")
    overrides = {
        tensor: [{"scale": np.array(scale, np.float32), "zero_point": np.array(zero_point, np.uint8)}]
        for tensor, scale, zero_point in found.values()
    }

    class Feeds(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter(feeds)

        def get_next(self):
            return next(self.items, None)

    quantize_static(
        str(source),
        str(target),
        Feeds(),
        quant_format=QuantFormat.QDQ,
        op_types_to_quantize=["MatMul"],
        nodes_to_quantize=list(found),
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        extra_options={
            "TensorQuantOverrides": overrides,
            "OpTypesToExcludeOutputQuantization": ["MatMul"],
            "WeightSymmetric": True,
        },
    )
    return len(found)


def quantize_dynamic_int8(source: Path, target: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(source),
        str(target),
        op_types_to_quantize=["MatMul"],
        per_channel=True,
        weight_type=QuantType.QInt8,
        extra_options={"MatMulConstBOnly": True},
    )


# --------------------------------------------------------------------------- running


# ORT's pool threads spin-wait for work between runs by default; on busy shared cores (and
# beside torch's own threads in one process) ``--no-spin`` turns that off.
SPINNING = {"allow": True}


def session(path: Path, threads: int, optimized: Path | None = None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    if not SPINNING["allow"]:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    if optimized is not None:
        options.optimized_model_filepath = str(optimized)
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def optimized_ops(path: Path, threads: int) -> dict[str, int]:
    """Op types of the graph ORT runs after its optimisations (MatMulIntegerToFloat: int8)."""
    import onnx

    target = path.with_suffix(".optimized.onnx")
    session(path, threads, optimized=target)
    counts: dict[str, int] = {}
    for node in onnx.load(str(target), load_external_data=False).graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    target.unlink(missing_ok=True)
    for extra in target.parent.glob(target.name + "*"):
        extra.unlink()
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


class OrtEncoder:
    """Stands in for the transformers encoder in ``BundledBackend.hidden_states``: the same
    call, the same ``hidden_states`` indices (only the head's layers are filled)."""

    def __init__(self, ort_session, layers: list[int]) -> None:
        self.session, self.layers = ort_session, list(layers)
        self.names = [o.name for o in ort_session.get_outputs()]

    def __call__(self, input_ids, attention_mask, output_hidden_states=True):
        outputs = self.session.run(
            self.names, {"input_ids": input_ids.numpy(), "attention_mask": attention_mask.numpy()}
        )
        hidden = [None] * (max(self.layers) + 1)
        for index, value in zip(self.layers, outputs, strict=True):
            hidden[index] = torch.from_numpy(value)
        return SimpleNamespace(hidden_states=hidden)


def ort_backend(template, ort_session, label: str):
    """``template`` (a BundledBackend: tokenizer, head, temperature) over an ONNX Runtime encoder."""
    backend = copy.copy(template)
    backend.encoder = OrtEncoder(ort_session, template.layers)
    backend.version = f"{template.version} ({label})"
    return backend


def build(fp32_backend, out: Path, threads: int, feeds_texts: list[str], log, *, fused: bool = False):
    """Export (cached in ``out``), quantise, open the sessions: ({label: backend}, diagnostics).
    ``fused``: also the fp32 export through onnxruntime.transformers' BERT fusions."""
    from insights.scoring.head import WEIGHTS_DIR
    from insights.scoring.quantization import load_calibration

    fp32_path, smoothed_path = out / "encoder-fp32.onnx", out / "encoder-smoothed-fp32.onnx"
    int8_path, dynamic_path = out / "encoder-int8-qdq.onnx", out / "encoder-int8-dynamic.onnx"
    example = fp32_backend.padded(["my order number is 48213", "thanks"])
    diagnostics: dict = {}
    if not fp32_path.exists():
        started = time.perf_counter()
        export_encoder(copy.deepcopy(fp32_backend.encoder), fp32_backend.layers, fp32_path, example)
        log(f"exported fp32 in {time.perf_counter() - started:.1f} s")
    if not int8_path.exists():
        started = time.perf_counter()
        encoder = copy.deepcopy(fp32_backend.encoder)
        ranges = smooth_for_int8(encoder, load_calibration(WEIGHTS_DIR))
        export_encoder(encoder, fp32_backend.layers, smoothed_path, example)
        del encoder
        feeds = [dict(zip(INPUTS, (x.numpy() for x in fp32_backend.padded(feeds_texts)), strict=True))]
        count = quantize_static_calibrated(smoothed_path, int8_path, ranges, feeds)
        smoothed_path.unlink()
        log(f"static QDQ int8 of {count} linear layers in {time.perf_counter() - started:.1f} s")
    if not dynamic_path.exists():
        quantize_dynamic_int8(fp32_path, dynamic_path)
    models = [("ort fp32", fp32_path), ("ort int8", int8_path), ("ort int8 dynamic", dynamic_path)]
    if fused:
        fused_path = out / "encoder-fp32-fused.onnx"
        if not fused_path.exists():
            from onnxruntime.transformers.optimizer import optimize_model

            config = fp32_backend.encoder.config
            optimized = optimize_model(
                str(fp32_path),
                model_type="bert",
                num_heads=config.num_attention_heads,
                hidden_size=config.hidden_size,
                opt_level=0,
            )
            diagnostics["fusions"] = optimized.get_fused_operator_statistics()
            optimized.save_model_to_file(str(fused_path))
        models.insert(1, ("ort fp32 fused", fused_path))
    backends = {}
    for label, path in models:
        diagnostics[label] = {
            "file_mb": round(path.stat().st_size / 1e6),
            "ops": optimized_ops(path, threads),
        }
        backends[label] = ort_backend(fp32_backend, session(path, threads), label)
    # the export against the eager encoder it came from, on a padded and an unpadded batch
    eager = copy.deepcopy(fp32_backend.encoder)
    eager.set_attn_implementation("eager")
    checks = {}
    for name, texts in (
        ("padded", ["I've waited two hours, this is ridiculous", "thanks", "Where is my package?"]),
        ("unpadded", ["thanks, that fixed it"]),
    ):
        ids, mask = fp32_backend.padded(texts)
        with torch.inference_mode():
            ref = eager(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
        got = backends["ort fp32"].encoder(ids, mask).hidden_states
        m = mask.bool()
        checks[name] = max(float((got[i] - ref[i])[m].abs().max()) for i in fp32_backend.layers)
    diagnostics["ort fp32 vs eager torch, largest hidden-state difference"] = checks
    del eager
    return backends, diagnostics


def umsab_texts(per_language: int, skip: int = 0) -> list[str]:
    from insights.scoring.training import load_split

    return [
        e.text for examples in load_split(DATA, "val").values() for e in examples[skip : skip + per_language]
    ]


def time_models(backends: dict, rounds: int, tweets: list[str]) -> dict:
    from insights.scoring.engine import SentimentScorer

    short = SHORT * 2  # 32
    times = {name: {"single": [], "short": [], "tweets": []} for name in backends}
    for backend in backends.values():  # warm-up
        SentimentScorer(backend=backend)._predict(short[:4], backend)
        backend.predict([SHORT[0]])
    for _ in range(rounds):
        for name, backend in backends.items():
            scorer = SentimentScorer(backend=backend)
            for text in SHORT:
                t = time.perf_counter()
                backend.predict([text])
                times[name]["single"].append(1000 * (time.perf_counter() - t))
            t = time.perf_counter()
            scorer._predict(short, backend)
            times[name]["short"].append(len(short) / (time.perf_counter() - t))
            t = time.perf_counter()
            scorer._predict(tweets, backend)
            times[name]["tweets"].append(len(tweets) / (time.perf_counter() - t))
    return {
        name: {
            "single_ms_p50": statistics.median(v["single"]),
            "short_msgs_per_s": statistics.median(v["short"]),
            "tweets_msgs_per_s": statistics.median(v["tweets"]),
            "short_rounds": [round(x, 1) for x in v["short"]],
            "tweets_rounds": [round(x, 1) for x in v["tweets"]],
        }
        for name, v in times.items()
    }


def ratios(figures: dict, base: str) -> dict:
    b = figures[base]
    return {
        name: {
            "single": b["single_ms_p50"] / f["single_ms_p50"],
            "short": f["short_msgs_per_s"] / b["short_msgs_per_s"],
            "tweets": f["tweets_msgs_per_s"] / b["tweets_msgs_per_s"],
        }
        for name, f in figures.items()
    }


def compare_scores(probs: dict, a: str, b: str, exponent: float) -> dict:
    from insights.scoring.intensity import intensity_scores, levels_for

    diff = np.abs(intensity_scores(probs[a], exponent) - intensity_scores(probs[b], exponent))
    return {
        "mean_score_diff": round(float(diff.mean()), 5),
        "max_score_diff": round(float(diff.max()), 4),
        "class_changes": int((probs[a].argmax(1) != probs[b].argmax(1)).sum()),
        "level_changes": int((levels_for(probs[a], exponent) != levels_for(probs[b], exponent)).sum()),
    }


def agreement(backends: dict, texts: list[str]) -> dict:
    from insights.scoring.engine import SentimentScorer

    probs = {name: SentimentScorer(backend=b)._predict(texts, b) for name, b in backends.items()}
    exponent = float(next(iter(backends.values())).score_exponent)
    out = {"texts": len(texts)}
    for reference in ("torch int8", "torch fp32"):
        out[f"against {reference}"] = {
            name: compare_scores(probs, name, reference, exponent) for name in backends if name != reference
        }
    return out


def invariance(backend, texts: list[str]) -> dict:
    """A message's features alone, in a batch of messages of its length (no padding) and in
    serving's batches (sorted by length, padded); the head's score from each."""
    from insights.scoring.engine import DEFAULT_MAX_BATCH, DEFAULT_MAX_BATCH_TOKENS, _chunks
    from insights.scoring.intensity import intensity_scores

    lengths = backend.token_lengths(texts)
    alone = torch.cat([backend.features([t]) for t in texts])
    equal = alone.clone()
    by_length: dict[int, list[int]] = {}
    for k, n in enumerate(lengths):
        by_length.setdefault(n, []).append(k)
    grouped = [g for g in by_length.values() if len(g) > 1]
    for group in grouped:
        for i in range(0, len(group), DEFAULT_MAX_BATCH):
            rows = group[i : i + DEFAULT_MAX_BATCH]
            equal[rows] = backend.features([texts[k] for k in rows])
    serving = torch.empty_like(alone)
    order = sorted(range(len(texts)), key=lambda k: lengths[k])
    for rows in _chunks(order, lengths, DEFAULT_MAX_BATCH, DEFAULT_MAX_BATCH_TOKENS):
        serving[rows] = backend.features([texts[k] for k in rows])

    def scores(features):
        with torch.inference_mode():
            p = torch.softmax(backend.head(features) / backend.temperature, dim=-1).double().numpy()
        return p, intensity_scores(p, backend.score_exponent)

    p_alone, s_alone = scores(alone)
    out = {"texts": len(texts), "in_equal_length_batches": sum(len(g) for g in grouped)}
    for name, features in (("equal_length_batch", equal), ("serving_padded_batch", serving)):
        p, s = scores(features)
        out[name] = {
            "max_feature_diff": float((features - alone).abs().max()),
            "max_score_diff": round(float(np.abs(s - s_alone).max()), 5),
            "class_changes": int((p.argmax(1) != p_alone.argmax(1)).sum()),
        }
    return out


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "load average {:.2f}, {:.2f}, {:.2f}".format(*os.getloadavg())


def main() -> None:
    from insights.scoring.engine import BundledBackend, _threads
    from insights.scoring.model import default_model_dir

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=_threads(), help="torch and ORT intra-op threads")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--out", type=Path, help="where the ONNX files are cached (default: beside the model)"
    )
    parser.add_argument("--no-agreement", action="store_true", help="timing only")
    parser.add_argument("--no-timing", action="store_true", help="agreement only")
    parser.add_argument("--no-spin", action="store_true", help="ORT's pool threads sleep between runs")
    parser.add_argument(
        "--fused",
        action="store_true",
        help="also the fp32 export through onnxruntime.transformers' BERT fusions",
    )
    args = parser.parse_args()
    ort = require_onnxruntime()
    if not DATA.is_dir():
        raise SystemExit(f"no UMSAB data at {DATA}: set UMSAB_DIR")
    log = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731

    torch.set_num_threads(args.threads)
    SPINNING["allow"] = not args.no_spin
    result = {
        "cpu": cpu_description(),
        "threads": args.threads,
        "ort_spinning": not args.no_spin,
        "versions": {"torch": torch.__version__, "onnxruntime": ort.__version__},
        "uptime_before": uptime(),
    }
    torch_int8 = BundledBackend(default_model_dir())
    torch_fp32 = BundledBackend(default_model_dir(), quantize=False)
    tag = hashlib.sha1(f"{torch_int8.version} {torch.__version__} {ort.__version__}".encode()).hexdigest()[
        :10
    ]
    out = args.out or default_model_dir() / f"onnx-probe-{tag}"
    log(f"ONNX files in {out}")
    built, result["diagnostics"] = build(
        torch_fp32, out, args.threads, umsab_texts(8, skip=100), log, fused=args.fused
    )
    backends = {"torch int8": torch_int8, "torch fp32": torch_fp32, **built}
    if not args.no_agreement:
        texts = umsab_texts(38)
        result["agreement"] = agreement(backends, texts)
        result["batch_invariance"] = {
            name: invariance(backends[name], texts) for name in ("torch int8", *built)
        }
        log(json.dumps({k: result[k] for k in ("agreement", "batch_invariance")}, indent=1))
    if not args.no_timing:
        backends["xlmr-base"] = XlmrBaseBackend()
        figures = time_models(backends, args.rounds, umsab_texts(32))
        result["timing"] = figures
        result["ratio_to_xlmr_base"] = ratios(figures, "xlmr-base")
        result["ratio_to_torch_int8"] = ratios(figures, "torch int8")
    result["uptime_after"] = uptime()
    cpu = result["cpu"]
    print(
        f"CPU: {cpu['model_name']} ({cpu['cores']} cores), torch CPU capability "
        f"{cpu['torch_cpu_capability']}, VNNI: {cpu['vnni']}; {args.threads} thread(s), "
        f"{args.rounds} rounds; {result['uptime_before']} / {result['uptime_after']}"
    )
    if "timing" in result:
        print(f"{'':18} {'single ms p50':>22} {'32 short msg/s':>22} {'256 tweets msg/s':>22}  vs torch int8")
        for name, f in result["timing"].items():
            r, q = result["ratio_to_xlmr_base"][name], result["ratio_to_torch_int8"][name]
            print(
                f"{name:18} {f['single_ms_p50']:>13.1f} ({r['single']:>4.1f}x) "
                f"{f['short_msgs_per_s']:>13.1f} ({r['short']:>4.1f}x) "
                f"{f['tweets_msgs_per_s']:>13.1f} ({r['tweets']:>4.1f}x)  "
                f"{q['single']:.2f} / {q['short']:.2f} / {q['tweets']:.2f}"
            )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
