"""The pattern rules of the PII mask: e-mail, URL, ID-card, bank-card, phone and order numbers.

What is masked by pattern:

=================================================  ==============
kind                                               placeholder
=================================================  ==============
e-mail address                                     ``[邮箱x]``
URL (``http(s)://...``, ``www....``)               ``[链接x]``
ID-card number (18 chars, last may be X)           ``[身份证号x]``
bank-card number written in groups of 4 digits     ``[数字x]``
mobile (1[3-9]x, 11 digits, +86, spaces/dashes)    ``[电话x]``
landline (0xx-xxxxxxxx, (0xx) xxxxxxxx)            ``[电话x]``
order / product number (a run of 9+ digits)        ``[订单x]``
=================================================  ==============

Prices, dates, quantities, sizes and short numbers ("105 元", "20 号", "1020", "2024-05-01",
"3 件") are not PII and stay. Names and addresses are found by `names` and `addresses`.
"""

from __future__ import annotations

import re

__all__ = ["PLACEHOLDERS", "PLACEHOLDER_RE", "RULES", "mask_patterns", "pattern_spans"]

# The placeholder names found in the JDDC chat log (chat_0.1per.txt), most frequent first.
PLACEHOLDERS: tuple[str, ...] = (
    "[数字x]",
    "[订单x]",
    "[金额x]",
    "[姓名x]",
    "[日期x]",
    "[时间x]",
    "[站点x]",
    "[链接x]",
    "[地址x]",
    "[电话x]",
    "[组织机构x]",
    "[身份证号x]",
    "[邮箱x]",
)
PLACEHOLDER_RE = re.compile(r"\[[\u4e00-\u9fff]{1,6}x\]")

# Digits are matched with [0-9] plus the full-width ０-９ a user may type on a phone keyboard.
_D = "[0-9\uff10-\uff19]"
_ND_BEFORE = rf"(?<!{_D})"
_ND_AFTER = rf"(?!{_D})"
_SEP = r"[ \-\u2010-\u2015\uff0d]?"  # one optional space or dash (ASCII, Unicode, full-width)

_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
# A URL runs until whitespace, a CJK character or a bracket (so placeholders survive).
_URL = re.compile(r"(?:https?://|www\.)[A-Za-z0-9._~:/?#@!$&'*+,;=%\-]+", re.IGNORECASE)
_ID_CARD = re.compile(rf"{_ND_BEFORE}[1-9]{_D}{{16}}[0-9Xx\uff10-\uff19](?![0-9A-Za-z])")
_BANK_CARD = re.compile(
    rf"{_ND_BEFORE}{_D}{{4}}(?:[ \-]{_D}{{4}}){{3}}(?:[ \-]?{_D}{{1,4}})?{_ND_AFTER}"
)
_MOBILE = re.compile(
    rf"(?:(?:\+|00)?86{_SEP}|\((?:\+|00)?86\){_SEP}|{_ND_BEFORE})"
    rf"[1\uff11][3-9\uff13-\uff19]{_D}{_SEP}{_D}{{4}}{_SEP}{_D}{{4}}{_ND_AFTER}"
)
_LANDLINE = re.compile(
    rf"(?:{_ND_BEFORE}0{_D}{{2,3}}[\-\u2010-\u2015\uff0d]|[(（]0{_D}{{2,3}}[)）] ?)"
    rf"{_D}{{3,4}}{_SEP}{_D}{{4}}(?:{_ND_AFTER})"
)
_LONG_DIGITS = re.compile(rf"{_ND_BEFORE}{_D}{{9,}}{_ND_AFTER}")

# Order matters: a longer, more specific pattern must win over the digit runs inside it.
RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (_EMAIL, "[邮箱x]"),
    (_URL, "[链接x]"),
    (_ID_CARD, "[身份证号x]"),
    (_BANK_CARD, "[数字x]"),
    (_MOBILE, "[电话x]"),
    (_LANDLINE, "[电话x]"),
    (_LONG_DIGITS, "[订单x]"),
)


def mask_patterns(text: str) -> str:
    """`text` with every span of the pattern rules replaced, rule by rule in order."""
    for pattern, placeholder in RULES:
        text = pattern.sub(placeholder, text)
    return text


def pattern_spans(text: str) -> list[tuple[int, int, str]]:
    """The (start, end, placeholder) spans the pattern rules find in `text`, earlier rules
    first and without overlaps, in order of appearance."""
    spans: list[tuple[int, int, str]] = []
    for pattern, placeholder in RULES:
        for m in pattern.finditer(text):
            if not any(m.start() < e and s < m.end() for s, e, _ in spans):
                spans.append((m.start(), m.end(), placeholder))
    return sorted(spans)
