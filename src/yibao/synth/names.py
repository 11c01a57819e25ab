"""Chinese personal names, resident id numbers (GB 11643) and institution names, vectorised."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# Common surnames with rough weights (national ranking, Guangdong favours 陈/李/黄/梁/林).
SURNAMES = ("陈 李 黄 张 梁 刘 林 王 吴 罗 杨 何 郑 谢 邓 曾 周 赵 徐 冯 朱 叶 胡 钟 蔡 潘 许 卢 彭 郭 温 邱 欧 廖 "
            "袁 刘 江 余 丘 黎 曹 严 谭 沈 苏 丁 方 伍 魏 邹 马 孙 高 何 韦 宋 范 龚 骆 官").split()
_SURNAME_W = np.array([30, 28, 24, 22, 14, 18, 14, 16, 12, 9, 10, 9, 8, 7, 7, 6, 7, 7, 6, 5, 5, 5, 5, 5, 4, 4, 4,
                       4, 4, 4, 3, 3, 2, 3, 3, 2, 2, 3, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 1, 2, 2, 2,
                       2, 1, 1], float)
MALE_CHARS = "伟强磊军勇杰涛斌超明刚平辉鹏华飞鑫波宇浩凯俊帆锋建志国文东海峰晨旭阳亮新家健伟荣森林昊宏庆耀"
FEMALE_CHARS = "芳娜敏静丽艳娟霞秀玲桂英燕丹萍红梅琳洁婷雪慧颖倩欣怡佳萱雅琪晶莉嘉妍蕾薇彤月美凤春兰"
_ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], np.int64)
_CHECK = np.array(list("10X98765432"), object)


def person_names(rng: np.random.Generator, sex: np.ndarray) -> pa.Array:
    """Surname + one or two given-name characters chosen by sex (1 male, 2 female)."""
    n = len(sex)
    sw = _SURNAME_W[: len(SURNAMES)]
    sur = np.array(SURNAMES, object)[rng.choice(len(SURNAMES), n, p=sw / sw.sum())]
    male = np.array(list(MALE_CHARS), object)
    female = np.array(list(FEMALE_CHARS), object)
    c1 = np.where(sex == 1, male[rng.integers(0, len(male), n)], female[rng.integers(0, len(female), n)])
    c2 = np.where(sex == 1, male[rng.integers(0, len(male), n)], female[rng.integers(0, len(female), n)])
    two = rng.random(n) < 0.8
    c2 = np.where(two, c2, "")
    return pc.binary_join_element_wise(pa.array(sur, pa.string()), pa.array(c1, pa.string()),
                                       pa.array(c2, pa.string()), "")


def id_numbers(rng: np.random.Generator, region: np.ndarray, birth_days: np.ndarray, sex: np.ndarray) -> pa.Array:
    """18-digit resident id numbers: region (6) + birth date (8) + sequence (3, odd for men) + ISO 7064 check.

    ``region``: int array of 6-digit codes; ``birth_days``: days since 1970-01-01. Unique within the call.
    """
    n = len(region)
    dates = birth_days.astype("datetime64[D]")
    y = dates.astype("datetime64[Y]").astype(np.int64) + 1970
    m = dates.astype("datetime64[M]").astype(np.int64) % 12 + 1
    d = (dates - dates.astype("datetime64[M]")).astype(np.int64) + 1
    ymd = y * 10000 + m * 100 + d
    seq = rng.integers(0, 500, n) * 2 + np.where(sex == 1, 1, 0)
    head = region.astype(np.int64) * 10**11 + ymd * 1000
    # make (region, birth date, sequence) unique: bump the sequence of duplicates by 2 until none is left
    for _ in range(50):
        full = head + seq
        order = np.argsort(full, kind="stable")
        dup = np.zeros(n, bool)
        dup[order[1:]] = full[order[1:]] == full[order[:-1]]
        if not dup.any():
            break
        seq[dup] = (seq[dup] + 2 * rng.integers(1, 50, int(dup.sum()))) % 1000
    body = head + seq  # 17 digits
    digits = np.empty((n, 17), np.int64)
    x = body.copy()
    for k in range(16, -1, -1):
        digits[:, k] = x % 10
        x //= 10
    check = _CHECK[(digits @ _ID_WEIGHTS) % 11]
    return pc.binary_join_element_wise(pc.cast(pa.array(body), pa.string()), pa.array(check, pa.string()), "")


def id_check_digit(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character of the first 17 digits (for tests and documentation)."""
    s = sum(int(c) * int(w) for c, w in zip(first17, _ID_WEIGHTS))
    return str(_CHECK[s % 11])


_CN_NUM = "一二三四五六七八九十"
_STREETS = ("新华", "风度", "东堤", "解放", "中山", "惠民", "工业", "沿江", "五里亭", "十里亭", "西河", "芙蓉", "马坝",
            "乌石", "白土", "大塘", "樟市", "枫湾", "乐城", "雄州", "黄岗", "坪石", "周田", "丹霞", "桂头", "龙仙",
            "官渡", "朝阳", "南门", "北江", "太平", "湖心", "长安", "青云", "文化", "翠园", "金沙", "东岗", "百旺")
_CHAINS = ("大参林", "老百姓大药房", "国大药房", "海王星辰", "益丰大药房", "康民大药房", "健民药店", "百姓缘药店")


def institution_names(rng: np.random.Generator, kind: list[str], category: list[str], specialty: list[str],
                      district: list[str], level: list[int], city: str) -> list[str]:
    """Real-sounding unique names, e.g. ``韶关市第一人民医院``, ``浈江区新华社区卫生服务中心``."""
    spec_name = {"ophthalmology": "眼科医院", "orthopedics": "骨科医院", "oncology": "肿瘤医院",
                 "psychiatry": "精神卫生中心", "urology": "泌尿专科医院", "": "专科医院"}
    used: set[str] = set()
    out = []
    for k, c, s, d, lv in zip(kind, category, specialty, district, level):
        place = city if (k == "hospital" and lv == 3) else d
        street = _STREETS[int(rng.integers(0, len(_STREETS)))]
        if k == "hospital":
            base = {"general": "人民医院", "tcm": "中医院", "maternal_child": "妇幼保健院",
                    "specialist": spec_name.get(s, "专科医院"), "other": "康复医院" if lv else "骨伤门诊部"}[c]
            if c == "general" and lv <= 1:
                base = f"{street}医院"
        elif k == "primary":
            base = {1: f"{street}社区卫生服务中心", 0: f"{street}社区卫生服务站"}[min(lv, 1)]
            if c == "tcm":
                base = f"{street}中医门诊部"
            elif c == "other":
                base = f"{street}诊所"
        else:
            chain = _CHAINS[int(rng.integers(0, len(_CHAINS)))]
            base = f"{chain}（{d}{street}店）"
            place = ""
        name = place + base
        i = 1
        while name in used:
            i += 1
            if k == "pharmacy":
                name = f"{chain}（{d}{street}{_CN_NUM[min(i, 10) - 1]}店）" if i <= 10 else f"{chain}（{d}{street}{i}店）"
            elif k == "hospital" and c == "general" and lv >= 2:
                name = f"{place}第{_CN_NUM[min(i, 10) - 1]}人民医院" if i <= 10 else f"{place}第{i}人民医院"
            else:
                name = f"{place}{base}（{_CN_NUM[min(i, 10) - 1]}）" if i <= 10 else f"{place}{base}（{i}）"
        used.add(name)
        out.append(name)
    return out
