"""The project's own small corpus in the ECD format, the offline fallback when no data is found.

Chinese customer-service dialogues, word-segmented with spaces like ECD, about greetings,
courier choice, discounts, bare product/order numbers, delivery complaints, "do you ship
today?" questions and address/phone changes, several turns each. Every context has one true
response and k false ones drawn from other dialogues (train and valid: 1 false, test: 9, as
in the ECD sample). The test file opens six contexts with the paper's Table VI inputs, so the
evaluation works on this corpus exactly as on the real one.

Generation is seeded and deterministic; the output for the default seed and size is
committed under ``data/synthetic/`` and a test regenerates it byte for byte. Regenerate with
``python -m ecc_utils.data.synthetic data/synthetic``. Numbers that look like phone or order
numbers are random and belong to no one.
"""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Callable
from pathlib import Path

from ecc_utils.paper import TABLE6_INPUTS

__all__ = [
    "DEFAULT_SEED",
    "DEFAULT_CONTEXTS",
    "TABLE_VI_TEXTS",
    "generate_corpus",
    "write_corpus",
]

DEFAULT_SEED = 0
DEFAULT_CONTEXTS = 200

# The six Table VI inputs as this corpus spells them (segmented, like the ECD test file): the
# first utterance that the data stage looks for; the bare number is the paper's own.
TABLE_VI_TEXTS: tuple[str, ...] = tuple(inp.texts[0] for inp in TABLE6_INPUTS)

PRODUCTS = ("核桃", "芒果 干", "湿巾", "抽纸", "白茶", "袜子", "榴莲 干", "牛肉 干", "坚果 礼盒")
COURIERS = ("韵达", "圆通", "中通", "申通", "邮政", "顺丰", "百世 汇通", "天天", "EMS")
CITIES = ("广州", "北京", "上海", "成都", "杭州", "南京", "武汉", "西安", "长沙")
UNITS = ("袋", "盒", "包", "罐")
ADDRESS = ("亲", "亲亲", "客官", "亲爱 哒")

Dialogue = list[str]


def _c(rng: random.Random, options: tuple[str, ...] | list[str]) -> str:
    return rng.choice(options)


def _number(rng: random.Random, n: int = 12) -> str:
    return str(rng.randint(1, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(n - 1))


def _greeting(rng: random.Random, first: str | None = None) -> Dialogue:
    p, a = _c(rng, PRODUCTS), _c(rng, ADDRESS)
    return [
        first or _c(rng, ("你好", "在 吗", "在 么", "亲 在 吗", "有人 吗")),
        _c(rng, ("您好", f"在 的 {a} 有 什么 可以 帮 您", f"{a} 在 的 呢", "您好 欢迎 光临")),
        f"想 问 一下 {p} 还有 货 吗",
        _c(rng, (f"有 货 的 {a} 可以 直接 拍 哦", f"{p} 现货 的 呢 拍 下 就 给 您 安排")),
        _c(rng, ("好 的 谢谢", "好 的 我 拍 了", "嗯 嗯 知道 了")),
        _c(rng, ("不 客气 的 呢", f"好 的 {a} 有 问题 随时 找 我 哦", "感谢 支持 哦")),
    ]


def _courier(rng: random.Random, first: str | None = None) -> Dialogue:
    c1, c2, c3 = rng.sample(COURIERS, 3)
    a = _c(rng, ADDRESS)
    return [
        first
        or _c(
            rng,
            (
                "发 什么 快递",
                f"可以 发 {c1} 吗",
                "可以 选 快递 吗",
                f"能 指定 {c1} 吗",
                f"我 不想 发 {c1} 能换 别的 么",
            ),
        ),
        _c(
            rng,
            (
                f"{a} 小店 默认 {c2} {c3} 哦",
                f"{c1} 不 合作 哦 {a} 默认 发 {c2}",
                f"可以 发 顺丰 给 {a} 补 差价 哦 其他 快递 停 了",
                f"不 指定 快递 哦 {c2} {c3} 随机 发",
            ),
        ),
        _c(rng, (f"{c2} 到 {_c(rng, CITIES)} 要 几 天", f"那 就 发 {c2} 吧", "顺丰 要 补 多少")),
        _c(rng, ("一般 3 到 5 天 哦", f"好 的 给 {a} 备注 了", f"补 {rng.randint(5, 15)} 元 哦")),
        _c(rng, ("好 的", "行 那 我 拍 了", "那 算了 还是 默认 吧")),
        _c(rng, (f"好 的 {a}", "嗯 嗯 拍 下 尽快 给 您 发出", "收到 呢")),
    ]


def _discount(rng: random.Random, first: str | None = None) -> Dialogue:
    p, u, a = _c(rng, PRODUCTS), _c(rng, UNITS), _c(rng, ADDRESS)
    n, price = rng.randint(2, 6), rng.randint(19, 139)
    return [
        first
        or _c(rng, ("可以 便宜 点 吗", "有 优惠 吗", "能 再 优惠 点 吗", f"{p} 多 买 有 优惠 么")),
        _c(
            rng,
            (
                f"{a} 已经 是 特价 了 呢",
                f"买 {n} {u} 可以 给 您 {price} 元 一 {u} 哦",
                f"店铺 首页 可以 领 {rng.choice((5, 10, 20))} 元 优惠券 哦",
            ),
        ),
        _c(rng, (f"{n} {u} 是不是 {price * n} 元", "老 客户 也 没有 优惠 吗", "有 优惠券 吗")),
        _c(rng, ("是 的 呢 拍 下 自动 减价 哦", f"{a} 都 是 现在 的 价格 了", "满 99 包邮 哦")),
        _c(rng, ("那 我 拍 了", "好 吧", "能 送 点 小 礼物 吗")),
        _c(rng, (f"好 的 {a} 给 您 备注 送 小 样", "谢谢 支持 哦", "好 的 呢")),
    ]


def _bare_number(rng: random.Random, first: str | None = None) -> Dialogue:
    p, a = _c(rng, PRODUCTS), _c(rng, ADDRESS)
    return [
        first or _number(rng),
        _c(rng, ("您好", f"在 的 {a}", f"{a} 这 款 是 {p} 哦")),
        _c(rng, ("这个 有 货 吗", f"这个 是 {p} 吗", "这个 什么 时候 能 发")),
        _c(rng, (f"有 的 {a}", "是 的 哦", "48 小时 内 发出 哦")),
        _c(rng, ("好 的", f"{_number(rng)} 这个 呢", "那 给 我 来 两 份")),
        _c(rng, ("也 有 货 的 呢", f"好 的 {a}", "拍 下 给 您 改价 哦")),
    ]


def _complaint(rng: random.Random, first: str | None = None) -> Dialogue:
    a, d = _c(rng, ADDRESS), rng.randint(3, 8)
    return [
        first
        or _c(
            rng,
            (
                "快递 怎么 还 没到",
                f"都 {d} 天 了 还 没 收到",
                "物流 好 几 天 没 更新 了",
                "我 的 快递 到 哪里 了",
            ),
        ),
        _c(rng, (f"抱歉 呢 {a} 帮 您 催 一下 哦", "我 帮 您 查 下 物流 哦 稍 等", "真是 不好意思")),
        _c(rng, ("今天 能 到 吗", "我 明天 就 出差 了", "快递 电话 也 打 不通")),
        _c(rng, ("已经 帮 您 联系 快递 了 今天 会 派送 哦", f"{a} 放心 今明 两天 一定 到")),
        _c(rng, ("下次 别 发 这个 快递 了", "好 吧 再 等等", "到 不了 就 退款")),
        _c(rng, (f"好 的 {a} 给 您 备注 了", "给 您 添 麻烦 了 实在 抱歉", "好 的 呢")),
    ]


def _ship_today(rng: random.Random, first: str | None = None) -> Dialogue:
    a, h, city = _c(rng, ADDRESS), rng.choice((15, 16, 17)), _c(rng, CITIES)
    n = rng.randint(2, 4)
    return [
        first or _c(rng, ("今天 拍 今天 发 吗", "今天 能 发货 吗", "什么 时候 发货", "今天 发 吗")),
        _c(
            rng,
            (
                f"{a} 今天 {h} 点前 付款 是 当天 发货 的 哦 {h} 点后 次日 发货",
                f"会 按照 付款 时间 陆续 发出 哦 {a}",
                f"可以 的 {a} 早 拍 早 发货 哦",
            ),
        ),
        f"几 天 能 到 {city}",
        _c(rng, (f"一般 {n} 到 {n + 1} 天 哦", f"到 {city} 大概 {n} 天 呢")),
        _c(rng, ("好 的", "能 快 点 吗", "那 我 现在 拍")),
        _c(rng, (f"好 的 {a}", "尽量 给 您 早点 发 哦", "嗯 嗯")),
    ]


def _address_change(rng: random.Random, first: str | None = None) -> Dialogue:
    a, city = _c(rng, ADDRESS), _c(rng, CITIES)
    phone = "1" + rng.choice("3456789") + _number(rng, 9)
    spaced = f"{phone[:3]} {phone[3:7]} {phone[7:]}"
    return [
        first or _c(rng, ("地址 写错 了 能 改 吗", "能 帮 我 改 下 收货 地址 吗")),
        _c(rng, (f"可以 的 {a} 新 地址 发 一下 哦", f"还 没 发货 可以 改 的 {a}")),
        f"改成 {city} 的 地址 电话 {_c(rng, (phone, spaced))}",
        _c(rng, (f"好 的 {a} 已经 帮 您 改好 了", "收到 已 修改 请 核对 一下 哦")),
        _c(rng, ("好 的 谢谢", "对 的", "麻烦 了")),
        _c(rng, ("不 客气 的 呢", f"没事儿 的 {a}", "应该 的 哦")),
    ]


TOPICS: tuple[Callable[..., Dialogue], ...] = (
    _greeting,
    _courier,
    _discount,
    _bare_number,
    _complaint,
    _ship_today,
    _address_change,
)
# The topic of each Table VI input, in TABLE_VI_TEXTS order.
_TABLE_VI_TOPICS = (_greeting, _courier, _bare_number, _discount, _complaint, _ship_today)


def _context(rng: random.Random, dialogue: Dialogue, cut: int | None = None) -> tuple[list, str]:
    """Cut a dialogue after a customer utterance: (context utterances, true response)."""
    if cut is None:
        cut = rng.randrange(0, len(dialogue) // 2) * 2
    return dialogue[: cut + 1], dialogue[cut + 1]


def _lines(
    rng: random.Random, contexts: list[tuple[list, str]], n_false: int, pool: list[str]
) -> list[str]:
    lines = []
    for utts, true in contexts:
        if len(set(pool) - {true}) < n_false:
            raise ValueError(
                f"only {len(pool)} distinct agent utterances for {n_false} false responses"
            )
        lines.append("\t".join(["1", *utts, true]))
        falses: list[str] = []
        while len(falses) < n_false:
            r = rng.choice(pool)
            if r != true and r not in falses:
                falses.append(r)
        lines += ["\t".join(["0", *utts, f]) for f in falses]
    return lines


def generate_corpus(seed: int = DEFAULT_SEED, n_contexts: int = DEFAULT_CONTEXTS) -> dict[str, str]:
    """Return the texts of the ``train``, ``valid`` and ``test`` files (ECD format).

    train holds ``n_contexts`` contexts (1 true + 1 false response), valid a quarter of that,
    test ``max(20, n_contexts // 4)`` contexts (1 true + 9 false), the first six opening with
    the Table VI inputs. The same arguments always give the same bytes.
    """
    if n_contexts < 1:
        raise ValueError(f"n_contexts={n_contexts} must be at least 1 (data.synthetic_contexts)")
    rng = random.Random(seed)

    def dialogues(n: int) -> list[Dialogue]:
        return [rng.choice(TOPICS)(rng) for _ in range(n)]

    n_valid, n_test = max(1, n_contexts // 4), max(20, n_contexts // 4)
    train_d, valid_d = dialogues(n_contexts), dialogues(n_valid)
    test_d = [
        topic(rng, first) for topic, first in zip(_TABLE_VI_TOPICS, TABLE_VI_TEXTS, strict=True)
    ]
    test_d += dialogues(n_test - len(test_d))
    # Agent utterances (odd positions) of each split are that split's false-response pool.
    pools = [sorted({u for d in ds for u in d[1::2]}) for ds in (train_d, valid_d, test_d)]
    train_c = [_context(rng, d) for d in train_d]
    valid_c = [_context(rng, d) for d in valid_d]
    # Table VI items are the opening utterance, answered by the next agent turn.
    test_c = [_context(rng, d, 0) for d in test_d[:6]] + [_context(rng, d) for d in test_d[6:]]
    return {
        "train": "\n".join(_lines(rng, train_c, 1, pools[0])) + "\n",
        "valid": "\n".join(_lines(rng, valid_c, 1, pools[1])) + "\n",
        "test": "\n".join(_lines(rng, test_c, 9, pools[2])) + "\n",
    }


def write_corpus(
    out_dir: str | os.PathLike, seed: int = DEFAULT_SEED, n_contexts: int = DEFAULT_CONTEXTS
) -> Path:
    """Write `generate_corpus` as ``out_dir/{train,valid,test}`` (UTF-8, LF) and return it."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, text in generate_corpus(seed, n_contexts).items():
        (out / name).write_bytes(text.encode("utf-8"))
    return out


if __name__ == "__main__":
    target = sys.argv[1] if len(sys.argv) > 1 else "data/synthetic"
    print(f"wrote {write_corpus(target)}")
