"""``yibao summary``: the region profile of a workspace, printed for people (Chinese headers)."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
from rich.console import Console
from rich.table import Table as RichTable

from yibao.contract.schema import TABLES
from yibao.contract.vocab import SCHEME_ZH, SETTING_ZH
from yibao.engine.money import div
from yibao.engine.workspace import Workspace
from yibao.profile.pipelines import PROFILE


def run_profile(workspace: Path, engine: str = "duckdb") -> dict[str, pa.Table]:
    """Run the profile pipeline over a workspace's cases on the chosen engine."""
    with Workspace(workspace, read_only=True) as ws:
        sources, runner = ws.sources(("cases", "institutions"), engine)
        return runner.run_pipeline(PROFILE, sources)


def year_scheme_setting(region_year: pa.Table) -> list[dict]:
    """Fold the region table over institution kind and level (exact sums; averages half-up)."""
    acc: dict[tuple, dict] = defaultdict(lambda: {"cases": 0, "inpatient_days": 0, "institutions": 0,
                                                  "total_cost": Decimal(0), "fund_paid": Decimal(0)})
    for r in region_year.to_pylist():
        a = acc[(r["year"], r["scheme"], r["setting"])]
        a["cases"] += r["cases"]
        a["institutions"] += r["institutions"]
        a["inpatient_days"] += r["inpatient_days"] or 0
        a["total_cost"] += r["total_cost"] or 0
        a["fund_paid"] += r["fund_paid"] or 0
    rows = []
    for (year, scheme, setting), a in sorted(acc.items()):
        rows.append({"year": year, "scheme": scheme, "setting": setting, **a,
                     "avg_cost": div(a["total_cost"], a["cases"]) if a["cases"] else Decimal("0.00"),
                     "avg_los": div(a["inpatient_days"], a["cases"]) if setting == "inpatient" and a["cases"] else None})
    return rows


def print_summary(workspace: Path, engine: str, console: Console) -> None:
    ws = Workspace(workspace, read_only=True)
    try:
        counts = ws.counts()
        quarantined = dict(ws.con.execute(
            "SELECT table_name, count(*) FROM quarantine GROUP BY 1").fetchall())
        loads = ws.con.execute("SELECT count(*), max(finished_at) FROM loads").fetchall()[0]
    finally:
        ws.close()
    t = RichTable(title=f"工作区 {workspace}（装载 {loads[0]} 次）", title_justify="left")
    for h in ("表", "中文名", "行数", "隔离行数"):
        t.add_column(h, justify="right" if h.endswith("数") else "left")
    for name, n in counts.items():
        t.add_row(name, TABLES[name].zh, f"{n:,}", f"{quarantined.get(name, 0):,}")
    console.print(t)

    out = run_profile(workspace, engine)
    t = RichTable(title=f"统筹区概况（按年度、险种、就诊类型；引擎 {engine}）", title_justify="left")
    for h in ("年度", "险种", "就诊类型", "机构数", "人次", "医疗费用总额（元）", "统筹基金支付（元）", "次均费用（元）",
              "平均住院日"):
        t.add_column(h, justify="left" if h in ("险种", "就诊类型") else "right")
    for r in year_scheme_setting(out["region_year"]):
        t.add_row(str(r["year"]), SCHEME_ZH.get(r["scheme"], r["scheme"]), SETTING_ZH.get(r["setting"], r["setting"]),
                  f"{r['institutions']:,}", f"{r['cases']:,}", f"{r['total_cost']:,.2f}", f"{r['fund_paid']:,.2f}",
                  f"{r['avg_cost']:,.2f}", "" if r["avg_los"] is None else f"{r['avg_los']}")
    console.print(t)
    persons = out["person_year"]
    console.print(f"参保人×年度记录 {persons.num_rows:,} 条；机构×月份记录 {out['institution_month'].num_rows:,} 条。")
