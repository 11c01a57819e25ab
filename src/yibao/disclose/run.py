"""Public disclosure (信息公开) of a year: the region's total and its split, point values, the assessment results,
cost dynamics by institution level — as a structured file for the public page, an Excel workbook and a PDF.

人社部发〔2012〕70号: 统筹地区要遵循公开透明的原则，制定实施总额控制的程序和方法，并向社会公开；总额控制管理情况要定期
向社会通报 (the split, cost dynamics and the assessment results). Nothing about a person is published: the report
holds institutions (public entities) and aggregates only; cost-dynamics cells with fewer cases than
``disclose.min_cases`` are suppressed (小样本不公开). The suspended/terminated staff notice (医保发〔2024〕23号) goes to the
institution and the health and drug regulators, not to the public: off by default, and even when a region turns it
on the public table lists institution, date, basis and points only — no name, no id number.

Inputs are the outputs of the other commands (files, not their code): ``yibao budget --out`` (required),
``yibao assess --out`` and ``yibao dip settle --out`` (optional), and the workspace for the cost dynamics.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from yibao.contract.errors import BadFile, MissingData
from yibao.contract.params import Param, ParamTable
from yibao.contract.params import kinds as K
from yibao.contract.vocab import KIND_ZH, SCHEME_ZH, SETTING_ZH, level_zh
from yibao.engine import pdf as P
from yibao.engine.excel import Col, Sheet, write_workbook
from yibao.engine.workspace import Workspace

__all__ = ["DISCLOSE", "Disclosure", "disclose", "build", "publish"]

DISCLOSE = ParamTable(
    name="disclose", title="信息公开", doc="docs/disclosure.md",
    params=(
        Param("disclose.agency", "统筹地区医疗保障经办机构", K.text(nonempty=True), "本地规则（发布机构名称）", "发布机构"),
        Param("disclose.min_cases", 10, K.integer(1, 10_000), "个人信息保护（小样本不公开，本地规则，示例值）",
              "费用动态中病例数少于此值的格不公开", "例"),
        Param("disclose.staff_notice", False, K.boolean(),
              "医保发〔2024〕23号：暂停、终止支付资格通报所在机构和卫健、药监部门（不向社会公开）；地方规定公开时改为 true",
              "是否公开相关人员暂停、终止支付资格的通报（只列机构、日期、依据、记分，不列姓名与身份证号）"),
    ),
)
Q2 = Decimal("0.01")
Q4 = Decimal("0.0001")


@dataclass(frozen=True)
class Disclosure:
    year: int
    data: dict
    files: list[str]


def _rows(path: Path) -> list[dict]:
    if not path.is_file():
        raise BadFile(f"{path.parent}: 缺少 {path.name}（不是对应命令的输出目录）")
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def _d(text: str | None) -> Decimal | None:
    return Decimal(text) if text not in (None, "") else None


def _cost_dynamics(con, year: int, min_cases: int) -> list[dict]:
    rows = con.execute("""
        SELECT CAST(i.level AS VARCHAR), c.setting, CAST(quarter(c.settle_date) AS INTEGER), COUNT(*),
               SUM(c.total_cost), SUM(c.fund_paid)
        FROM main.cases c JOIN main.institutions i USING (institution_id)
        WHERE year(c.settle_date) = ? GROUP BY ALL ORDER BY 1 DESC, 2, 3""", [year]).fetchall()
    out = []
    for level, setting, q, n, total, fund in rows:
        shown = n >= min_cases
        total, fund = Decimal(total), Decimal(fund)
        out.append({"level": level, "level_zh": level_zh(level), "setting": setting, "setting_zh": SETTING_ZH[setting],
                    "quarter": f"{year}Q{q}", "cases": n if shown else None,
                    "avg_cost": (total / n).quantize(Q2, ROUND_HALF_UP) if shown else None,
                    "avg_fund": (fund / n).quantize(Q2, ROUND_HALF_UP) if shown else None,
                    "burden_share": ((total - fund) / total).quantize(Q4, ROUND_HALF_UP) if shown and total else None,
                    "note": "" if shown else f"病例数少于 {min_cases}，不公开"})
    return out


def build(workspace: Path, year: int, budget_dir: Path, assess_dir: Path | None, dip_dir: Path | None,
          policy: Path | None = None) -> dict:
    """The report's data (what every rendering shows), nothing written."""
    pol = DISCLOSE.load(policy)
    totals = [{"scheme": r["scheme"], "scheme_zh": SCHEME_ZH.get(r["scheme"], r["scheme"]),
               "formula_total": _d(r["formula_total"]), "final_total": _d(r["final_total"])}
              for r in _rows(budget_dir / "totals.csv")]
    pots = [{"pot": r["项目"], "pot_zh": r["项目名称"], "total": _d(r["项目总额"]), "institutions": int(r["机构数"]),
             "quota_total": _d(r["指标合计"]), "booked_total": _d(r["记账合计"])} for r in _rows(budget_dir / "pots.csv")]
    split = [{"pot": r["项目"], "institution_id": r["机构编码"], "name": r["机构名称"],
              "kind_zh": KIND_ZH.get(r["机构类型"], r["机构类型"]), "level_zh": level_zh(r["机构级别"]),
              "quota": _d(r["年度指标"])} for r in _rows(budget_dir / "quotas.csv")]
    with Workspace(workspace, read_only=True) as ws:
        n = ws.con.execute("SELECT COUNT(*) FROM main.cases WHERE year(settle_date) = ?", [year]).fetchone()[0]
        if not n:
            raise MissingData(f"{workspace}: 没有 {year} 年结算的病例，无法生成信息公开报告")
        inst = {i: (name, level) for i, name, level in ws.con.execute(
            "SELECT institution_id, name, CAST(level AS VARCHAR) FROM main.institutions").fetchall()}
        costs = _cost_dynamics(ws.con.cursor(), year, pol["disclose.min_cases"])
        notice = None
        if pol["disclose.staff_notice"]:
            notice = [{"institution_id": i, "name": inst.get(i, ("", ""))[0], "decided_on": str(d), "basis": b,
                       "points": p} for i, d, b, p in ws.con.execute(
                "SELECT institution_id, decided_on, basis, points FROM main.sanctions "
                "WHERE year(decided_on) = ? ORDER BY decided_on, institution_id", [year]).fetchall()]
    points = None
    if dip_dir is not None:
        points = [{"scheme_zh": r["险种"], "kind": r["点值类型"], "month": r["月份"], "budget": _d(r["预算（元）"]),
                   "points": _d(r["点数"]), "value": _d(r["点值（元/点）"])} for r in _rows(dip_dir / "point_values.csv")]
    assessment = None
    if assess_dir is not None:
        assessment = [{"institution_id": r["institution_id"], "name": inst.get(r["institution_id"], ("", ""))[0],
                       "level_zh": level_zh(inst.get(r["institution_id"], ("", "0"))[1]), "score": _d(r["score"])}
                      for r in _rows(assess_dir / "score_totals.csv")]
        assessment.sort(key=lambda a: (-(a["score"] or Decimal(-1)), a["institution_id"]))
    return {"year": year, "agency": pol["disclose.agency"], "totals": totals, "pots": pots, "split": split,
            "point_values": points, "assessment": assessment, "cost_dynamics": costs, "staff_notice": notice,
            "min_cases": pol["disclose.min_cases"]}


def _json(v):
    if isinstance(v, Decimal):
        return str(v)
    raise TypeError(type(v))


def disclose(workspace: Path, year: int, out_dir: Path, *, budget_dir: Path, assess_dir: Path | None = None,
             dip_dir: Path | None = None, policy: Path | None = None) -> Disclosure:
    """``yibao disclose``: ``disclosure.json`` (the public page reads it), ``信息公开.xlsx`` and ``信息公开.pdf``."""
    data = build(workspace, year, budget_dir, assess_dir, dip_dir, policy)
    out = Path(out_dir)
    (out / "disclosure.json").write_text(json.dumps(data, ensure_ascii=False, indent=1, default=_json) + "\n",
                                         encoding="utf-8")
    write_workbook(out / "信息公开.xlsx", _sheets(data))
    (out / "信息公开.pdf").write_bytes(_pdf(data))
    return Disclosure(year, data, ["disclosure.json", "信息公开.xlsx", "信息公开.pdf"])


def _sheets(d: dict) -> list[Sheet]:
    y = d["year"]
    head = [f"{d['agency']} {y} 年医疗保险基金总额控制信息公开", "金额单位：元；只含机构与汇总数据，不含个人信息"]
    sheets = [
        Sheet("付费总额", [Col("险种"), Col("公式总额", "money"), Col("当年付费总额", "money")],
              [[t["scheme_zh"], t["formula_total"], t["final_total"]] for t in d["totals"]], head, total=True),
        Sheet("总额分项", [Col("项目"), Col("项目总额", "money"), Col("机构数", "count"), Col("指标合计", "money"),
                       Col("记账合计", "money")],
              [[p["pot_zh"], p["total"], p["institutions"], p["quota_total"], p["booked_total"]] for p in d["pots"]],
              head, total=True),
        Sheet("机构指标", [Col("项目"), Col("机构编码", "code"), Col("机构名称"), Col("类型"), Col("级别"),
                       Col("年度指标", "money")],
              [[s["pot"], s["institution_id"], s["name"], s["kind_zh"], s["level_zh"], s["quota"]] for s in d["split"]],
              head, total=True),
        Sheet("费用动态", [Col("机构级别"), Col("就诊类型"), Col("季度"), Col("病例数", "count"),
                       Col("次均费用", "money", total=False),
                       Col("次均统筹支付", "money", total=False), Col("个人负担比例", "share"), Col("说明")],
              [[c["level_zh"], c["setting_zh"], c["quarter"], c["cases"], c["avg_cost"], c["avg_fund"], c["burden_share"],
                c["note"]] for c in d["cost_dynamics"]], head + [f"病例数少于 {d['min_cases']} 的格不公开"]),
    ]
    if d["point_values"] is not None:
        sheets.append(Sheet("点值", [Col("险种"), Col("点值类型"), Col("月份"), Col("预算", "money"), Col("点数", "weight"),
                                   Col("点值（元/点）", "point_value")],
                            [[p["scheme_zh"], p["kind"], p["month"], p["budget"], p["points"], p["value"]]
                             for p in d["point_values"]], head))
    if d["assessment"] is not None:
        sheets.append(Sheet("考核结果", [Col("机构编码", "code"), Col("机构名称"), Col("级别"), Col("考核得分", "score")],
                            [[a["institution_id"], a["name"], a["level_zh"], a["score"]] for a in d["assessment"]], head))
    if d["staff_notice"] is not None:
        sheets.append(Sheet("支付资格通报",
                            [Col("机构编码", "code"), Col("机构名称"), Col("决定日期"), Col("依据"), Col("记分", "count")],
                            [[n["institution_id"], n["name"], n["decided_on"], n["basis"], n["points"]]
                             for n in d["staff_notice"]], head + ["只列机构，不列个人姓名与身份证号"]))
    return sheets


def _pdf(d: dict) -> bytes:
    y = d["year"]
    pdf = P.document(f"{y} 年医疗保险基金总额控制信息公开")
    pdf.set_font("cjk", size=15)
    pdf.cell(0, 10, f"{y} 年医疗保险基金总额控制信息公开", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=9)
    pdf.cell(0, 6, f"发布机构：{d['agency']}　金额单位：元　本报告只含机构与汇总数据，不含个人信息",
             align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("cjk", size=11)
    pdf.cell(0, 7, "一、年度付费总额", new_x="LMARGIN", new_y="NEXT")
    P.table(pdf, ["险种", "公式总额", "当年付费总额"],
            [[t["scheme_zh"], t["formula_total"], t["final_total"]] for t in d["totals"]])
    pdf.ln(2)
    P.table(pdf, ["项目", "项目总额", "机构数", "指标合计", "记账合计"],
            [[p["pot_zh"], p["total"], p["institutions"], p["quota_total"], p["booked_total"]] for p in d["pots"]])
    pdf.ln(3)
    pdf.set_font("cjk", size=11)
    pdf.cell(0, 7, "二、总额分解到机构", new_x="LMARGIN", new_y="NEXT")
    for pot in sorted({s["pot"] for s in d["split"]}):
        rows = sorted((s for s in d["split"] if s["pot"] == pot), key=lambda s: -(s["quota"] or 0))
        name = next((p["pot_zh"] for p in d["pots"] if p["pot"] == pot), pot)
        P.bar_chart(pdf, f"{name}：机构年度指标（前 10 家）", [s["name"] for s in rows[:10]], [s["quota"] for s in rows[:10]],
                    height=min(60, 6 * len(rows[:10]) + 2))
    P.table(pdf, ["项目", "机构名称", "类型", "级别", "年度指标"],
            [[s["pot"], s["name"], s["kind_zh"], s["level_zh"], s["quota"]] for s in d["split"]],
            widths=[32, 70, 22, 22, pdf.epw - 146])
    if d["point_values"] is not None:
        pdf.ln(3)
        pdf.set_font("cjk", size=11)
        pdf.cell(0, 7, "三、DIP 点值", new_x="LMARGIN", new_y="NEXT")
        P.table(pdf, ["险种", "点值类型", "月份", "预算", "点数", "点值（元/点）"],
                [[p["scheme_zh"], p["kind"], p["month"], p["budget"], p["points"], p["value"]] for p in d["point_values"]])
    if d["assessment"] is not None:
        pdf.ln(3)
        pdf.set_font("cjk", size=11)
        pdf.cell(0, 7, "四、定点医药机构考核结果", new_x="LMARGIN", new_y="NEXT")
        P.bar_chart(pdf, "考核得分", [a["name"] for a in d["assessment"][:15]], [a["score"] or 0 for a in d["assessment"][:15]],
                    unit=" 分", height=min(90, 6 * len(d["assessment"][:15]) + 2))
        P.table(pdf, ["机构编码", "机构名称", "级别", "考核得分"],
                [[a["institution_id"], a["name"], a["level_zh"], a["score"]] for a in d["assessment"]],
                widths=[40, 90, 25, pdf.epw - 155])
    pdf.ln(3)
    pdf.set_font("cjk", size=11)
    pdf.cell(0, 7, "五、费用动态（按机构级别、季度）", new_x="LMARGIN", new_y="NEXT")
    P.table(pdf, ["机构级别", "就诊类型", "季度", "病例数", "次均费用", "次均统筹支付", "个人负担比例"],
            [[c["level_zh"], c["setting_zh"], c["quarter"], c["cases"], c["avg_cost"], c["avg_fund"],
              None if c["burden_share"] is None else f"{c['burden_share']:.2%}"] for c in d["cost_dynamics"]])
    pdf.set_font("cjk", size=8)
    pdf.cell(0, 6, f"病例数少于 {d['min_cases']} 的格不公开。", new_x="LMARGIN", new_y="NEXT")
    if d["staff_notice"] is not None:
        pdf.ln(3)
        pdf.set_font("cjk", size=11)
        pdf.cell(0, 7, "六、相关人员支付资格通报（只列机构）", new_x="LMARGIN", new_y="NEXT")
        P.table(pdf, ["机构编码", "机构名称", "决定日期", "依据", "记分"],
                [[n["institution_id"], n["name"], n["decided_on"], n["basis"], n["points"]] for n in d["staff_notice"]])
    return P.pdf_bytes(pdf)


def publish(report_dir: Path, workspace: Path, year: int) -> Path:
    """Put a written report where the server's public pages read it (``WORKSPACE/public/YEAR/``), replacing an
    earlier publication of that year whole (a new directory renamed into place)."""
    import os
    import shutil

    src = Path(report_dir)
    dest = Path(workspace) / "public" / str(year)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{year}.new-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    for name in ("disclosure.json", "信息公开.pdf", "信息公开.xlsx"):
        shutil.copy2(src / name, tmp / name)
    old = dest.with_name(f".{year}.old-{os.getpid()}")
    if dest.exists():
        dest.rename(old)
    tmp.rename(dest)
    shutil.rmtree(old, ignore_errors=True)
    return dest
