"""Names and addresses: every form the mask must catch, the brand and region exceptions, and the
labelled corpus built from JDDC (reproducible from its seed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ecc_utils.privacy import find_pii, mask

NAMES = [
    ("我是陈晓明，订单怎么还没到", "我是[姓名x]，订单怎么还没到"),
    ("收货人 赵丽华 我 改 一下", "收货人 [姓名x] 我 改 一下"),  # spaced (ECD) text
    ("收货人赵丽华我改一下", "收货人[姓名x]我改一下"),
    ("我叫 周 建平", "我叫 [姓名x]"),  # a surname typed apart
    ("寄给欧阳娜娜", "寄给[姓名x]"),  # compound surname
    ("刘龙先生您好", "[姓名x]先生您好"),  # the title stays
    ("请问余建平经理在吗", "请问[姓名x]经理在吗"),
    ("您好王先生", "您好[姓名x]先生"),
    ("好的王秀英", "好的[姓名x]"),
    ("好的，高建国", "好的，[姓名x]"),  # an ambiguous surname, standing on its own
    ("[数字x] 姓张峰 谢谢您", "[数字x] 姓[姓名x] 谢谢您"),
    ("高敏 可以自己送过去吗", "[姓名x] 可以自己送过去吗"),
    ("麻烦让马健明天联系我", "麻烦让[姓名x]明天联系我"),  # inside running text
    ("我找一下刘俊辉的订单", "我找一下[姓名x]的订单"),
    ("麻烦转告高秀英一下", "麻烦转告[姓名x]一下"),  # ambiguous surname, two given characters
    ("收件人是廖 建国 谢谢", "收件人是[姓名x] 谢谢"),  # typed apart inside a sentence
    ("好的，龙 丹", "好的，[姓名x]"),
    ("欧阳 宇，我问问", "[姓名x]，我问问"),
    ("时 桂香", "[姓名x]"),  # 桂香 alone reads as a name too: the surname before it joins
    ("江雷坤", "[姓名x]"),  # a whole message that is one name
    ("那好吧 田东", "那好吧 [姓名x]"),  # signed at the end (田东 is also a county)
    ("好的呢  高丽", "好的呢  [姓名x]"),
    ("抬头需要改金建平小姐", "抬头需要改[姓名x]小姐"),  # ambiguous surname, three characters
    ("寄给刘秀华王秀英", "寄给[姓名x][姓名x]"),  # names one after another
    ("我如果张宁黄阳峰会籍还可以赠送吗", "我如果[姓名x][姓名x]会籍还可以赠送吗"),
    ("如果张小姐萧建国会籍还可以赠送吗", "如果[姓名x]小姐[姓名x]会籍还可以赠送吗"),
    # After a consignee or contact cue the whole name goes, whatever the dictionary says of it
    # (a well-known person, an everyday word, a numeral in the given name).
    ("收货人：李四光", "收货人：[姓名x]"),
    ("收件人孙中山，地址北京市朝阳区建国路88号", "收件人[姓名x]，地址[地址x]"),
    ("收件人孙中山地址北京", "收件人[姓名x]地址北京"),  # runs on: the analyser's name token
    ("姓名：周恩来 电话13812345678", "姓名：[姓名x] 电话[电话x]"),
    ("收件人：高兴", "收件人：[姓名x]"),
    ("收货人张三，电话13800000000", "收货人[姓名x]，电话[电话x]"),
    ("联系人:欧阳修", "联系人:[姓名x]"),
]
ADDRESSES = [
    ("寄到南京市鼓楼区中山北路32号", "寄到[地址x]"),
    ("放在阳光花园3栋1单元502门口", "放在[地址x]门口"),
    ("我家住幸福里小区5号楼", "我家住[地址x]"),
    ("浙江省杭州市西湖区文三路90号东部软件园2号楼3层", "[地址x]"),
    ("寄到 南京市 鼓楼区 中山北路 三十二号", "寄到 [地址x]"),  # spaced, Chinese numerals
    ("3号楼2单元1102室", "[地址x]"),
]
BOTH = [
    ("周建平 13700001111 成都市武侯区人民南路四段9号", "[姓名x] [电话x] [地址x]"),
    # A name at the start of a parcel label, before a phone number and an address: also with an
    # ambiguous surname (高, 方), a dictionary word (方军, 李鹏) or a surname typed apart.
    ("高军 13812345678 北京市朝阳区建国路88号", "[姓名x] [电话x] [地址x]"),
    ("方军，13912345678，上海市浦东新区张江路12号", "[姓名x]，[电话x]，[地址x]"),
    ("李 鹏 13812345678 北京市海淀区", "[姓名x] [电话x] 北京市海淀区"),
    ("江雷坤 13812345678 广东省深圳市南山区科技园", "[姓名x] [电话x] [地址x]"),
    ("方便 13812345678", "方便 [电话x]"),  # an everyday word before a number stays
    ("高兴 13812345678", "高兴 [电话x]"),  # no address after it: no parcel label
    ("收件人:李娟 地址:上海市浦东新区张江路88号", "收件人:[姓名x] 地址:[地址x]"),
    # At the head of a parcel label, a name the dictionary knows goes too.
    ("李四光 13812345678 北京市朝阳区建国路88号", "[姓名x] [电话x] [地址x]"),
    ("孙中山13812345678北京市海淀区中关村大街1号", "[姓名x][电话x][地址x]"),
    ("李 四光，13812345678，上海市浦东新区张江路12号", "[姓名x]，[电话x]，[地址x]"),
]
KEPT = [
    "发广州几天能到",  # a region alone: the teacher needs it
    "寄到南京市鼓楼区",
    "上海市浦东新区张江镇",
    "李宁的鞋子有货吗",  # brands named after a person
    "张小泉剪刀好用吗",
    "王老吉有没有整箱的",
    "方便的话明天送",
    "我是来退货的",
    "我是高兴的",
    "这位先生",
    "走高速路比较快",
    "京东商城的售后中心",
    "在路上了",
    "现在到郑州那里了?",
    "你有安装师傅的电话么?",  # jieba's dictionary tags 师傅, 顾客, 明白 as names
    "好的 明白",  # at the end of a message, but an everyday word
    "嗯  连着帮我看一下是哪个店的哦 金福来?",  # asked about at the end: a shop, not a signature
    "顾客通过点击web咚咚",
    "哦，明白了 谢谢",
    "买 多少 斤 包邮",
    "80 元整 吧",
    "你们 家 的 张张 连 抽",
    "茶针 和 茶 刀 用法 区别",
    "白茶多买有优惠么",  # products the analyser tags as names
    "想问一下牛肉干还有货吗",
    "扣费明细在哪看",  # a surname + given characters that cut a word
    "我买的都是儿童书",
    "师傅才上门安装是吧",
    "电子发票不齐全",  # 齐全 is tagged as a name, but too frequent to be one
    "包年云储存多少钱",
    "周年庆有优惠吗",
    "杨树苗多少钱",
    "黄金手链",
    # What follows a consignee cue without being a name.
    "收货人信息填错了",
    "修改下收件人和电话吗",
    "我把收货人电话搞错了怎么办",
    "收件人是我先生 可以联系到他",
    "订单收件人是我先生",
]


@pytest.mark.parametrize(("text", "expected"), NAMES + ADDRESSES + BOTH)
def test_names_and_addresses_are_masked(text: str, expected: str) -> None:
    assert mask(text) == expected
    assert find_pii(mask(text)) == []
    assert mask(mask(text)) == mask(text)


@pytest.mark.parametrize("text", KEPT)
def test_regions_brands_and_words_stay(text: str) -> None:
    assert mask(text) == text
    assert find_pii(text) == []


def test_find_pii_reports_the_name_and_the_address_in_order() -> None:
    assert find_pii("周建平 13700001111 成都市武侯区人民南路四段9号") == [
        "周建平", "13700001111", "成都市武侯区人民南路四段9号"]  # fmt: skip


@pytest.fixture(scope="module")
def jddc_turns(data_dir: Path) -> list[str]:
    from ecc_utils.data.jddc import read_jddc

    chat = read_jddc(data_dir / "jddc_sample" / "chat_0.1per.txt")
    return [t.text for s in chat.sessions for t in s.turns if t.speaker == "customer"]


def test_the_corpus_is_reproducible_from_its_seed_and_labels_every_insert(jddc_turns) -> None:
    from ecc_utils.privacy import corpus

    pos = corpus.positives(jddc_turns)
    assert len(pos) > 150 and all("[姓名x]" in t or "[地址x]" in t for t in pos)
    a, b = corpus.fill_turns(pos, seed=3, copies=2), corpus.fill_turns(pos, seed=3, copies=2)
    assert a == b and len(a) == 2 * len(pos)
    assert corpus.fill_turns(pos, seed=4) != corpus.fill_turns(pos, seed=3)
    for f in a:
        assert "[姓名x]" not in f.text and "[地址x]" not in f.text
        assert len(f.spans) == f.source.count("[姓名x]") + f.source.count("[地址x]")
        assert all(f.text[s:e].strip() for s, e, _ in f.spans)
    kinds = {k for f in a for _, _, k in f.spans}
    assert kinds == {"name", "address"}


def test_recall_and_over_masking_on_the_corpus(jddc_turns) -> None:
    from ecc_utils.privacy import corpus

    filled = corpus.fill_turns(corpus.positives(jddc_turns), seed=0)
    table, spans = corpus.evaluate(filled, {"JDDC": corpus.negatives(jddc_turns)[:500]})
    by = table.set_index("measure")
    assert by.loc["address recall", "value"] >= 0.95
    assert by.loc["name recall, placeholder not glued inside a sentence", "value"] >= 0.97
    assert by.loc["name recall", "value"] >= 0.95  # 0.994 at this seed; 0.906 before the
    # running-text and typed-apart rules
    assert by.loc["over-masking: characters of JDDC", "value"] <= 0.01
    assert (by["low"] <= by["value"]).all() and (by["value"] <= by["high"]).all()
    assert set(spans["kind"]) == {"name", "address"} and spans["masked"].dtype == bool


def test_name_recall_over_five_corpus_seeds(jddc_turns) -> None:
    """The data page's seed table: name recall averaged over corpus seeds 0-4 (three fillings a
    turn) at least 0.98 (0.980 now; 0.974 before the message-edge and listed-names rules), and
    the over-masking of the page's 2000 clean JDDC turns at most 0.09 % (0.086 % before and
    after those rules)."""
    from ecc_utils.privacy import corpus
    from ecc_utils.privacy.quality import N_CLEAN, recall_by_seed

    by_seed = recall_by_seed(corpus.positives(jddc_turns)).set_index("seed")
    assert list(by_seed.index) == ["0", "1", "2", "3", "4", "mean"]
    assert by_seed.loc["mean", "name recall"] >= 0.98
    assert by_seed.loc["mean", "address recall"] >= 0.95
    assert by_seed.loc["mean", "names"] == by_seed.drop(index="mean")["names"].sum()
    table, _ = corpus.evaluate([], {"JDDC": corpus.negatives(jddc_turns)[:N_CLEAN]})
    assert table.set_index("measure").loc["over-masking: characters of JDDC", "value"] <= 0.0009


def test_names_the_dictionary_knows_are_masked_where_the_context_leaves_no_doubt() -> None:
    """The data page's two context rows: well-known persons and everyday words (half each, 200
    names) after a consignee cue and at the head of a parcel label, masked whole at least 97 %
    of the time at corpus seed 0 (1.0 and 1.0 now; 0.31 and 0.585 before the context rules)."""
    from ecc_utils.privacy.quality import context_recall, dictionary_names

    names = dictionary_names(200, seed=0)
    assert len(set(names)) == 200 and names == dictionary_names(200, seed=0)
    assert any(len(n) == 3 for n in names) and any(len(n) == 2 for n in names)
    table = context_recall(seed=0).set_index("measure")
    assert list(table.index) == [
        "name recall, dictionary names after a consignee cue",
        "name recall, dictionary names heading a parcel label",
    ]
    assert (table["n"] == 200).all() and (table["value"] >= 0.97).all()
