"""Budget policy files (总额控制政策文件, TOML): read, check, and name every problem by its key.

Amounts are exact decimals (strings like ``"1000000000.00"`` or integers; a TOML float is taken
as written, e.g. ``0.03``). A value that is missing, negative, not a number, with more than two
decimals, or a rate out of range stops with one line naming the file and the key; nothing is
written. Defaults (rates only, never fund figures) come from ``defaults.toml`` beside this
module, each with its source.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from yibao.contract.reasons import FatalLoadError

DEFAULTS_FILE = Path(__file__).with_name("defaults.toml")
SCHEMES = ("employee", "resident")
SCHEME_ZH = {"employee": "职工", "resident": "城乡居民"}

# Deductions from contributions, in the order of Shaoguan 第五条 (employees) / 第六条 (residents).
DEDUCTIONS: tuple[tuple[str, str], ...] = (
    ("personal_account", "个人账户划拨支出"),
    ("outpatient_pooling", "普通门诊统筹支出"),
    ("out_of_area_realtime", "异地联网即时结算支出"),
    ("out_of_area_manual", "异地就医零星报销支出"),
    ("special_outpatient", "特殊病种门诊支出"),
    ("marriage_checkup", "婚检支出"),
    ("outpatient_special_items", "门诊特定项目支出"),
    ("bed_day", "按床日定额结算支出"),
    ("other_policy", "其他政策性统筹基金支出"),
)
AMOUNTS: dict[str, str] = {
    "contributions": "当年基金征收总额（不含一次性缴费收入）",
    **dict(DEDUCTIONS),
    "prior_year_total": "上年度付费总额",
    "booked_total": "当年医疗机构统筹基金记账总额",
    "current_surplus": "当年结余",
    "accumulated_surplus": "历年结余",
}
RATES: dict[str, tuple[str, Decimal]] = {  # key: (Chinese, upper bound)
    "risk_reserve_rate": ("风险调剂金比例", Decimal(1)),
    "floor_rate": ("保底比例（占上年度付费总额）", Decimal(10)),
    "ceiling_rate": ("封顶比例（占当年记账总额）", Decimal(10)),
}


class PolicyError(FatalLoadError):
    """A policy file problem: one line naming the file and the key."""


@dataclass(frozen=True)
class FundFigures:
    """One scheme's fund figures for the year (基金收支数据) and its rates."""

    scheme: str
    amounts: dict[str, Decimal]
    rates: dict[str, Decimal]
    sources: dict[str, str]  # key → where the value came from (policy file or default with its source)

    def __getitem__(self, key: str) -> Decimal:
        return self.amounts[key] if key in self.amounts else self.rates[key]


@dataclass(frozen=True)
class BudgetPolicy:
    path: Path
    year: int
    funds: dict[str, FundFigures]
    raw: dict


def _decimal(path: Path, key: str, value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise PolicyError(str(path), f"{key} 应为数字（写成字符串，例如 \"1000.00\"），实际为 {value!r}")
    text = repr(value) if isinstance(value, float) else str(value).strip()
    try:
        d = Decimal(text)
    except InvalidOperation:
        raise PolicyError(str(path), f"{key} 不是数字：{value!r}") from None
    if not d.is_finite():
        raise PolicyError(str(path), f"{key} 不是有限数字：{value!r}")
    return d


def _amount(path: Path, key: str, value: object) -> Decimal:
    d = _decimal(path, key, value)
    if d < 0:
        raise PolicyError(str(path), f"{key} 不能为负数：{value}")
    if d != d.quantize(Decimal("0.01")):
        raise PolicyError(str(path), f"{key} 金额小数超过两位：{value}")
    return d.quantize(Decimal("0.01"))


def _rate(path: Path, key: str, value: object, upper: Decimal) -> Decimal:
    d = _decimal(path, key, value)
    if d < 0 or d > upper:
        raise PolicyError(str(path), f"{key} 超出允许范围 0–{upper}：{value}")
    return d


def defaults() -> dict:
    with DEFAULTS_FILE.open("rb") as f:
        return tomllib.load(f)


def _default_sources() -> dict[str, str]:
    """Each default key's source comment, read from defaults.toml."""
    sources, comment = {}, []
    for line in DEFAULTS_FILE.read_text(encoding="utf-8").splitlines():
        s = line.strip()
        if s.startswith("#"):
            comment.append(s.lstrip("# "))
        elif "=" in s:
            sources[s.split("=", 1)[0].strip()] = "默认值：" + " ".join(comment)
            comment = []
        else:
            comment = []
    return sources


def load_policy(path: Path | str) -> BudgetPolicy:
    path = Path(path)
    try:
        with path.open("rb") as f:
            raw = tomllib.load(f)
    except FileNotFoundError:
        raise PolicyError(str(path), "政策文件不存在") from None
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(str(path), f"不是有效的 TOML：{exc}") from None
    except UnicodeDecodeError:
        raise PolicyError(str(path), "不是 UTF-8 编码的文本文件") from None
    year = raw.get("year")
    if isinstance(year, bool) or not isinstance(year, int) or not 1990 <= year <= 2100:
        raise PolicyError(str(path), f"year 应为年份整数（如 2025），实际为 {year!r}")
    fund = raw.get("fund")
    if not isinstance(fund, dict) or not any(s in fund for s in SCHEMES):
        raise PolicyError(str(path), "缺少 [fund.employee] 或 [fund.resident]（基金收支数据）")
    unknown = [k for k in fund if k not in SCHEMES]
    if unknown:
        raise PolicyError(str(path), f"[fund] 下的未知险种：{', '.join(unknown)}（应为 employee 或 resident）")
    default_rates, default_src = defaults()["fund"], _default_sources()
    funds = {}
    for scheme in SCHEMES:
        if scheme not in fund:
            continue
        table = fund[scheme]
        prefix = f"fund.{scheme}"
        if not isinstance(table, dict):
            raise PolicyError(str(path), f"[{prefix}] 应为表")
        known = set(AMOUNTS) | set(RATES)
        extra = [k for k in table if k not in known]
        if extra:
            raise PolicyError(str(path), f"[{prefix}] 未知的键：{', '.join(extra)}")
        amounts, sources = {}, {}
        for key, zh in AMOUNTS.items():
            if key not in table:
                if scheme == "resident" and key == "personal_account":
                    amounts[key] = Decimal("0.00")
                    sources[key] = "城乡居民无个人账户"
                    continue
                raise PolicyError(str(path), f"[{prefix}] 缺少 {key}（{zh}）")
            amounts[key] = _amount(path, f"{prefix}.{key}", table[key])
            sources[key] = f"{path.name} [{prefix}] {key}"
        if scheme == "resident" and amounts["personal_account"] != 0:
            raise PolicyError(str(path), f"{prefix}.personal_account 应为 0：城乡居民医保没有个人账户")
        rates = {}
        for key, (zh, upper) in RATES.items():
            if key in table:
                rates[key] = _rate(path, f"{prefix}.{key}", table[key], upper)
                sources[key] = f"{path.name} [{prefix}] {key}"
            else:
                rates[key] = _rate(DEFAULTS_FILE, f"fund.{key}", default_rates[key], upper)
                sources[key] = default_src.get(key, "默认值")
        funds[scheme] = FundFigures(scheme, amounts, rates, sources)
    return BudgetPolicy(path, year, funds, raw)
