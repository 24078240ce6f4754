"""ecc_utils.paper: the published numbers, checked against the paper's own text."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ecc_utils import paper

PAPER_TXT = Path(__file__).resolve().parents[2] / "shared" / "paper" / "ecc_paper_pdf.txt"


def test_table6_shape_labels_and_order():
    t = paper.published_table6()
    assert list(t.index) == list(paper.TABLE6_LABELS)
    assert list(t.columns) == [
        "Original Model",
        "Prefix-Tuning 3000 steps",
        "P-Tuning v2 3000 steps",
        "LoRA 3000 steps",
        "LoRA 5000 steps",
        "LoRA 15000 steps",
    ]
    assert t.loc["Hello", "LoRA 15000 steps"] == 0.844
    assert t.loc["520401029636", "LoRA 15000 steps"] == 0.024
    assert t.loc["Can I get a discount?", "LoRA 3000 steps"] == 0.588


def test_table6_mean_row():
    t = paper.published_table6(with_mean=True)
    assert t.index[-1] == "Mean"
    assert t.loc["Mean", "Original Model"] == pytest.approx(
        (0.415 + 0.324 + 0.162 + 0.171 + 0.408 + 0.356) / 6
    )


@pytest.mark.skipif(not PAPER_TXT.exists(), reason="paper text not next to the repository")
def test_table6_values_match_paper_text():
    text = PAPER_TXT.read_text(encoding="utf-8")
    block = text[text.index("TABLE VI Evaluation") :]
    rows = [
        [float(v) for v in re.findall(r"\b0\.\d{3}\b", line)]
        for line in block.splitlines()
        if len(re.findall(r"\b0\.\d{3}\b", line)) == 6
    ][:6]
    assert rows == [list(r) for r in paper.TABLE6_VALUES]


def test_model_labels_reproduce_paper_columns():
    assert paper.model_labels(paper.PAPER_MILESTONES) == list(paper.TABLE6_COLUMNS)
    assert paper.model_labels({"lora": (30, 50)}, ["lora"]) == [
        "Original Model",
        "LoRA 30 steps",
        "LoRA 50 steps",
    ]
    with pytest.raises(ValueError, match="method='adapter'"):
        paper.model_label("adapter", 3)


# Table IV's rows as printed: (printed name, field of `paper.TABLE4`, applies to prefix,
# ptuning_v2, lora).
TABLE4_ROWS = (
    ("Max Input Length", "max_input_length", (True, True, True)),
    ("Max Output Length", "max_output_length", (True, True, True)),
    ("Fine-Tuning Steps", "max_steps", (True, True, True)),
    ("Learning Rate", "learning_rate", (True, True, True)),
    ("Per Device Train Batch Size", "per_device_train_batch_size", (True, True, True)),
    ("num_virtual_tokens", "num_virtual_tokens", (True, True, False)),
    ("Rank r", "lora_r", (False, False, True)),
    ("Alpha", "lora_alpha", (False, False, True)),
    ("LoRA Dropout", "lora_dropout", (False, False, True)),
    ("max length", "eval_max_length", (True, True, True)),
    ("top_p", "top_p", (True, True, True)),
    ("temperature", "temperature", (True, True, True)),
)


@pytest.mark.skipif(not PAPER_TXT.exists(), reason="paper text not next to the repository")
def test_table4_values_match_paper_text():
    text = PAPER_TXT.read_text(encoding="utf-8")
    block = text[text.index("TABLE IV") : text.index("Fig. 2")]
    rows = {}
    for line in block.splitlines():
        cells = [c.strip() for c in line.split("\t") if c.strip()]
        if len(cells) == 4:
            rows[cells[0]] = cells[1:]
    for name, field, applies in TABLE4_ROWS:
        printed = rows.get(name) or next(v for k, v in rows.items() if "top" in k)  # "top_p"
        ours = [getattr(paper.TABLE4, field) if on else "/" for on in applies]
        assert [float(v) if v != "/" else v for v in printed] == [
            float(v) if v != "/" else v for v in ours
        ], name


@pytest.mark.skipif(not PAPER_TXT.exists(), reason="paper text not next to the repository")
def test_alpha_theta_and_n_match_paper_text():
    text = PAPER_TXT.read_text(encoding="utf-8")
    m = re.search(r"alpha = ([\d.]+)\$ and \$\\Theta = ([\d.]+)", text)
    assert (float(m.group(1)), float(m.group(2))) == (paper.ALPHA, paper.THETA)
    assert f"we set it {paper.N_SHOTS} in our experiment" in text


def test_normalize_label_accepts_typographic_apostrophes():
    curly = paper.TABLE6_LABELS[4].replace("'", "\u2019")
    assert paper.normalize_label(curly) == paper.TABLE6_LABELS[4]
