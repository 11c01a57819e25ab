"""The fund monitoring and projection outputs: CSV (the record), Excel with Chinese headers and charts, summary.json."""

from __future__ import annotations

import json
from pathlib import Path

from openpyxl.chart import BarChart, LineChart, Reference

from yibao.contract.vocab import SCHEME_ZH, SETTING_ZH
from yibao.engine.csvfile import rows_csv
from yibao.engine.excel import Col, Sheet, write_workbook
from yibao.fund.monitor import Monitor
from yibao.fund.projection import Projection

__all__ = ["write_monitor", "write_projection", "MONITOR_COLUMNS", "WARNING_COLUMNS"]

MONITOR_COLUMNS = (
    ("scheme", "险种", "text"), ("month", "月份", "text"), ("revenue", "基金收入", "money"),
    ("case_inpatient", "住院统筹支付（病例）", "money"), ("case_outpatient", "门诊统筹支付（病例）", "money"),
    ("other_expenditure", "其他基金支出（流水）", "money"), ("expenditure", "基金支出", "money"),
    ("current_balance", "当期结余", "money"), ("current_balance_rate", "当期结余率", "share"),
    ("ytd_current_balance", "当年累计当期结余", "money"), ("accumulated_balance", "累计结余", "money"),
    ("months_covered", "累计结余可支付月数", "weight"), ("expenditure_growth_ytd", "累计支出同比增长", "share"),
    ("revenue_growth_ytd", "累计收入同比增长", "share"), ("enrolled", "月末参保人数", "count"),
    ("per_capita_expenditure", "人均基金支出", "money"),
)
WARNING_COLUMNS = (
    ("scheme", "险种", "text"), ("month", "月份", "text"), ("level", "预警等级", "text"),
    ("indicator", "指标", "code"), ("value", "指标值", "weight"), ("threshold", "阈值", "weight"),
    ("message", "说明", "text"), ("source", "依据", "text"),
)
PROJECTION_COLUMNS = (
    ("year", "年度", "int"), ("scheme", "险种", "text"), ("setting", "就诊类型", "text"),
    ("enrolled", "预测参保人数", "count"), ("per_capita", "人均基金支出", "money"),
    ("expenditure", "预测基金支出", "money"),
)
BACKTEST_COLUMNS = (
    ("target_year", "检验年度", "int"), ("fit_years", "拟合年度", "text"), ("scheme", "险种", "text"),
    ("setting", "就诊类型", "text"), ("projected", "预测支出", "money"), ("actual", "实际支出", "money"),
    ("error", "误差（预测 − 实际）", "money"), ("error_share", "误差率", "share"),
)


def _csv(path: Path, columns, rows: list[dict]) -> None:
    path.write_bytes(rows_csv([c[0] for c in columns], [[r.get(c[0]) for c in columns] for r in rows]))


def _sheet(title: str, columns, rows: list[dict], notes=(), labels=None) -> Sheet:
    labels = labels or {}
    cols = [Col(zh, kind, labels.get(key), total=False) for key, zh, kind in columns]
    return Sheet(title, cols, [[r.get(c[0]) for c in columns] for r in rows], notes)


def write_monitor(out: Path, m: Monitor, policy_rows: list[tuple[str, str, str]]) -> list[str]:
    rows = [r.__dict__ for r in m.rows]
    warns = [w.__dict__ for w in m.warnings]
    _csv(out / "monitor.csv", MONITOR_COLUMNS, rows)
    _csv(out / "warnings.csv", WARNING_COLUMNS, warns)
    labels = {"scheme": SCHEME_ZH}
    sheets = [
        _sheet("月度监测", MONITOR_COLUMNS, rows, [f"{m.year} 年基金运行月度监测（统筹基金）",
                                              "收入 = 征收 + 财政补助 + 利息 + 其他 − 划入个人账户；支出 = 病例统筹支付 + "
                                              "流水中的其他支出"],
               labels),
        _sheet("预警", WARNING_COLUMNS, warns, [f"{m.year} 年风险预警（{len(warns)} 条）"], labels),
        Sheet("参数", ["参数", "取值", "来源"], [list(r) for r in policy_rows], ["本次使用的监测与预警参数"]),
    ]
    schemes = sorted({r["scheme"] for r in rows})

    def charts(wb, layout) -> None:
        ws = wb["月度监测"]
        hr = layout["月度监测"]["header_row"]
        sheet = wb.create_sheet("图表")
        for j, s in enumerate(schemes):
            idx = [i for i, r in enumerate(rows) if r["scheme"] == s]
            if not idx:
                continue
            lo, hi = hr + 1 + idx[0], hr + 1 + idx[-1]
            bar = BarChart()
            bar.title = f"{SCHEME_ZH[s]}：月度基金收入与支出（元）"
            bar.height, bar.width = 8, 18
            for col in (3, 7):
                bar.add_data(Reference(ws, min_col=col, min_row=lo, max_row=hi), titles_from_data=False)
            bar.series[0].tx = None
            bar.set_categories(Reference(ws, min_col=2, min_row=lo, max_row=hi))
            sheet.add_chart(bar, f"A{1 + j * 34}")
            line = LineChart()
            line.title = f"{SCHEME_ZH[s]}：累计结余可支付月数"
            line.height, line.width = 8, 18
            line.add_data(Reference(ws, min_col=12, min_row=lo, max_row=hi), titles_from_data=False)
            line.set_categories(Reference(ws, min_col=2, min_row=lo, max_row=hi))
            line.legend = None
            sheet.add_chart(line, f"A{18 + j * 34}")

    write_workbook(out / "基金运行监测.xlsx", sheets, decorate=charts)
    summary = {
        "year": m.year, "months": len({r["month"] for r in rows}), "schemes": schemes,
        "warnings": {lv: sum(1 for w in warns if w["level"] == lv) for lv in ("红色", "橙色", "黄色", "提示")},
        "ledger_months": m.flows_months, "notes": m.notes,
    }
    (out / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2, sort_keys=True) + "\n",
                                      encoding="utf-8")
    return ["monitor.csv", "warnings.csv", "基金运行监测.xlsx", "summary.json"]


def write_projection(out: Path, p: Projection, test: list[dict] | None, budget: dict[str, dict] | None,
                     policy_rows: list[tuple[str, str, str]]) -> list[str]:
    rows = [r.__dict__ for r in p.rows]
    _csv(out / "projection.csv", PROJECTION_COLUMNS, rows)
    files = ["projection.csv"]
    labels = {"scheme": SCHEME_ZH, "setting": {**SETTING_ZH, "all": "合计"}}
    growth = [{"scheme": s, "setting": st, "growth": g} for (s, st), g in sorted(p.growth.items())]
    sheets = [
        _sheet("预测", PROJECTION_COLUMNS, rows,
               [f"基金支出预测：拟合年度 {'、'.join(map(str, p.fit_years))}，年龄段下限 {list(p.bands)}",
                "方法见 docs/fund.md：参保人数按年龄推移、按年龄段人均支出、年龄标化后的年均增长率"], labels),
        _sheet("增长率", (("scheme", "险种", "text"), ("setting", "就诊类型", "text"), ("growth", "年均增长率", "share")),
               growth, ["年龄标化的人均基金支出年均增长率"], labels),
    ]
    if test is not None:
        _csv(out / "backtest.csv", BACKTEST_COLUMNS, test)
        files.append("backtest.csv")
        sheets.append(_sheet("回测", BACKTEST_COLUMNS, test, ["回测：用较早年度拟合，预测已有数据的年度，与实际比较"], labels))
    if budget:
        brow = []
        for s, b in sorted(budget.items()):
            y = b["year"]
            hit = [r.expenditure for r in p.rows if r.year == y and r.scheme == s and r.setting == "inpatient"]
            proj = hit[0] if hit else None  # the budget's year is not among the projected years: left blank
            brow.append({"year": y, "scheme": s, "projected_inpatient": proj, "formula_total": b.get("formula_total"),
                         "final_total": b.get("final_total")})
        bcols = (("year", "年度", "int"), ("scheme", "险种", "text"), ("projected_inpatient", "预测住院统筹支出", "money"),
                 ("formula_total", "总额控制公式总额", "money"), ("final_total", "最终付费总额", "money"))
        _csv(out / "budget_compare.csv", bcols, brow)
        files.append("budget_compare.csv")
        sheets.append(_sheet("与总额对比", bcols, brow, ["预测所隐含的住院统筹支出与总额控制的公式总额对比"], labels))
    sheets.append(Sheet("参数", ["参数", "取值", "来源"], [list(r) for r in policy_rows], ["本次使用的预测参数"]))

    def chart(wb, layout) -> None:
        ws = wb["预测"]
        hr = layout["预测"]["header_row"]
        if not rows:
            return
        c = BarChart()
        c.title = "预测基金支出（元）"
        c.height, c.width = 9, 20
        c.add_data(Reference(ws, min_col=6, min_row=hr + 1, max_row=hr + len(rows)), titles_from_data=False)
        c.set_categories(Reference(ws, min_col=1, max_col=3, min_row=hr + 1, max_row=hr + len(rows)))
        c.legend = None
        wb.create_sheet("图表").add_chart(c, "A1")

    write_workbook(out / "基金支出预测.xlsx", sheets, decorate=chart)
    files.append("基金支出预测.xlsx")
    return files
