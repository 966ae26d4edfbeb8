"""sentiment_train end to end on a tiny labelled CSV: what it writes, and that the scorer loads it."""

from __future__ import annotations

import csv
import json

import pytest
from django.core.management import CommandError, call_command

from insights.scoring.intensity import EXPONENT_GRID

NEGATIVE = [
    "this is terrible",
    "I hate waiting",
    "worst support ever",
    "my parcel is lost again",
    "nobody answers, awful",
    "the app keeps crashing",
    "I'm really angry",
    "refund still missing",
]
NEUTRAL = [
    "my order number is 123",
    "what time do you open",
    "I live in Berlin",
    "the form has two pages",
    "send it to my email",
    "it is a blue box",
    "my account is under Smith",
    "the call was at noon",
]
POSITIVE = [
    "thanks, that fixed it",
    "great service",
    "I love this app",
    "perfect, thank you",
    "you were very helpful",
    "wonderful, it works",
    "happy with the result",
    "excellent, cheers",
]


@pytest.fixture
def labelled_csv(tmp_path):
    path = tmp_path / "labelled.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        for label, texts in (("negative", NEGATIVE), ("neutral", NEUTRAL), ("positive", POSITIVE)):
            for text in texts:
                for variant in (text, text + "!", "honestly, " + text):
                    writer.writerow([variant, label])
    return path


def _train(labelled_csv, out, capsys, **options):
    call_command(
        "sentiment_train",
        data=[str(labelled_csv)],
        output=str(out),
        no_customer_service=True,
        seed=0,
        **options,
    )
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.mark.model
def test_training_a_head_writes_its_calibration_and_temperature_and_the_scorer_loads_them(
    labelled_csv, tmp_path, capsys, bundled_model_dir
):
    from insights.scoring.engine import BundledBackend
    from insights.scoring.intensity import load_intensity_examples

    out = tmp_path / "weights"
    meta = _train(labelled_csv, out, capsys, epochs=3)
    assert {p.name for p in out.iterdir()} == {"head.safetensors", "head.json", "calibration.safetensors"}
    assert meta["precision"] == "int8" and meta["temperature"] > 0 and meta["adapted_layers"] == []
    assert meta["members"] == 5 and meta["calibration_texts"] == 65
    # the graded messages' fit half trains the head, the held-out half measures the levels
    fit, holdout = load_intensity_examples("fit"), load_intensity_examples("holdout")
    assert meta["graded_examples"] == len(fit) and meta["score_exponent"] > 0
    assert meta["intensity_holdout"]["messages"] == len(holdout)
    backend = BundledBackend(bundled_model_dir.parent, head_dir=out)
    assert backend.precision == "int8" and backend.score_exponent == meta["score_exponent"]
    probs = backend.predict(["thanks a lot", "my order number is 9"])
    assert probs.shape == (2, 3)


@pytest.mark.model
def test_adapters_then_a_head_retrained_over_them_keeps_the_adapters(
    labelled_csv, tmp_path, capsys, bundled_model_dir
):
    out = tmp_path / "weights"
    meta = _train(labelled_csv, out, capsys, epochs=1, finetune_layers=12, adapter_rank=2)
    assert meta["adapted_layers"] == list(range(1, 13)) and meta["adapter_rank"] == 2
    adapters = (out / "adapters.safetensors").read_bytes()
    head = (out / "head.safetensors").read_bytes()

    meta = _train(labelled_csv, out, capsys, epochs=3, keep_encoder=True)
    assert meta["adapted_layers"] == list(range(1, 13)) and meta["adapter_rank"] == 2
    assert (out / "adapters.safetensors").read_bytes() == adapters
    assert (out / "head.safetensors").read_bytes() != head


@pytest.mark.model
def test_members_one_trains_a_single_head(labelled_csv, tmp_path, capsys, bundled_model_dir):
    from insights.scoring.head import load_head

    out = tmp_path / "weights"
    meta = _train(labelled_csv, out, capsys, epochs=2, members=1, graded_weight=0)
    assert meta["members"] == 1 and load_head(out)[0].members == 1
    assert meta["graded_examples"] == 0


@pytest.mark.model
def test_fit_intensity_refits_only_the_score_exponent(labelled_csv, tmp_path, capsys, bundled_model_dir):
    out = tmp_path / "weights"
    _train(labelled_csv, out, capsys, epochs=2, members=1, graded_weight=0)
    meta = json.loads((out / "head.json").read_text("utf-8"))
    meta["score_exponent"] = 7.0
    (out / "head.json").write_text(json.dumps(meta), encoding="utf-8")
    head = (out / "head.safetensors").read_bytes()
    call_command("sentiment_train", output=str(out), fit_intensity=True)
    refitted = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert refitted["score_exponent"] in EXPONENT_GRID
    assert refitted["intensity_holdout_plain"]["exponent"] == 1.0
    assert (out / "head.safetensors").read_bytes() == head


def test_fit_intensity_needs_trained_weights(tmp_path):
    with pytest.raises(CommandError, match="no trained head"):
        call_command("sentiment_train", output=str(tmp_path), fit_intensity=True)


def test_training_needs_data(tmp_path):
    with pytest.raises(CommandError, match="--data is required"):
        call_command("sentiment_train", output=str(tmp_path))


def test_members_must_be_positive(labelled_csv, tmp_path):
    with pytest.raises(CommandError, match="--members must be at least 1"):
        call_command("sentiment_train", data=[str(labelled_csv)], output=str(tmp_path), members=0)


def test_keep_encoder_refuses_to_fine_tune_layers_too(labelled_csv, tmp_path):
    with pytest.raises(CommandError, match="--keep-encoder retrains the head only"):
        call_command(
            "sentiment_train",
            data=[str(labelled_csv)],
            output=str(tmp_path),
            keep_encoder=True,
            finetune_layers=2,
        )


def test_calibrate_only_needs_trained_weights(labelled_csv, tmp_path):
    with pytest.raises(CommandError, match="no trained head"):
        call_command("sentiment_train", data=[str(labelled_csv)], output=str(tmp_path), calibrate_only=True)


@pytest.fixture
def umsab_with_hindi(tmp_path):
    root = tmp_path / "umsab"
    texts = {
        "english": [
            (variant, k)
            for k, group in enumerate((NEGATIVE, NEUTRAL, POSITIVE))
            for text in group
            for variant in (text, text + "!")
        ],
        "hindi": [("bahut bura", 0), ("theek hai", 1), ("bahut accha", 2)],
    }
    for language, rows in texts.items():
        (root / language).mkdir(parents=True)
        for split in ("train", "val"):
            (root / language / f"{split}_text.txt").write_text("\n".join(t for t, _ in rows) + "\n", "utf-8")
            (root / language / f"{split}_labels.txt").write_text(
                "\n".join(str(k) for _, k in rows) + "\n", "utf-8"
            )
    return root


@pytest.mark.model
def test_umsab_hindi_training_labels_are_left_out_unless_all_groups_are_asked_for(
    umsab_with_hindi, tmp_path, capsys, bundled_model_dir
):
    options = dict(epochs=1, members=1, graded_weight=0)
    meta = _train(umsab_with_hindi, tmp_path / "default", capsys, **options)
    english = 2 * len(NEGATIVE + NEUTRAL + POSITIVE)
    assert meta["train_examples"] == english
    assert meta["left_out_groups"] == ["hindi"]
    # Hindi val still counts: the head is still measured on it
    assert "hindi" in meta["val_per_group"]

    meta = _train(umsab_with_hindi, tmp_path / "all", capsys, all_groups=True, **options)
    assert meta["train_examples"] == english + 3
    assert meta["left_out_groups"] == []
