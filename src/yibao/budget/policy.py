"""Budget policy files (总额控制政策文件, TOML): read, check, and name every problem by its key.

Amounts are exact decimals (strings like ``"1000000000.00"`` or integers; a TOML float is taken
as written, e.g. ``0.03``). A value that is missing, negative, not a number, with more than two
decimals, or a rate out of range is a problem naming the file and the key; every problem of the file
is reported at once, in one line, and nothing is written.

The fund figures (``year``, ``[fund.employee]`` / ``[fund.resident]``) are the region's data, read here.
Every parameter with a default — the rates of ``[fund.*]`` and the optional sections ``[split]``,
``[cycle]`` and ``[clearing]`` (the split, the monthly cycle and the year-end clearing) — is declared
once in :data:`yibao.budget.params.BUDGET_PARAMS`, which the generated ``defaults.toml`` and the table of
``docs/budget-policy.md`` come from; :func:`load_policy` checks them through it (one loader:
:meth:`yibao.contract.params.ParamTable.load`) and records where every value came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from yibao.budget.params import (
    BUDGET_PARAMS,
    CATEGORIES,
    FUND_RATES,
    GROUP_COLUMNS,
    KINDS,
    LEVELS,
    SETTINGS,
    parse_decimal,
    parse_rate,
)
from yibao.contract.params import Param, PolicyFileError, Values, problems_message
from yibao.contract.policyfile import read_toml
from yibao.settle.bands import DepositBand, OverBand

__all__ = [
    "DEFAULTS_FILE", "SCHEMES", "SETTINGS", "KINDS", "LEVELS", "CATEGORIES", "GROUP_COLUMNS", "DEDUCTIONS", "AMOUNTS",
    "RATES", "PolicyError", "FundFigures", "BudgetPolicy", "Adjustment", "SplitPolicy", "CyclePolicy",
    "ClearingPolicy", "YearPolicy", "DepositBand", "OverBand", "load_policy", "year_policy", "section_sources",
]

DEFAULTS_FILE = Path(__file__).with_name("defaults.toml")  # generated: BUDGET_PARAMS.defaults_toml()
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
RATES: dict[str, tuple[str, Decimal]] = FUND_RATES  # key: (Chinese, upper bound), declared in budget.params


class PolicyError(PolicyFileError):
    """A budget policy file with problems: one line naming the file and every problem (a :class:`BadPolicy`)."""


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
    saving_by_score: str = "deposit_share"


@dataclass(frozen=True)
class YearPolicy:
    """[split], [cycle] and [clearing] of a policy file, merged over the defaults."""

    split: SplitPolicy
    cycle: CyclePolicy
    clearing: ClearingPolicy
    sources: dict[str, str]  # dotted key → where its value came from


# --- reading ---------------------------------------------------------------------------------------

_SECTIONS = ("split", "cycle", "clearing")
_SECTION_KEYS = {name: {p.path[1] for p in BUDGET_PARAMS.params if p.path[0] == name} for name in _SECTIONS}


def _default_source(p: Param) -> str:
    return "默认值：" + p.source


def section_sources() -> dict[str, str]:
    """The source of every default under [split], [cycle], [clearing] (a map's entries key by key), from the
    declarations of :data:`~yibao.budget.params.BUDGET_PARAMS`."""
    out: dict[str, str] = {}
    for p in BUDGET_PARAMS.params:
        if p.path[0] not in _SECTIONS:
            continue
        if p.kind.is_map:
            for k in p.default:
                out[f"{p.key}.{k}"] = _default_source(p)
        out[p.key] = _default_source(p)
    return out


def _amount(key: str, value: object) -> tuple[Decimal | None, str | None]:
    d, probs = parse_decimal(key, value)
    if probs:
        return None, probs[0]
    if d < 0:
        return None, f"{key} 不能为负数：{value}"
    if d != d.quantize(Decimal("0.01")):
        return None, f"{key} 金额小数超过两位：{value}"
    return d.quantize(Decimal("0.01")), None


def _funds(path: Path, raw: dict, defaults: Values, problems: list[str]) -> dict[str, FundFigures]:
    """[fund.employee] / [fund.resident]: the figures (required) and the rates (default: BUDGET_PARAMS)."""
    fund = raw.get("fund")
    if not isinstance(fund, dict) or not any(s in fund for s in SCHEMES):
        problems.append("缺少 [fund.employee] 或 [fund.resident]（基金收支数据）")
        return {}
    unknown = [k for k in fund if k not in SCHEMES]
    if unknown:
        problems.append(f"[fund] 下的未知险种：{', '.join(unknown)}（应为 employee 或 resident）")
    funds = {}
    for scheme in (s for s in SCHEMES if s in fund):
        table, prefix = fund[scheme], f"fund.{scheme}"
        if not isinstance(table, dict):
            problems.append(f"[{prefix}] 应为表")
            continue
        extra = [k for k in table if k not in AMOUNTS and k not in RATES]
        if extra:
            problems.append(f"[{prefix}] 未知的键：{', '.join(extra)}")
        amounts, sources, ok = {}, {}, not extra
        for key, zh in AMOUNTS.items():
            if key not in table:
                if scheme == "resident" and key == "personal_account":
                    amounts[key], sources[key] = Decimal("0.00"), "城乡居民无个人账户"
                    continue
                problems.append(f"[{prefix}] 缺少 {key}（{zh}）")
                ok = False
                continue
            d, problem = _amount(f"{prefix}.{key}", table[key])
            if problem:
                problems.append(problem)
                ok = False
                continue
            amounts[key], sources[key] = d, f"{path.name} [{prefix}] {key}"
        if scheme == "resident" and amounts.get("personal_account", 0) != 0:
            problems.append(f"{prefix}.personal_account 应为 0：城乡居民医保没有个人账户")
            ok = False
        rates = {}
        for key, (_, upper) in RATES.items():
            if key in table:
                d, probs = parse_rate(f"{prefix}.{key}", table[key], upper)
                if probs:
                    problems += probs
                    ok = False
                    continue
                rates[key], sources[key] = d, f"{path.name} [{prefix}] {key}"
            else:
                p = BUDGET_PARAMS.by_key[f"fund.{key}"]
                rates[key], sources[key] = defaults[p.key], _default_source(p)
        if ok:
            funds[scheme] = FundFigures(scheme, amounts, rates, sources)
    return funds


def load_policy(path: Path | str) -> BudgetPolicy:
    """Read and check a budget policy file: every problem at once in one :class:`PolicyError`."""
    path = Path(path)
    raw = read_toml(path, PolicyError)
    problems: list[str] = []
    year = raw.get("year")
    if isinstance(year, bool) or not isinstance(year, int) or not 1990 <= year <= 2100:
        problems.append(f"year 应为年份整数（如 2025），实际为 {year!r}")
    funds = _funds(path, raw, BUDGET_PARAMS.defaults(), problems)
    sections = _year_policy(path, raw, problems)
    if problems:
        raise PolicyError(str(path), problems_message(problems), problems)
    return BudgetPolicy(path, year, funds, raw, sections)


def year_policy(policy: BudgetPolicy) -> YearPolicy:
    """The [split], [cycle] and [clearing] sections of ``policy`` (problems: one-line PolicyError)."""
    problems: list[str] = []
    sec = _year_policy(policy.path, policy.raw, problems)
    if problems:
        raise PolicyError(str(policy.path), problems_message(problems), problems)
    return sec


def _year_policy(path: Path, raw: dict, problems: list[str]) -> YearPolicy | None:
    """Check [split], [cycle], [clearing] through BUDGET_PARAMS (values and cross-checks), then the entries of
    their arrays of tables; every problem goes to ``problems`` (None when there is any)."""
    n = len(problems)
    cleaned = {k: v for k, v in raw.items() if k != "fund"}  # [fund.*]: the region's figures, read above
    for name in _SECTIONS:  # unknown keys in budget's wording (and not a second time by the table)
        user = raw.get(name)
        if isinstance(user, dict):
            extra = sorted(k for k in user if k not in _SECTION_KEYS[name])
            if extra:
                problems.append(f"[{name}] 未知的键：{', '.join(extra)}")
                cleaned[name] = {k: v for k, v in user.items() if k in _SECTION_KEYS[name]}
    try:
        v = BUDGET_PARAMS.load(path, raw=cleaned, error=PolicyFileError)
    except PolicyFileError as exc:
        problems += exc.problems
        v = None
    arrays = {key: _array(cleaned, key) for key in ("split.adjustments", "clearing.over_bands", "clearing.deposit_return")}
    groups = v["split.groups"] if v is not None else _user(cleaned, "split.groups", BUDGET_PARAMS.by_key["split.groups"].default)
    adjustments = _adjustments(arrays["split.adjustments"], groups is True, problems)
    bands = _over_bands(arrays["clearing.over_bands"], problems)
    deposit = _deposit_return(arrays["clearing.deposit_return"], problems)
    if len(problems) > n or v is None:
        return None
    sources = _sources(path, cleaned, v)
    split = SplitPolicy(v["split.kinds"], v["split.history_weights"],
                        {b: v[f"split.basis_{b}"] for b in ("fund_paid", "visits", "persons")}, v["split.groups"],
                        v["split.group_by"], v["split.primary_floor"], v["split.level_factor"],
                        v["split.category_factor"], adjustments)
    c = v.ns("cycle")
    cycle = CyclePolicy(c.deposit_rate, c.clearing_rate, c.seasonality, c.monthly_cap, c.turnover_rate,
                        c.turnover_recovery_month, c.midyear_month, c.midyear_threshold)
    k = v.ns("clearing")
    clearing = ClearingPolicy(k.saving_keep_rate, k.saving_keep_cap, k.band_mode, k.compensation_growth_threshold,
                              k.compensation_rate, k.compensation_cap, k.default_score, bands, deposit, k.scores,
                              k.saving_by_score)
    return YearPolicy(split, cycle, clearing, sources)


def _user(raw: dict, key: str, default: object = None) -> object:
    node: object = raw
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def _array(raw: dict, key: str) -> list[dict] | None:
    """The policy's array of tables ``key`` (replacing the default's as a whole), the default's when absent, None
    when it is not an array of tables (the table reported it)."""
    v = _user(raw, key, BUDGET_PARAMS.by_key[key].default)
    if not isinstance(v, list) or any(not isinstance(x, dict) for x in v):
        return None
    return v


def _sources(path: Path, raw: dict, v: Values) -> dict[str, str]:
    """Where every value came from: ``FILE [section] key`` or ``默认值：<source>`` (a map's entries key by key)."""
    out: dict[str, str] = {}
    for p in BUDGET_PARAMS.params:
        if p.path[0] not in _SECTIONS:
            continue
        section, key = p.path[0], p.path[1]
        user = _user(raw, p.key)
        if p.key == "clearing.scores":
            out[p.key] = f"{path.name} [clearing.scores]" if v[p.key] else "未给出考核得分，一律按 default_score"
        elif p.kind.is_map:
            for k in v[p.key]:
                has = isinstance(user, dict) and k in user
                out[f"{p.key}.{k}"] = f"{path.name} [{p.key}] {k}" if has else _default_source(p)
        elif p.key in ("split.adjustments", "clearing.over_bands", "clearing.deposit_return"):
            out[p.key] = f"{path.name} [[{p.key}]]" if user is not None else _default_source(p)
        else:
            out[p.key] = f"{path.name} [{section}] {key}" if user is not None else _default_source(p)
    if "split.adjustments" not in _user(raw, "split", {}):
        out["split.adjustments"] = "未录入协商调整"
    return out


def _entry_keys(dotted: str, entry: dict, required: tuple[str, ...], optional: tuple[str, ...]) -> str | None:
    for k in required:
        if k not in entry:
            return f"{dotted} 缺少 {k}"
    extra = sorted(k for k in entry if k not in required + optional)
    if extra:
        return f"{dotted} 未知的键：{', '.join(extra)}"
    return None


def _text(dotted: str, v: object) -> tuple[str | None, str | None]:
    if not isinstance(v, str) or not v.strip():
        return None, f"{dotted} 应为非空文本，实际为 {v!r}"
    return v.strip(), None


def _adjustments(entries: list[dict] | None, groups: bool, problems: list[str]) -> tuple[Adjustment, ...]:
    """[[split.adjustments]]: each entry checked (its first problem reported)."""
    pots = {f"{s}.{t}" for s in SCHEMES for t in SETTINGS}
    out = []
    for i, e in enumerate(entries or (), 1):
        adj, problem = _adjustment(i, e, pots, groups)
        if problem:
            problems.append(problem)
        else:
            out.append(adj)
    return tuple(out)


def _adjustment(i: int, e: dict, pots: set[str], groups: bool) -> tuple[Adjustment | None, str | None]:
    dotted = f"split.adjustments[{i}]"
    problem = _entry_keys(dotted, e, ("pot", "amount", "note"),
                          ("from_group", "to_group", "from_institution", "to_institution"))
    if problem:
        return None, problem
    pot = e["pot"]
    if pot not in pots:
        return None, f"{dotted}.pot 应为 {' / '.join(sorted(pots))} 之一，实际为 {pot!r}"
    amount, problem = _amount(f"{dotted}.amount", e["amount"])
    if problem:
        return None, problem
    pair_g = ("from_group" in e, "to_group" in e)
    pair_i = ("from_institution" in e, "to_institution" in e)
    if not ((all(pair_g) and not any(pair_i)) or (all(pair_i) and not any(pair_g))):
        return None, f"{dotted} 应写 from_group 与 to_group，或 from_institution 与 to_institution（二选一）"
    if all(pair_g) and not groups:
        return None, f"{dotted}.from_group 需要 split.groups = true"
    names = {}
    for k in ("from_group", "to_group", "from_institution", "to_institution", "note"):
        if k in e:
            names[k], problem = _text(f"{dotted}.{k}", e[k])
            if problem:
                return None, problem
    return Adjustment(i, pot, amount, **names), None


def _rate1(key: str, value: object, upper: str, problems: list[str]) -> Decimal | None:
    d, probs = parse_rate(key, value, Decimal(upper))
    problems += probs
    return d


def _over_bands(entries: list[dict] | None, problems: list[str]) -> tuple[OverBand, ...]:
    """[[clearing.over_bands]]: increasing ``upto``, the last band without one; stops at the first problem."""
    if entries is None:
        return ()
    if not entries:
        problems.append("clearing.over_bands 至少要有一档")
        return ()
    bands: list[OverBand] = []
    for i, e in enumerate(entries, 1):
        dotted, n = f"clearing.over_bands[{i}]", len(problems)
        problem = _entry_keys(dotted, e, ("fund_share",), ("upto",))
        last = i == len(entries)
        if problem is None and ("upto" in e) == last:
            problem = f"{dotted}.upto " + ("最后一档不写 upto（不封顶）" if last else "缺少（只有最后一档不写）")
        if problem:
            problems.append(problem)
            return ()
        upto = None if last else _rate1(f"{dotted}.upto", e["upto"], "100", problems)
        if len(problems) == n and upto is not None and bands and upto <= bands[-1].upto:
            problems.append(f"{dotted}.upto 应大于上一档的 {bands[-1].upto}")
        share = _rate1(f"{dotted}.fund_share", e["fund_share"], "1", problems)
        if len(problems) > n:
            return ()
        bands.append(OverBand(upto, share))
    return tuple(bands)


def _deposit_return(entries: list[dict] | None, problems: list[str]) -> tuple[DepositBand, ...]:
    """[[clearing.deposit_return]]: ``min_score`` descending, the last 0; stops at the first problem."""
    if entries is None:
        return ()
    deposit: list[DepositBand] = []
    for i, e in enumerate(entries, 1):
        dotted, n = f"clearing.deposit_return[{i}]", len(problems)
        problem = _entry_keys(dotted, e, ("min_score", "share"), ())
        if problem:
            problems.append(problem)
            return ()
        ms = _rate1(f"{dotted}.min_score", e["min_score"], "100", problems)
        if len(problems) == n and deposit and ms >= deposit[-1].min_score:
            problems.append(f"{dotted}.min_score 应从高到低排列（小于上一档的 {deposit[-1].min_score}）")
        share = _rate1(f"{dotted}.share", e["share"], "1", problems)
        if len(problems) > n:
            return ()
        deposit.append(DepositBand(ms, share))
    if not deposit or deposit[-1].min_score != 0:
        problems.append("clearing.deposit_return 最后一档的 min_score 应为 0（覆盖所有得分）")
    return tuple(deposit)
