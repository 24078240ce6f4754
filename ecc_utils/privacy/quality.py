"""The name and address mask measured on the data page: recall and over-masking at the profile's
seed (`corpus.evaluate`), and recall again over several corpus seeds, since one filling of the
JDDC placeholders is one draw of names and addresses."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from ecc_utils.privacy import corpus

__all__ = ["MaskingReport", "masking_report", "recall_by_seed"]

COPIES = 3  # fillings of each JDDC turn
N_CLEAN = 2000  # JDDC customer turns without PII, for the over-masking
SEEDS = (0, 1, 2, 3, 4)

_NAME_NOT_GLUED = "name recall, placeholder not glued inside a sentence"
_ADDRESS_NOT_GLUED = "address recall, placeholder not glued inside a sentence"


@dataclass(frozen=True)
class MaskingReport:
    """`quality`: recall with intervals and over-masking at the profile's seed; `by_seed`: the
    recall of each corpus seed and their mean; `misses`: the spans missed at the profile's seed;
    `sentence`: what the page says of it."""

    quality: pd.DataFrame
    by_seed: pd.DataFrame
    misses: pd.DataFrame
    sentence: str


def recall_by_seed(positives: Sequence[str], seeds: Sequence[int] = SEEDS,
                   copies: int = COPIES) -> pd.DataFrame:  # fmt: skip
    """One row per corpus seed (the spans inserted, name and address recall, in all and where the
    placeholder is not glued inside a sentence), then a ``mean`` row averaging the seeds."""
    rows = []
    for seed in seeds:
        table, spans = corpus.evaluate(corpus.fill_turns(positives, seed=seed, copies=copies), {})
        by = table.set_index("measure")["value"]
        rows.append({"seed": str(seed),
                     "names": int((spans["kind"] == "name").sum()),
                     "name recall": by["name recall"],
                     "name recall, not glued": by[_NAME_NOT_GLUED],
                     "addresses": int((spans["kind"] == "address").sum()),
                     "address recall": by["address recall"],
                     "address recall, not glued": by[_ADDRESS_NOT_GLUED]})  # fmt: skip
    frame = pd.DataFrame(rows)
    mean = frame.drop(columns="seed").mean().to_dict()
    mean.update(seed="mean", names=frame["names"].sum(), addresses=frame["addresses"].sum())
    return pd.concat([frame, pd.DataFrame([mean])], ignore_index=True)


# The context forms of `privacy.fields`, filled with names the dictionary knows as words.
CONTEXT_CUES = ("收货人", "收件人", "联系人", "姓名")
N_CONTEXT = 200  # names of each pool per form
CUE_FORMS = ("{cue}{name}", "{cue}：{name}", "{cue}:{name}，地址{address}", "{cue} {name} 电话{phone}",
             "{cue}是{name}，麻烦改一下")  # fmt: skip
LABEL_FORMS = ("{name} {phone} {address}", "{name}{phone}{address}", "{name}，{phone}，{address}")


def dictionary_names(n: int, seed: int) -> list[str]:
    """`n` names the segmenter knows as words, half of each pool (seeded): three-character ones
    jieba's dictionary tags as a person (丁汝昌, 伍子胥; frequency 100 or more: the well known),
    and two-character everyday words that read as surname + given name (高兴, 黄山)."""
    import random

    import jieba
    import jieba.posseg

    from ecc_utils.privacy.fields import NAME_FLAGS, shaped
    from ecc_utils.privacy.segment import tagger

    tagger()
    freq, tags = jieba.dt.FREQ, jieba.posseg.dt.word_tag_tab
    known = sorted(w for w, f in freq.items() if f >= 100 and len(w) == 3
                   and tags.get(w) in NAME_FLAGS and shaped(w))  # fmt: skip
    words = sorted(w for w, f in freq.items() if f >= 20 and len(w) == 2
                   and tags.get(w) not in NAME_FLAGS and shaped(w))  # fmt: skip
    rng = random.Random(seed)
    return rng.sample(known, n // 2) + rng.sample(words, n - n // 2)


def context_recall(seed: int, n: int = N_CONTEXT) -> pd.DataFrame:
    """The name recall (with its Wilson interval) on names the segmenter knows as words, in the
    two forms where the context leaves no doubt: after a consignee or contact cue, and at the
    head of a parcel label (a name, a phone number, an address). Rows as `corpus.evaluate`'s."""
    import random

    gen = corpus.generator(seed)
    rng = random.Random(seed)
    rows = []
    for label, forms in (
        ("after a consignee cue", CUE_FORMS),
        ("heading a parcel label", LABEL_FORMS),
    ):
        filled = []
        for name in dictionary_names(n, seed):
            address = gen.address(False)
            while not "\u4e00" <= address[0] <= "\u9fff":  # 19幢 right after a phone number
                address = gen.address(False)  # would read as one long order number
            fields = dict(cue=rng.choice(CONTEXT_CUES), address=address,
                          phone="1" + rng.choice("3456789") + "".join(rng.choices("0123456789", k=9)))  # fmt: skip
            head, tail = rng.choice(forms).split("{name}")
            text = head.format(**fields) + name + tail.format(**fields)
            start = len(head.format(**fields))
            span = ((start, start + len(name), "name"),)
            filled.append(corpus.Filled(text, span, head + "{name}" + tail, (False,)))
        table, _ = corpus.evaluate(filled, {})
        row = table[table["measure"] == "name recall"].iloc[0].to_dict()
        rows.append(row | {"measure": f"name recall, dictionary names {label}"})
    return pd.DataFrame(rows)


def masking_report(
    jddc_turns: Sequence[str], ecd_turns: Sequence[str], seed: int, seeds: Sequence[int] = SEEDS
) -> MaskingReport | None:
    """The data page's measurement (None without JDDC turns): the JDDC customer turns'
    placeholders filled at `seed`, against the JDDC turns without PII and the ECD test contexts'
    customer turns (`data.Corpora.customer_turns`), and the recall over `seeds`."""
    if not jddc_turns:
        return None
    positives = corpus.positives(jddc_turns)
    filled = corpus.fill_turns(positives, seed=seed, copies=COPIES)
    clean = {"JDDC customer turns": corpus.negatives(jddc_turns)[:N_CLEAN],
             "ECD customer turns": list(ecd_turns)}  # fmt: skip
    quality, per_span = corpus.evaluate(filled, clean)
    quality = pd.concat([quality, context_recall(seed)], ignore_index=True)
    misses = per_span[~per_span["masked"]][["kind", "inserted", "glued", "text"]]
    by_seed = recall_by_seed(positives, seeds)
    by = quality.set_index("measure")["value"]
    mean = by_seed.set_index("seed").loc["mean"]
    sentence = textwrap.fill(
        f"On {len(filled)} filled JDDC turns the mask covers {by['name recall']:.1%} of the "
        f"inserted names ({by[_NAME_NOT_GLUED]:.1%} where the placeholder is not glued inside a "
        f"sentence) and {by['address recall']:.1%} of the addresses; over corpus seeds "
        f"{seeds[0]}-{seeds[-1]} the name recall averages {mean['name recall']:.1%} and the "
        f"address recall {mean['address recall']:.1%}. It masks "
        f"{by['over-masking: characters of JDDC customer turns']:.2%} of the characters of JDDC "
        f"turns without names or addresses and "
        f"{by['over-masking: characters of ECD customer turns']:.2%} of ECD's. Names the "
        f"dictionary knows as words (well-known persons, everyday words) are masked whole in "
        f"{by['name recall, dictionary names after a consignee cue']:.1%} of the cases after a "
        f"consignee or contact cue and in "
        f"{by['name recall, dictionary names heading a parcel label']:.1%} at the head of a "
        f"parcel label.",
        88,
    )
    return MaskingReport(quality, by_seed, misses, sentence)
