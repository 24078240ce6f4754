"""The paper's constants and published numbers: the one home of each.

alpha and Theta of Eq. (1), N of Table II, Table IV's settings, the three methods and their
names, Table VI's inputs (English as printed, and the Chinese utterances that stand for them
in ECD) and values, and the published anchors. Every value is copied from the paper's text
(Tables IV and VI, Sections III/IV) or from the sources it cites (DUA for the ECD
response-selection anchors, the ECD and JDDC papers for corpus statistics); nothing is
computed. Every other module imports them from here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

import pandas as pd

# --- Eq. (1) and Table II ------------------------------------------------------------------

ALPHA = 0.8  # Section IV.C: "by setting alpha = 0.8 and Theta = 0.2"
THETA = 0.2
N_SHOTS = 500  # Table II: N question-answer pairs in the cloud prompt

# --- the three fine-tuning methods (Table IV), in the paper's order -------------------------

METHODS: tuple[str, ...] = ("prefix", "ptuning_v2", "lora")
METHOD_NAMES: dict[str, str] = {
    "prefix": "Prefix-Tuning",
    "ptuning_v2": "P-Tuning v2",
    "lora": "LoRA",
}
PREFIX_METHODS: frozenset[str] = frozenset({"prefix", "ptuning_v2"})

# --- Table IV -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TableIV:
    """Table IV: parameters of ChatGLM3-6B under the three fine-tuning methods.

    `num_virtual_tokens` applies to Prefix-Tuning and P-Tuning v2 only; the LoRA fields
    to LoRA only (the paper prints "/" elsewhere). The evaluation fields are the
    generation settings used for every method.
    """

    max_input_length: int = 256
    max_output_length: int = 512
    max_steps: int = 30000
    learning_rate: float = 5e-5
    per_device_train_batch_size: int = 1
    num_virtual_tokens: int = 128
    lora_r: int = 8
    lora_alpha: int = 32
    lora_dropout: float = 0.1
    eval_max_length: int = 8192
    top_p: float = 0.8
    temperature: float = 0.6

    def to_dict(self) -> dict:
        return asdict(self)


TABLE4 = TableIV()

# --- Table VI -------------------------------------------------------------------------------

ORIGINAL_LABEL = "Original Model"
MEAN_LABEL = "Mean"

# The six user inputs of Table VI, English as printed, in the paper's order. ASCII
# apostrophes (the PDF text has them; the HTML version has typographic ones).
TABLE6_LABELS: tuple[str, ...] = (
    "Hello",
    "Can I choose the delivery service?",
    "520401029636",
    "Can I get a discount?",
    "This is so frustrating. I've been waiting for this delivery since yesterday "
    "and haven't dared to leave the house.",
    "Will you ship the order if I purchase it today?",
)

TABLE6_COLUMNS: tuple[str, ...] = (
    "Original Model",
    "Prefix-Tuning 3000 steps",
    "P-Tuning v2 3000 steps",
    "LoRA 3000 steps",
    "LoRA 5000 steps",
    "LoRA 15000 steps",
)

# Rows follow TABLE6_LABELS, columns TABLE6_COLUMNS; checked against both paper texts.
TABLE6_VALUES: tuple[tuple[float, ...], ...] = (
    (0.415, 0.415, 0.415, 0.844, 0.844, 0.844),
    (0.324, 0.186, 0.324, 0.463, 0.693, 0.695),
    (0.162, 0.035, 0.045, 0.045, 0.045, 0.024),
    (0.171, 0.267, 0.168, 0.588, 0.392, 0.495),
    (0.408, 0.253, 0.473, 0.469, 0.398, 0.697),
    (0.356, 0.346, 0.423, 0.777, 0.522, 0.733),
)


@dataclass(frozen=True)
class TableVIInput:
    """One of Table VI's six user inputs and how to find it in an ECD-format test file."""

    label: str  # the paper's English wording (Example.label)
    texts: tuple[str, ...]  # segmented customer utterances to look for, best first
    pattern: str | None  # fallback: a regex a customer utterance must match in full
    notes: tuple[str, ...]  # why, one per text, then one for the pattern; "{corpus}" is filled in


# The Chinese of each input, in TABLE6_LABELS order. Four are in the ECD sample's test file
# word for word; for the other two the notes say what stands in and why.
TABLE6_INPUTS: tuple[TableVIInput, ...] = (
    TableVIInput(
        TABLE6_LABELS[0],
        ("你好",),
        None,
        ("the paper's input '你好', the opening customer utterance of a test context ({corpus})",),
    ),
    TableVIInput(
        TABLE6_LABELS[1],
        ("我 不想 发 邮政 能换 别的 么",),
        None,
        (
            "the ECD sample has no 'can I choose the courier?'; its closest customer utterance "
            "asks to switch away from the default courier ('I don't want China Post, can you "
            "use another?'), closer than '亲发 什么 快递' (which courier?) or '发中通 圆通 吗' "
            "(ZTO or YTO?); taken from the {corpus} test file",
        ),
    ),
    TableVIInput(
        TABLE6_LABELS[2],
        ("520401029636", "525873142019"),
        r"\d{9,}",
        (
            "the paper's input verbatim, a bare product/order number, in the {corpus} test file",
            "520401029636 occurs in the ECD sample only inside a longer question "
            "('... 520401029636 这种 一包 是 几张 的'); the first test context of the {corpus} "
            "that opens with a bare 12-digit number is used instead",
            "no test context of the {corpus} opens with the paper's number; the first that "
            "opens with a bare run of 9+ digits is used",
        ),
    ),
    TableVIInput(
        TABLE6_LABELS[3],
        ("可以 优惠价 么",),
        None,
        (
            "the paper's input '可以 优惠价 么' (may I have the discount price?), {corpus} test file",
        ),
    ),
    TableVIInput(
        TABLE6_LABELS[4],
        ("真是 要命 了 这个 快递 从 昨天 一直 等到 现在 门 都 不敢 出",),
        None,
        ("the paper's input, verbatim in the {corpus} test file",),
    ),
    TableVIInput(
        TABLE6_LABELS[5],
        ("今天 拍 发货 么",),
        None,
        (
            "the paper's input '今天 拍 发货 么' (if I buy today, do you ship today?), {corpus} test file",
        ),
    ),
)

# The paper's milestones (Table VI columns) per method.
PAPER_MILESTONES: dict[str, tuple[int, ...]] = {
    "prefix": (3000,),
    "ptuning_v2": (3000,),
    "lora": (3000, 5000, 15000),
}


def normalize_label(label: str) -> str:
    """Map typographic apostrophes/quotes to ASCII so labels from either text compare equal."""
    return label.replace("\u2019", "'").replace("\u2018", "'").strip()


def model_label(method: str | None = None, step: int | None = None) -> str:
    """The Table VI column label: "Original Model", or e.g. "LoRA 3000 steps"."""
    if method is None:
        return ORIGINAL_LABEL
    if method not in METHOD_NAMES:
        raise ValueError(
            f"method={method!r}: unknown fine-tuning method; use one of {sorted(METHOD_NAMES)}"
        )
    if step is None:
        raise ValueError(f"step: required with method={method!r} (the milestone, e.g. 3000)")
    return f"{METHOD_NAMES[method]} {int(step)} steps"


def model_labels(
    milestones: Mapping[str, Iterable[int]], methods: Iterable[str] = METHODS
) -> list[str]:
    """Column labels in the paper's order: the original model, then each method's milestones.

    With `PAPER_MILESTONES` this returns exactly `TABLE6_COLUMNS`.
    """
    labels = [ORIGINAL_LABEL]
    for m in methods:
        labels += [model_label(m, s) for s in milestones.get(m, ())]
    return labels


def published_table6(with_mean: bool = False) -> pd.DataFrame:
    """Table VI as printed: index = English user inputs ("User Input"), columns = models.

    `with_mean=True` appends a "Mean" row (the column means; the paper prints no mean,
    it is computed here for comparison with our table).
    """
    df = pd.DataFrame(list(TABLE6_VALUES), index=list(TABLE6_LABELS), columns=TABLE6_COLUMNS)
    df.index.name = "User Input"
    if with_mean:
        df.loc[MEAN_LABEL] = df.mean(axis=0)
    return df


# --- published anchors -----------------------------------------------------------------------

# DUA (Zhang et al., COLING 2018, "Modeling multi-turn conversation with deep utterance
# aggregation"), the ECD paper's best model, on the full ECD test set.
DUA_ECD_R10: dict[int, float] = {1: 0.501, 2: 0.700, 5: 0.921}
# ECD statistics as published with the corpus (DUA paper).
ECD_TURNS_PER_SESSION = 5.51
ECD_WORDS_PER_UTTERANCE = 7.02
# JDDC: "more than 1 million multi-turn dialogues, 20 million utterances" (Section IV.A).
JDDC_UTTERANCES_PER_SESSION = 20.0
# The corpora papers' statistics, keyed as the data page shows them beside ours.
PUBLISHED_STATS: dict[str, float] = {
    "ecd_turns_per_session": ECD_TURNS_PER_SESSION,
    "ecd_words_per_utterance": ECD_WORDS_PER_UTTERANCE,
    "jddc_utterances_per_session": JDDC_UTTERANCES_PER_SESSION,
}


_STEPS = re.compile(r"^(.*?)\s+\d+\s+steps$")


def _method_of(label: str) -> str:
    m = _STEPS.match(label)
    return m.group(1) if m else label


def paired_columns(ours: Sequence[str], paper: Sequence[str]) -> dict[str, str]:
    """Our column -> the paper's column of the same method at the same milestone rank.

    A profile scales the step counts (e.g. "LoRA 300 steps" for the paper's 3000), so
    columns pair up by method and order, not by name.
    """
    out = {}
    for label in ours:
        method = _method_of(label)
        mine = [c for c in ours if _method_of(c) == method]
        theirs = [c for c in paper if _method_of(c) == method]
        k = mine.index(label)
        if k < len(theirs):
            out[label] = theirs[k]
    return out
