"""Budget policy files (总额控制政策文件, TOML): read, check, and name every problem by its key.

Amounts are exact decimals (strings like ``"1000000000.00"`` or integers; a TOML float is taken
as written, e.g. ``0.03``). A value that is missing, negative, not a number, with more than two
decimals, or a rate out of range stops with one line naming the file and the key; nothing is
written. Defaults (rates only, never fund figures) come from ``defaults.toml`` beside this
module, each with its source.

Besides ``[fund.*]`` (the regional total, :mod:`yibao.budget.totals`), the optional sections
``[split]``, ``[cycle]`` and ``[clearing]`` hold the parameters of the split, the monthly cycle
and the year-end clearing (:func:`year_policy`; every key in ``docs/budget-policy.md``).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path

from yibao.contract.reasons import FatalLoadError
from yibao.settle.bands import DepositBand, OverBand

DEFAULTS_FILE = Path(__file__).with_name("defaults.toml")
SCHEMES = ("employee", "resident")

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
    sections: YearPolicy | None = None  # [split], [cycle], [clearing] over the defaults


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
    policy = BudgetPolicy(path, year, funds, raw)
    return replace(policy, sections=year_policy(policy))  # a bad [split]/[cycle]/[clearing] stops here too


# =============================================================================================
# Splitting, the monthly cycle and the year-end clearing: [split], [cycle], [clearing]
# (every key optional; defaults from defaults.toml with their source; see docs/budget-policy.md)
# =============================================================================================

KINDS = ("hospital", "primary", "pharmacy")
LEVELS = ("3", "2", "1", "0")
CATEGORIES = ("general", "tcm", "specialist", "maternal_child", "other")
SETTINGS = ("inpatient", "outpatient")
GROUP_COLUMNS = ("kind", "level", "category")


@dataclass(frozen=True)
class Adjustment:
    """A negotiated transfer (协商调整) inside one pot, recorded with its note."""

    index: int  # 1-based position in [[split.adjustments]]
    pot: str  # "employee.inpatient"
    amount: Decimal
    from_group: str | None = None
    to_group: str | None = None
    from_institution: str | None = None
    to_institution: str | None = None
    note: str = ""

    @property
    def key(self) -> str:
        return f"split.adjustments[{self.index}]"


@dataclass(frozen=True)
class SplitPolicy:
    kinds: tuple[str, ...]
    history_weights: tuple[Decimal, Decimal, Decimal]  # budget year −3, −2, −1
    basis: dict[str, Decimal]  # fund_paid / visits / persons
    groups: bool
    group_by: tuple[str, ...]
    primary_floor: dict[str, Decimal]  # setting → share
    level_factor: dict[str, Decimal]
    category_factor: dict[str, Decimal]
    adjustments: tuple[Adjustment, ...]


@dataclass(frozen=True)
class CyclePolicy:
    deposit_rate: Decimal
    clearing_rate: Decimal
    seasonality: str
    monthly_cap: str
    turnover_rate: Decimal
    turnover_recovery_month: int
    midyear_month: int
    midyear_threshold: Decimal


@dataclass(frozen=True)
class ClearingPolicy:
    saving_keep_rate: Decimal
    saving_keep_cap: Decimal
    band_mode: str
    compensation_growth_threshold: Decimal
    compensation_rate: Decimal
    compensation_cap: str
    default_score: Decimal
    over_bands: tuple[OverBand, ...]
    deposit_return: tuple[DepositBand, ...]
    scores: dict[str, Decimal]


@dataclass(frozen=True)
class YearPolicy:
    """[split], [cycle] and [clearing] of a policy file, merged over the defaults."""

    split: SplitPolicy
    cycle: CyclePolicy
    clearing: ClearingPolicy
    sources: dict[str, str]  # dotted key → where its value came from


def section_sources() -> dict[str, str]:
    """Source comment of every default under [split], [cycle], [clearing], keyed by dotted key.

    A comment above ``[[name]]`` names the source of the whole array ``name``.
    """
    sources: dict[str, str] = {}
    comment: list[str] = []
    section = ""

    def text() -> str:
        return "默认值：" + " ".join(comment)

    for line in DEFAULTS_FILE.read_text(encoding="utf-8").splitlines():
        s = line.strip()
        if s.startswith("#"):
            comment.append(s.lstrip("# "))
        elif s.startswith("[[") and s.endswith("]]"):
            section = s[2:-2].strip()
            if comment:
                sources[section] = text()
            comment = []
        elif s.startswith("[") and s.endswith("]"):
            section = s[1:-1].strip()
            comment = []
        elif "=" in s:
            key = s.split("=", 1)[0].strip().strip('"')
            if comment and section.split(".")[0] in ("split", "cycle", "clearing"):
                sources[f"{section}.{key}"] = text()
            comment = []
        else:
            comment = []
    sources.setdefault("split.adjustments", "未录入协商调整")
    return sources


class _Reader:
    """Reads one section of the policy file over its defaults, naming the dotted key on error."""

    def __init__(self, path: Path, raw: dict, name: str, sources: dict[str, str], known: set[str]) -> None:
        self.path, self.name, self.sources = path, name, sources
        user = raw.get(name, {})
        if not isinstance(user, dict):
            raise PolicyError(str(path), f"{name} 应为表（[{name}]）")
        extra = sorted(k for k in user if k not in known)
        if extra:
            raise PolicyError(str(path), f"[{name}] 未知的键：{', '.join(extra)}")
        self.user = user
        self.default = defaults()[name]
        self.default_src = section_sources()

    def value(self, key: str) -> tuple[object, Path]:
        dotted = f"{self.name}.{key}"
        if key in self.user:
            self.sources[dotted] = f"{self.path.name} [{self.name}] {key}"
            return self.user[key], self.path
        self.sources[dotted] = self.default_src.get(dotted, "默认值")
        return self.default[key], DEFAULTS_FILE

    def rate(self, key: str, upper: Decimal = Decimal(1)) -> Decimal:
        v, src = self.value(key)
        return _rate(src, f"{self.name}.{key}", v, upper)

    def choice(self, key: str, options: tuple[str, ...]) -> str:
        v, src = self.value(key)
        if v not in options:
            raise PolicyError(str(src), f"{self.name}.{key} 应为 {' / '.join(options)} 之一，实际为 {v!r}")
        return v

    def integer(self, key: str, lo: int, hi: int) -> int:
        v, src = self.value(key)
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise PolicyError(str(src), f"{self.name}.{key} 应为 {lo}–{hi} 的整数，实际为 {v!r}")
        return v

    def boolean(self, key: str) -> bool:
        v, src = self.value(key)
        if not isinstance(v, bool):
            raise PolicyError(str(src), f"{self.name}.{key} 应为 true 或 false，实际为 {v!r}")
        return v

    def names(self, key: str, options: tuple[str, ...]) -> tuple[str, ...]:
        v, src = self.value(key)
        if not isinstance(v, list) or not v or any(x not in options for x in v) or len(set(v)) != len(v):
            raise PolicyError(str(src), f"{self.name}.{key} 应为 {list(options)} 中不重复的若干项，实际为 {v!r}")
        return tuple(v)

    def table(self, key: str, keys: tuple[str, ...], upper: Decimal) -> dict[str, Decimal]:
        """A sub-table of rates: the policy's entries over the defaults', key by key."""
        dotted = f"{self.name}.{key}"
        user = self.user.get(key, {})
        if not isinstance(user, dict):
            raise PolicyError(str(self.path), f"{dotted} 应为表（[{dotted}]）")
        extra = sorted(k for k in user if k not in keys)
        if extra:
            raise PolicyError(str(self.path), f"[{dotted}] 未知的键：{', '.join(extra)}（可选：{', '.join(keys)}）")
        out = {}
        for k in keys:
            if k in user:
                out[k] = _rate(self.path, f"{dotted}.{k}", user[k], upper)
                self.sources[f"{dotted}.{k}"] = f"{self.path.name} [{dotted}] {k}"
            else:
                out[k] = _rate(DEFAULTS_FILE, f"{dotted}.{k}", self.default[key][k], upper)
                self.sources[f"{dotted}.{k}"] = self.default_src.get(f"{dotted}.{k}", "默认值")
        return out

    def array(self, key: str) -> tuple[list[dict], Path]:
        """An array of tables: the policy's replaces the default's as a whole."""
        dotted = f"{self.name}.{key}"
        if key in self.user:
            v, src = self.user[key], self.path
            self.sources[dotted] = f"{self.path.name} [[{dotted}]]"
        else:
            v, src = self.default.get(key, []), DEFAULTS_FILE
            self.sources[dotted] = self.default_src.get(dotted, "默认值")
        if not isinstance(v, list) or any(not isinstance(x, dict) for x in v):
            raise PolicyError(str(src), f"{dotted} 应写成 [[{dotted}]] 表数组")
        return v, src


def _entry_keys(src: Path, dotted: str, entry: dict, required: tuple[str, ...], optional: tuple[str, ...]) -> None:
    for k in required:
        if k not in entry:
            raise PolicyError(str(src), f"{dotted} 缺少 {k}")
    extra = sorted(k for k in entry if k not in required + optional)
    if extra:
        raise PolicyError(str(src), f"{dotted} 未知的键：{', '.join(extra)}")


def _text(src: Path, dotted: str, v: object) -> str:
    if not isinstance(v, str) or not v.strip():
        raise PolicyError(str(src), f"{dotted} 应为非空文本，实际为 {v!r}")
    return v.strip()


def _split(path: Path, raw: dict, sources: dict[str, str]) -> SplitPolicy:
    r = _Reader(path, raw, "split", sources, {
        "kinds", "history_weights", "basis_fund_paid", "basis_visits", "basis_persons", "groups", "group_by",
        "primary_floor", "level_factor", "category_factor", "adjustments"})
    kinds = r.names("kinds", KINDS)
    hw, src = r.value("history_weights")
    if not isinstance(hw, list) or len(hw) != 3:
        raise PolicyError(str(src), f"split.history_weights 应为三个权重（预算年前第3、2、1年），实际为 {hw!r}")
    weights = tuple(_rate(src, f"split.history_weights[{i + 1}]", w, Decimal(1000)) for i, w in enumerate(hw))
    if not any(weights):
        raise PolicyError(str(src), "split.history_weights 不能全为 0")
    basis = {b: r.rate(f"basis_{b}") for b in ("fund_paid", "visits", "persons")}
    if sum(basis.values()) != 1:
        raise PolicyError(str(path), "split.basis_fund_paid + basis_visits + basis_persons 之和应为 1，"
                                     f"实际为 {sum(basis.values())}")
    groups = r.boolean("groups")
    group_by = r.names("group_by", GROUP_COLUMNS)
    floor = r.table("primary_floor", SETTINGS, Decimal(1))
    level = r.table("level_factor", LEVELS, Decimal(100))
    category = r.table("category_factor", CATEGORIES, Decimal(100))
    entries, src = r.array("adjustments")
    pots = {f"{s}.{t}" for s in SCHEMES for t in SETTINGS}
    adjustments = []
    for i, e in enumerate(entries, 1):
        dotted = f"split.adjustments[{i}]"
        _entry_keys(src, dotted, e, ("pot", "amount", "note"),
                    ("from_group", "to_group", "from_institution", "to_institution"))
        pot = e["pot"]
        if pot not in pots:
            raise PolicyError(str(src), f"{dotted}.pot 应为 {' / '.join(sorted(pots))} 之一，实际为 {pot!r}")
        amount = _amount(src, f"{dotted}.amount", e["amount"])
        pair_g = ("from_group" in e, "to_group" in e)
        pair_i = ("from_institution" in e, "to_institution" in e)
        if not ((all(pair_g) and not any(pair_i)) or (all(pair_i) and not any(pair_g))):
            raise PolicyError(str(src), f"{dotted} 应写 from_group 与 to_group，或 from_institution 与 to_institution（二选一）")
        if all(pair_g) and not groups:
            raise PolicyError(str(src), f"{dotted}.from_group 需要 split.groups = true")
        names = {k: _text(src, f"{dotted}.{k}", e[k]) for k in
                 ("from_group", "to_group", "from_institution", "to_institution") if k in e}
        adjustments.append(Adjustment(i, pot, amount, note=_text(src, f"{dotted}.note", e["note"]), **names))
    return SplitPolicy(kinds, weights, basis, groups, group_by, floor, level, category, tuple(adjustments))


def _cycle(path: Path, raw: dict, sources: dict[str, str]) -> CyclePolicy:
    r = _Reader(path, raw, "cycle", sources, {
        "deposit_rate", "clearing_rate", "seasonality", "monthly_cap", "turnover_rate", "turnover_recovery_month",
        "midyear_month", "midyear_threshold"})
    deposit, reserve = r.rate("deposit_rate"), r.rate("clearing_rate")
    if deposit + reserve > 1:
        raise PolicyError(str(path), f"cycle.deposit_rate + cycle.clearing_rate 超过 1：{deposit + reserve}")
    return CyclePolicy(
        deposit, reserve, r.choice("seasonality", ("flat", "last_year")), r.choice("monthly_cap", ("monthly", "cumulative")),
        r.rate("turnover_rate"), r.integer("turnover_recovery_month", 0, 12), r.integer("midyear_month", 0, 11),
        r.rate("midyear_threshold", Decimal(10)))


def _clearing(path: Path, raw: dict, sources: dict[str, str]) -> ClearingPolicy:
    r = _Reader(path, raw, "clearing", sources, {
        "saving_keep_rate", "saving_keep_cap", "band_mode", "compensation_growth_threshold", "compensation_rate",
        "compensation_cap", "default_score", "over_bands", "deposit_return", "scores"})
    entries, src = r.array("over_bands")
    if not entries:
        raise PolicyError(str(src), "clearing.over_bands 至少要有一档")
    bands = []
    for i, e in enumerate(entries, 1):
        dotted = f"clearing.over_bands[{i}]"
        _entry_keys(src, dotted, e, ("fund_share",), ("upto",))
        last = i == len(entries)
        if ("upto" in e) == last:
            raise PolicyError(str(src), f"{dotted}.upto " + ("最后一档不写 upto（不封顶）" if last else "缺少（只有最后一档不写）"))
        upto = None if last else _rate(src, f"{dotted}.upto", e["upto"], Decimal(100))
        if upto is not None and bands and upto <= bands[-1].upto:
            raise PolicyError(str(src), f"{dotted}.upto 应大于上一档的 {bands[-1].upto}")
        bands.append(OverBand(upto, _rate(src, f"{dotted}.fund_share", e["fund_share"], Decimal(1))))
    entries, src = r.array("deposit_return")
    deposit = []
    for i, e in enumerate(entries, 1):
        dotted = f"clearing.deposit_return[{i}]"
        _entry_keys(src, dotted, e, ("min_score", "share"), ())
        ms = _rate(src, f"{dotted}.min_score", e["min_score"], Decimal(100))
        if deposit and ms >= deposit[-1].min_score:
            raise PolicyError(str(src), f"{dotted}.min_score 应从高到低排列（小于上一档的 {deposit[-1].min_score}）")
        deposit.append(DepositBand(ms, _rate(src, f"{dotted}.share", e["share"], Decimal(1))))
    if not deposit or deposit[-1].min_score != 0:
        raise PolicyError(str(src), "clearing.deposit_return 最后一档的 min_score 应为 0（覆盖所有得分）")
    user_scores = r.user.get("scores", {})
    if not isinstance(user_scores, dict):
        raise PolicyError(str(path), "clearing.scores 应为表（[clearing.scores]，机构编码 = 得分）")
    scores = {str(k): _rate(path, f"clearing.scores.{k}", v, Decimal(100)) for k, v in user_scores.items()}
    sources["clearing.scores"] = f"{path.name} [clearing.scores]" if scores else "未给出考核得分，一律按 default_score"
    return ClearingPolicy(
        r.rate("saving_keep_rate"), r.rate("saving_keep_cap"), r.choice("band_mode", ("marginal", "whole")),
        r.rate("compensation_growth_threshold", Decimal(10)), r.rate("compensation_rate"),
        r.choice("compensation_cap", ("pot_balance", "none")), r.rate("default_score", Decimal(100)),
        tuple(bands), tuple(deposit), scores)


def year_policy(policy: BudgetPolicy) -> YearPolicy:
    """The [split], [cycle] and [clearing] sections of ``policy`` (a bad key: one-line PolicyError)."""
    sources: dict[str, str] = {}
    raw = policy.raw
    return YearPolicy(_split(policy.path, raw, sources), _cycle(policy.path, raw, sources),
                      _clearing(policy.path, raw, sources), sources)
