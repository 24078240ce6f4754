"""Street addresses in a customer's message (masked as ``[地址x]``).

An address is found from its *core*: a road with its number (中山北路32号, 人民南路四段9号), an
estate (阳光花园, 幸福里小区) or a building, unit or room (3栋, 1单元, 502室). From the core the
span grows to the left over the place's name and the administrative units before it (江苏省
南京市鼓楼区; `lexicon.admin_names` plus any word ending in 省/市/区/县/镇...), and to the right
over building, unit, floor and room numbers. The whole span is masked.

Administrative units alone are not an address: 发广州几天能到 and 寄到南京市鼓楼区 stay, so the
teacher can answer questions about shipping to a region. A road needs a number, an
administrative unit before it or the analyser's place tag (高速路 and 一路 are not roads); a
weak estate suffix (城, 园, 中心, 广场 ...) needs a building number after it or a place before
it (京东商城 and 售后中心 are not estates).
"""

from __future__ import annotations

import re

from ecc_utils.privacy.lexicon import ADMIN_SUFFIXES, admin_names
from ecc_utils.privacy.segment import Compact, Token

__all__ = ["find_addresses"]

_NUM = "[0-9０-９一二三四五六七八九十百千零〇两]+"
_ALNUM = "[0-9０-９A-Za-zＡ-Ｚ一二三四五六七八九十百千零〇两]+"
_ROAD = "大道|大街|公路|路|街|巷|弄|胡同|道"
_ESTATE_STRONG = ("小区|花园|公寓|大厦|家园|新村|华庭|名苑|雅苑|花苑|山庄|公馆|大楼|宿舍|新城|"
                  "社区|写字楼|产业园|工业园|科技园|商务楼|苑|村|屯")  # fmt: skip
_ESTATE_WEAK = "广场|中心|城|园|府|湾|庭|里|阁|轩|居|院|坊|座"
# What follows a core: road numbers and sections, buildings, units, floors, rooms.
_PART = re.compile(
    rf"(?:{_NUM}段|{_NUM}[号弄](?:院|楼)?|{_ALNUM}(?:栋|幢|号楼|座|楼|区)|{_NUM}单元|{_NUM}层"
    rf"|{_NUM}(?:室|房|户)|[-－]?[0-9０-９]{{2,4}}(?![0-9０-９]))"
)
_BUILDING = re.compile(rf"{_ALNUM}(?:栋|幢|号楼)|{_NUM}单元|{_NUM}(?:室|户)")
_ROAD_RE = re.compile(_ROAD)
_ESTATE_RE = re.compile(f"{_ESTATE_STRONG}|{_ESTATE_WEAK}")
_STRONG = set(_ESTATE_STRONG.split("|"))
# Words a place name does not contain: verbs, particles, pronouns (taken from jieba's tags),
# and these nouns of a delivery request.
_NOT_NAME_FLAGS = {"v", "vd", "p", "r", "d", "c", "u", "uj", "ul", "uz", "ud", "ug", "uv", "y",
                   "e", "o", "x", "m", "q", "t", "eng"}  # fmt: skip
_STOP = {"地址", "收货", "收件", "地点", "位置", "我家", "家里", "家", "公司", "单位", "门口", "楼下", "这边", "那边", "附近", "寄到", "送到", "改成", "改为", "新地址"}  # fmt: skip
_MAX_SPAN = 30  # characters from the core back to the first administrative unit


def _is_admin(t: Token) -> bool:
    w = t.word
    return len(w) >= 2 and (w in admin_names() or (w.endswith(ADMIN_SUFFIXES) and t.flag in
                                                  {"ns", "n", "nr", "nz", "nt"}))  # fmt: skip


def _name_like(t: Token) -> bool:
    return t.flag not in _NOT_NAME_FLAGS and t.word not in _STOP


def _grow_left(c: Compact, p: int) -> tuple[int, bool]:
    """Where the place whose suffix starts at `p` begins (its name, then the administrative
    units before it: 江苏省 南京市 鼓楼区), and whether there was such a unit."""
    k = c.token_at(p) if p < len(c.text) else len(c.tokens) - 1
    start = c.tokens[k].start if c.tokens[k].start < p else p
    if start < p and not _name_like(c.tokens[k]):
        return p, False  # the suffix shares a word with a pronoun or verb (那里, 知道)
    admin, k = False, (c.token_at(start) if start < len(c.text) else len(c.tokens)) - 1
    while k >= 0 and p - c.tokens[k].start <= _MAX_SPAN:
        t = c.tokens[k]
        if _is_admin(t) or t.word in ADMIN_SUFFIXES:
            admin = True
        elif not _name_like(t):
            break
        start, k = t.start, k - 1
    return start, admin


def _grow_right(c: Compact, end: int) -> tuple[int, bool]:
    """The end of the numbers after a core at `end`, and whether there were any."""
    grew = False
    while m := _PART.match(c.text, end):
        end, grew = m.end(), True
    return end, grew


def _cores(c: Compact) -> list[tuple[int, int]]:
    found = []
    for m in _ROAD_RE.finditer(c.text):
        start, admin = _grow_left(c, m.start())
        if start == m.start():
            continue  # a bare 路 / 街: no name
        end, numbered = _grow_right(c, m.end())
        tagged = any(t.flag in {"ns", "nz"} for t in c.tokens if start <= t.start < m.end())
        if numbered or admin or tagged:
            found.append((start, end))
    for m in _ESTATE_RE.finditer(c.text):
        start, admin = _grow_left(c, m.start())
        if start == m.start() or m.start() - start < 2 and m.group() not in _STRONG:
            continue
        end, numbered = _grow_right(c, m.end())
        if m.group() in _STRONG or numbered or admin:
            found.append((start, end))
    for m in _BUILDING.finditer(c.text):
        start, _ = _grow_left(c, m.start())
        end, _ = _grow_right(c, m.start())
        found.append((start, max(end, m.end())))
    return found


def find_addresses(c: Compact) -> list[tuple[int, int]]:
    """The address spans (compact-text indices) in `c`, merged, in order."""
    merged: list[tuple[int, int]] = []
    for s, e in sorted(_cores(c)):
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged
