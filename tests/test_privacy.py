"""PII masking: every kind is masked with JDDC's placeholder, non-PII numbers stay."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from ecc_utils.privacy import PLACEHOLDER_RE, PLACEHOLDERS, find_pii, mask

MOBILE = [
    ("我的手机 13812345678", "我的手机 [电话x]"),
    ("电话15900001111谢谢", "电话[电话x]谢谢"),
    ("+86 138 1234 5678", "[电话x]"),
    ("+8613812345678", "[电话x]"),
    ("86-139-1234-5678 联系我", "[电话x] 联系我"),
    ("(+86) 17712345678", "[电话x]"),
    ("0086 18612345678", "[电话x]"),
    ("手机号：199 8888 7777。", "手机号：[电话x]。"),
    ("call 138-0000-1234 now", "call [电话x] now"),
    ("１３８１２３４５６７８", "[电话x]"),  # full-width digits typed on a phone
]
LANDLINE = [
    ("座机 010-12345678", "座机 [电话x]"),
    ("0755-1234567 转 8", "[电话x] 转 8"),
    ("(021) 87654321", "[电话x]"),
    ("（0571）8888 6666", "[电话x]"),
    ("公司电话021-8765-4321", "公司电话[电话x]"),
]
EMAIL = [
    ("邮箱 abc.d@qq.com 谢谢", "邮箱 [邮箱x] 谢谢"),
    ("发到zhang_san+jd@163.com吧", "发到[邮箱x]吧"),
    ("mail: li.si@mail.example.co.uk", "mail: [邮箱x]"),
    ("jhh123@sina.cn", "[邮箱x]"),
]
ID_CARD = [
    ("身份证 11010519491231002X", "身份证 [身份证号x]"),
    ("身份证号110105194912310021", "身份证号[身份证号x]"),
    ("id 44030119900101123x ok", "id [身份证号x] ok"),
]
ORDER = [
    ("订单 520401029636", "订单 [订单x]"),
    ("520401029636", "[订单x]"),
    ("44265219693", "[订单x]"),  # 11 digits that are not a mobile number
    ("商品 100012345678 有货吗", "商品 [订单x] 有货吗"),
    ("订单号:123456789，", "订单号:[订单x]，"),
    ("99 的 那种 520401029636 这种 一包 是 几张 的", "99 的 那种 [订单x] 这种 一包 是 几张 的"),
    ("1202628636050", "[订单x]"),
]
OTHER = [
    ("卡号 6222 0212 3456 7890 123", "卡号 [数字x]"),
    ("看 https://item.jd.com/100012345678.html 这个", "看 [链接x] 这个"),
    ("www.example.com/a?id=1", "[链接x]"),
]
KEPT = [
    "105 元",
    "20 号",
    "1020",
    "2024-05-01",
    "3 件",
    "我们 因为 200 把 起 给 优惠价格 您 可以 给 您 105 元 一把 哦",
    "客官 今天 16 点前 付款 是 当天 发货 的 哦",
    "满 99 包邮 360g 左右",
    "尺码 175/92A 腰围 2尺4",
    "12:30 到 18:00",
    "6.16-6.18 活动",
    "12345678",  # 8 digits: not an order number
    "订单编号:[订单x]，订单金额:[金额x]，下单时间:[日期x] [时间x]",
    "[姓名x] [地址x] [电话x] [邮箱x] [身份证号x] [数字x] [链接x] [组织机构x]",
    "Xs Max/XR/X/8 手机 充电线 1.2米",
    "",
]
PII_CASES = MOBILE + LANDLINE + EMAIL + ID_CARD + ORDER + OTHER


@pytest.mark.parametrize(("text", "expected"), PII_CASES)
def test_mask_replaces_pii_with_typed_placeholder(text: str, expected: str) -> None:
    assert mask(text) == expected


@pytest.mark.parametrize(("text", "expected"), PII_CASES)
def test_find_pii_finds_what_mask_replaces(text: str, expected: str) -> None:
    spans = find_pii(text)
    assert spans, f"no PII found in {text!r}"
    assert all(s in text for s in spans)
    assert find_pii(mask(text)) == []


@pytest.mark.parametrize("text", [t for t, _ in PII_CASES] + KEPT)
def test_mask_is_idempotent(text: str) -> None:
    assert mask(mask(text)) == mask(text)


@pytest.mark.parametrize("text", KEPT)
def test_non_pii_is_kept(text: str) -> None:
    assert mask(text) == text
    assert find_pii(text) == []


def test_placeholders_are_jddc_style() -> None:
    for p in PLACEHOLDERS:
        assert PLACEHOLDER_RE.fullmatch(p)
    masked = mask("电话 13812345678 邮箱 a@b.cn 订单 520401029636 身份证 11010519491231002X")
    assert PLACEHOLDER_RE.findall(masked) == ["[电话x]", "[邮箱x]", "[订单x]", "[身份证号x]"]


def test_find_pii_reports_each_span_once_in_order() -> None:
    text = "订单 520401029636 电话 13812345678"
    assert find_pii(text) == ["520401029636", "13812345678"]


def test_mask_leaves_already_anonymised_jddc_text_alone(data_dir: Path) -> None:
    # JD anonymised this log; masking it again must change (almost) nothing and keep every
    # placeholder it already has.
    chat = data_dir / "jddc_sample" / "chat_0.1per.txt"
    lines = chat.read_text(encoding="utf-8").splitlines()[:3000]
    contents = [line.split("\t")[6] for line in lines]
    changed = [c for c in contents if mask(c) != c]
    assert len(changed) < 0.02 * len(contents), changed[:5]
    for c in contents:
        assert Counter(PLACEHOLDER_RE.findall(c)) <= Counter(PLACEHOLDER_RE.findall(mask(c)))
