"""A labelled corpus for the name and address mask, built from real JDDC turns.

JD anonymised the JDDC chat log with ``[姓名x]`` and ``[地址x]``. Customer turns that hold
them are filled with generated names and addresses (Faker's ``zh_CN`` lists, seeded; the mask's
own word lists play no part), so each inserted span is known. `evaluate` measures per category
the *recall* (the share of inserted spans that the mask covers completely) and, on customer
turns without those placeholders, the *over-masking* (the share of characters that the name
and address rules mask although no PII was there).
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from ecc_utils.privacy import ADDRESS, NAME, PLACEHOLDER_RE, mask_spans

__all__ = [
    "Filled",
    "evaluate",
    "fill_turns",
    "generator",
    "negatives",
    "positives",
    "wilson_interval",
]

_TITLES = ("先生", "女士", "小姐", "经理", "老师")
_ESTATES = ("小区", "花园", "家园", "公寓", "新村", "苑", "华庭", "大厦", "名苑", "广场")
_CN_DIGITS = "零一二三四五六七八九"
_PROVINCE_BEFORE = re.compile(r"(?:省|市|区|县|北京|上海|天津|重庆)$|[\u4e00-\u9fff]{2}$")


@dataclass(frozen=True)
class Filled:
    """A turn with its placeholders filled: the text, the (start, end, kind) of each insert,
    and for each whether JD's placeholder was glued inside a sentence (a Chinese character
    right before and after it, neither a title: 做账的[姓名x]票, where JD's anonymiser
    evidently replaced part of a word, 普票 or 发票, rather than a name)."""

    text: str
    spans: tuple[tuple[int, int, str], ...]
    source: str  # the JDDC turn it came from
    glued: tuple[bool, ...] = ()


def _glued(turn: str, start: int, end: int) -> bool:
    before = turn[start - 1] if start else ""
    after = turn[end : end + 2]
    cjk = lambda ch: bool(ch) and "\u4e00" <= ch <= "\u9fff"  # noqa: E731
    return cjk(before) and cjk(after[:1]) and not after.startswith(_TITLES + ("总", "师"))


def positives(turns: Iterable[str]) -> list[str]:
    """Customer turns that hold a name or address placeholder."""
    return [t for t in turns if NAME in t or ADDRESS in t]


def negatives(turns: Iterable[str]) -> list[str]:
    """Customer turns with neither: any mask of a name or address there is over-masking."""
    return [t for t in turns if NAME not in t and ADDRESS not in t and t.strip()]


class _Generator:
    def __init__(self, seed: int) -> None:
        from faker import Faker

        self.fake = Faker("zh_CN")
        self.fake.seed_instance(seed)
        self.rng = random.Random(seed)
        from faker.providers.person.zh_CN import Provider

        self.given_chars = sorted({c for g in Provider.first_names for c in g})

    def _num(self, lo: int, hi: int) -> str:
        n = self.rng.randint(lo, hi)
        if n < 100 and self.rng.random() < 0.15:  # 三十二号
            tens, ones = divmod(n, 10)
            head = "" if tens == 0 else ("十" if tens == 1 else _CN_DIGITS[tens] + "十")
            return head + (_CN_DIGITS[ones] if ones or not head else "")
        return str(n)

    def name(self) -> tuple[str, str]:
        """(name, text after it): a title follows one name in four."""
        r = self.rng.random()
        surname = self.fake.last_name()
        if r < 0.5:
            given = self.fake.first_name()
        else:  # one or two characters of the given-name lists, recombined
            given = "".join(self.rng.choices(self.given_chars, k=self.rng.choice((1, 2))))
        if self.rng.random() < 0.15:
            return surname + " " + given, ""  # typed with a space
        title = self.rng.choice(_TITLES) if self.rng.random() < 0.25 else ""
        if title and self.rng.random() < 0.3:
            return surname, title  # 王先生: the surname is the name
        return surname + given, title

    def address(self, region_before: bool) -> str:
        """An address; without its province and city when the turn names a region before it."""
        f, rng = self.fake, self.rng
        road = f"{f.street_name()}{self._num(1, 399)}号"
        estate = f"{f.city_name()}{rng.choice(_ESTATES)}"
        building = f"{self._num(1, 30)}{rng.choice(('栋', '幢', '号楼'))}{self._num(1, 6)}单元"
        room = f"{rng.randint(1, 33)}{rng.randint(1, 4):02d}" + rng.choice(("室", "", "号"))
        form = rng.choice(("road", "road+estate", "estate", "building", "full"))
        parts = {"road": [road], "road+estate": [road, estate, building, room],
                 "estate": [estate, building, room], "building": [building, room],
                 "full": [road, estate]}[form]  # fmt: skip
        if not region_before and rng.random() < 0.6:
            parts = [f.province(), f.city(), f.district() + "区"][rng.randint(0, 2) :] + parts
        elif region_before and rng.random() < 0.5:
            parts = [f.district() + "区"] + parts
        return (" " if rng.random() < 0.2 else "").join(parts)


def generator(seed: int) -> _Generator:
    """The seeded generator of names and addresses that `fill_turns` uses."""
    return _Generator(seed)


def fill_turns(turns: Iterable[str], seed: int = 0, copies: int = 1) -> list[Filled]:
    """Each turn, `copies` times, with every ``[姓名x]`` / ``[地址x]`` replaced by a generated
    name / address (seeded: the same turns, seed and copies give the same corpus); other
    placeholders stay."""
    gen = _Generator(seed)
    out = []
    for turn in [t for t in turns for _ in range(copies)]:
        text, spans, glued, pos = "", [], [], 0
        for m in PLACEHOLDER_RE.finditer(turn):
            text += turn[pos : m.start()]
            pos = m.end()
            if m.group() == NAME:
                value, after = gen.name()
            elif m.group() == ADDRESS:
                value, after = gen.address(bool(_PROVINCE_BEFORE.search(text))), ""
            else:
                text += m.group()
                continue
            spans.append((len(text), len(text) + len(value), "name" if m.group() == NAME
                          else "address"))  # fmt: skip
            glued.append(_glued(turn, m.start(), m.end()))
            text += value + after
        text += turn[pos:]
        out.append(Filled(text, tuple(spans), turn, tuple(glued)))
    return out


@dataclass(frozen=True)
class _Share:
    estimate: float
    low: float
    high: float


def wilson_interval(successes: int, n: int, level: float = 0.95) -> _Share:
    """A proportion with its Wilson score interval: unlike the bootstrap, it stays informative
    when every trial succeeds (recall 1.0 on 300 spans is still at most about 0.99). Kept here,
    not in `scoring.uncertainty`, so that the data page does not depend on the scoring package."""
    from statistics import NormalDist

    if n == 0:
        return _Share(float("nan"), float("nan"), float("nan"))
    z = NormalDist().inv_cdf(0.5 + level / 2)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / (1 + z * z / n)
    return _Share(p, max(0.0, centre - half), min(1.0, centre + half))


def _covered(spans: list[tuple[int, int, str]], chars: list[int]) -> bool:
    return all(any(s <= i < e for s, e, _ in spans) for i in chars)


def evaluate(
    filled: list[Filled], clean: dict[str, list[str]]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the table: recall per category with its 95 % Wilson interval, then over-masking on each
    set of `clean` turns, by label; the per-span results). An inserted span counts as masked when the mask covers every character
    of it (spaces excepted); ``as its kind`` also wants the right placeholder. Over-masking is
    the share of the clean turns' characters (placeholders and spaces excluded) that fall in a
    name or address span."""
    rows = []
    kinds = {NAME: "name", ADDRESS: "address"}
    for f in filled:
        found = mask_spans(f.text)
        for (s, e, kind), glued in zip(f.spans, f.glued, strict=True):
            inner = [i for i in range(s, e) if not f.text[i].isspace()]
            masked = _covered(found, inner)
            right = masked and any(fs <= inner[0] and inner[-1] < fe and kinds.get(ph) == kind
                                   for fs, fe, ph in found)  # fmt: skip
            rows.append({"kind": kind, "inserted": f.text[s:e], "text": f.text,
                         "glued": glued, "masked": masked, "as_its_kind": right})  # fmt: skip
    cols = ["kind", "inserted", "text", "glued", "masked", "as_its_kind"]
    spans = pd.DataFrame(rows, columns=cols)
    table = []
    for kind in ("name", "address"):
        for label, part in ((f"{kind} recall", spans[spans["kind"] == kind]),
                            (f"{kind} recall, placeholder not glued inside a sentence",
                             spans[(spans["kind"] == kind) & ~spans["glued"]])):  # fmt: skip
            iv = wilson_interval(int(part["masked"].sum()), len(part))
            table.append({"measure": label, "n": len(part), "value": iv.estimate,
                          "low": iv.low, "high": iv.high,
                          "as its kind": float(part["as_its_kind"].mean())})  # fmt: skip
    for label, turns in clean.items():
        n_chars = n_masked = 0
        for t in turns:
            n_chars += sum(not c.isspace() for c in PLACEHOLDER_RE.sub("", t))
            for s, e, ph in mask_spans(t):
                if ph in kinds:
                    n_masked += sum(not c.isspace() for c in t[s:e])
        iv = wilson_interval(n_masked, n_chars)
        table.append({"measure": f"over-masking: characters of {label}", "n": n_chars,
                      "value": iv.estimate, "low": iv.low, "high": iv.high,
                      "as its kind": float("nan")})  # fmt: skip
    return pd.DataFrame(table), spans
