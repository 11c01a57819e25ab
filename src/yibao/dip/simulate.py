"""Simulation (政策模拟): the same DIP year under other parameters, side by side, without touching real results.

A scenario file (TOML) names what changes::

    name = "点值预算下调 5%，三级医院系数 1.1"
    [budget]
    inpatient_factor = "0.95"        # multiply each scheme's inpatient budget (or give amounts below)
    # [budget.inpatient]
    # employee = "1500000000.00"
    [dip.catalogue]                  # any DIP policy section: catalogue, scoring, settlement, bed_day, per_capita
    core_min_cases = 10
    [dip.scoring.level_coefficient]
    "3" = "1.1"

:func:`yibao.dip.commands.simulate` runs the baseline and the scenario (catalogue → scoring → settlement, each into its
own directory under the output) and :func:`compare` lines them up per scheme × institution. Nothing is
written to the workspace, the real catalogue or the real settlement.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path

from yibao.contract.vocab import SCHEME_ZH
from yibao.dip.errors import DipPolicyError
from yibao.dip.settlement import Budgets, DipYear
from yibao.engine.csvfile import rows_csv
from yibao.engine.excel import table_sheet, write_workbook
from yibao.engine.money import ZERO, decimal_view, round_money

__all__ = ["Scenario", "load_scenario", "compare", "write_comparison"]


@dataclass(frozen=True)
class Scenario:
    name: str
    path: str
    inpatient_factor: Decimal | None
    inpatient: dict[str, Decimal]
    dip: dict  # DIP policy sections to override

    def budgets(self, base: Budgets) -> Budgets:
        inp = dict(base.inpatient)
        if self.inpatient_factor is not None:
            inp = {s: round_money(a * self.inpatient_factor) for s, a in inp.items()}
        inp.update({s: a for s, a in self.inpatient.items() if s in inp})
        return Budgets(inp, base.outpatient, base.bed_day, base.cases)

    @property
    def changes_catalogue(self) -> bool:
        return "catalogue" in self.dip

    @property
    def changes_scoring(self) -> bool:
        return self.changes_catalogue or "scoring" in self.dip


def load_scenario(path: Path) -> Scenario:
    where = str(path)
    try:
        with Path(path).open("rb") as f:
            raw = tomllib.load(f)
    except FileNotFoundError:
        raise DipPolicyError(where, "情景文件不存在") from None
    except tomllib.TOMLDecodeError as exc:
        raise DipPolicyError(where, f"不是有效的 TOML：{exc}") from None
    extra = sorted(set(raw) - {"name", "budget", "dip"})
    if extra:
        raise DipPolicyError(where, f"未知的键：{', '.join(extra)}（可用 name、[budget]、[dip.*]）")
    name = raw.get("name", Path(path).stem)
    b = raw.get("budget", {})
    if not isinstance(b, dict) or sorted(set(b) - {"inpatient_factor", "inpatient"}):
        raise DipPolicyError(where, "[budget] 只可有 inpatient_factor 与 [budget.inpatient]")

    def dec(key: str, v: object, places: int) -> Decimal:
        try:
            d = Decimal(repr(v) if isinstance(v, float) else str(v))
        except InvalidOperation:
            raise DipPolicyError(where, f"{key} 不是数字：{v!r}") from None
        if not d.is_finite() or d < 0 or d != d.quantize(Decimal(1).scaleb(-places)):
            raise DipPolicyError(where, f"{key} 应为 ≥ 0、至多 {places} 位小数的数：{v!r}")
        return d

    factor = dec("budget.inpatient_factor", b["inpatient_factor"], 6) if "inpatient_factor" in b else None
    inp = b.get("inpatient", {})
    if not isinstance(inp, dict) or sorted(set(inp) - set(SCHEME_ZH)):
        raise DipPolicyError(where, "[budget.inpatient] 的键应为 employee / resident")
    dip = raw.get("dip", {})
    if not isinstance(dip, dict):
        raise DipPolicyError(where, "[dip] 应为表")
    return Scenario(str(name), where, factor, {s: dec(f"budget.inpatient.{s}", v, 2) for s, v in inp.items()}, dip)


COMPARE_COLUMNS = (("scheme", "险种"), ("institution_id", "机构编码"), ("name", "机构名称"),
                   ("base_points", "基准：年度点数"), ("scen_points", "情景：年度点数"),
                   ("base_amount", "基准：按点值应付"), ("scen_amount", "情景：按点值应付"),
                   ("base_entitlement", "基准：年度应付"), ("scen_entitlement", "情景：年度应付"),
                   ("diff", "差额（情景 − 基准）"), ("diff_rate", "差额率"))


def compare(base: DipYear, scen: DipYear) -> tuple[list[dict], list[dict]]:
    """Per scheme × institution rows, and per scheme totals with both point values."""
    rows, totals = [], []
    for scheme in sorted(set(base.dip) | set(scen.dip)):
        b = {c.institution_id: c for c in base.dip[scheme].clearing} if scheme in base.dip else {}
        s = {c.institution_id: c for c in scen.dip[scheme].clearing} if scheme in scen.dip else {}
        for i in sorted(set(b) | set(s)):
            be = b[i].entitlement if i in b else ZERO
            se = s[i].entitlement if i in s else ZERO
            rows.append({"scheme": SCHEME_ZH[scheme], "institution_id": i,
                         "name": base.institutions.get(i, scen.institutions.get(i, {})).get("name", ""),
                         "base_points": b[i].units if i in b else Decimal(0),
                         "scen_points": s[i].units if i in s else Decimal(0),
                         "base_amount": b[i].amount if i in b else ZERO, "scen_amount": s[i].amount if i in s else ZERO,
                         "base_entitlement": be, "scen_entitlement": se, "diff": se - be,
                         "diff_rate": decimal_view(Fraction(se - be) / Fraction(be), 4) if be else None})
        bs, ss = base.dip.get(scheme), scen.dip.get(scheme)
        totals.append({"scheme": SCHEME_ZH[scheme],
                       "base_budget": bs.budget if bs else None, "scen_budget": ss.budget if ss else None,
                       "base_points": bs.units if bs else None, "scen_points": ss.units if ss else None,
                       "base_value": bs.value_shown if bs else None, "scen_value": ss.value_shown if ss else None,
                       "base_entitled": bs.entitled if bs else None, "scen_entitled": ss.entitled if ss else None,
                       "base_balance": bs.balance if bs else None, "scen_balance": ss.balance if ss else None})
    return rows, totals


TOTAL_COLUMNS = (("scheme", "险种"), ("base_budget", "基准：住院统筹预算"), ("scen_budget", "情景：住院统筹预算"),
                 ("base_points", "基准：年度点数"), ("scen_points", "情景：年度点数"),
                 ("base_value", "基准：结算点值"), ("scen_value", "情景：结算点值"),
                 ("base_entitled", "基准：年度应付合计"), ("scen_entitled", "情景：年度应付合计"),
                 ("base_balance", "基准：基金结余"), ("scen_balance", "情景：基金结余"))


COMPARE_KINDS = {
    "institution_id": "code", "base_points": "weight", "scen_points": "weight", "base_amount": "money",
    "scen_amount": "money", "base_entitlement": "money", "scen_entitlement": "money", "diff": "money",
    "diff_rate": "share", "base_budget": "money", "scen_budget": "money", "base_value": "point_value",
    "scen_value": "point_value", "base_balance": "money", "scen_balance": "money",
}


def write_comparison(rows: list[dict], totals: list[dict], out_dir: Path, scenario: Scenario) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    files = []
    for name, cols, data in (("comparison", COMPARE_COLUMNS, rows), ("comparison_totals", TOTAL_COLUMNS, totals)):
        (out_dir / f"{name}.csv").write_bytes(rows_csv([zh for _, zh in cols],
                                                       ([r.get(k) for k, _ in cols] for r in data)))
        files.append(out_dir / f"{name}.csv")
    notes = [f"情景：{scenario.name}（{Path(scenario.path).name}）；基准与情景分别计算，真实结算结果未改动"]
    write_workbook(out_dir / "comparison.xlsx", [
        table_sheet("汇总", TOTAL_COLUMNS, totals, notes, kinds=COMPARE_KINDS, filter=False),
        table_sheet("机构", COMPARE_COLUMNS, rows, notes, kinds=COMPARE_KINDS, total=True)])
    files.append(out_dir / "comparison.xlsx")
    return files
