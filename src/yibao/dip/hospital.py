"""A hospital's view of DIP scoring (医疗机构病种分值明细): one institution against the region.

``hospital_view(scored_dir, institution, …)`` reads ``scored_cases.parquet`` written by
``yibao dip score`` and writes, for one institution (optionally one discharge year):

``<ID>_病种分值.xlsx``  three sheets —
    概况      the institution, its peers (other institutions of the same level, from the workspace's
              ``institutions``) and the whole region: cases, grouped cases, total points,
              CMI (mean group score ÷ 1000), cost per point (Σ total_cost ÷ Σ points over scored
              cases), shares of high / low / extreme deviation cases and of comprehensive-group cases;
    病例明细  each case with group, score, ratio, deviation, coefficient, points, a Chinese
              explanation of how its points were computed, and the amount when a point value is given;
    病种汇总  per group: cases, points, mean cost;
``<ID>_概况.csv``, ``<ID>_病例明细.csv``, ``<ID>_病种汇总.csv``  the same tables (UTF-8 with BOM).

Aggregates are set-based DuckDB SQL over the scored cases, every division exact
(:func:`yibao.engine.sqlmoney.div_round`, 四舍五入 ROUND_HALF_UP). Nothing carries a date: the
same input gives byte-identical files.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb

from yibao.contract.standards import find_standards
from yibao.dip.catalogue import code_names
from yibao.dip.errors import HospitalError
from yibao.dip.inputs import read_levels, read_scored
from yibao.dip.labels import DEVIATION_ZH, GROUP_KIND_ZH, REASONS_ZH, STATUS_ZH, cell_text
from yibao.dip.policy import DipPolicy
from yibao.engine.csvfile import rows_csv
from yibao.engine.excel import Col, Sheet, table_sheet, write_workbook
from yibao.engine.outdir import safe_id, safe_path
from yibao.engine.sqlmoney import div_round

__all__ = ["HospitalView", "hospital_view", "explain", "workbook_sheets", "HospitalError", "read_levels",
           "read_scored"]

Q2 = Decimal("0.01")


def _share(expr: str) -> str:
    return div_round(f"count(*) FILTER (WHERE {expr})", "count(points)", scale=4)


# One aggregate over any slice of the scored cases (``c``): the 概况 columns.
SUMMARY_SQL = f"""
count(*) AS cases,
count(points) AS grouped,
count(*) - count(points) AS ungroupable,
coalesce(sum(points), 0) AS points,
{div_round("sum(score) FILTER (WHERE points IS NOT NULL)", "1000 * count(points)", num_scale=4, scale=4)} AS cmi,
{div_round("sum(total_cost) FILTER (WHERE points IS NOT NULL)", "sum(points)", num_scale=2, den_scale=4, scale=4)}
    AS cost_per_point,
{_share("deviation = 'high'")} AS high_share,
{_share("deviation = 'low'")} AS low_share,
{_share("deviation = 'extreme'")} AS extreme_share,
{_share("points IS NOT NULL AND group_kind = 'comprehensive'")} AS comprehensive_share,
count(DISTINCT institution_id) AS institutions
"""
SUMMARY_ROWS = [
    ("institutions", "机构数"), ("cases", "住院病例数"), ("grouped", "入组病例数（计分）"), ("ungroupable", "未入组病例数"),
    ("points", "总点数"), ("cmi", "CMI（平均病种分值 ÷ 1000）"), ("cost_per_point", "每点费用（元，Σ医疗总费用 ÷ Σ点数）"),
    ("high_share", "高倍率病例占比"), ("low_share", "低倍率病例占比"), ("extreme_share", "极高倍率病例占比"),
    ("comprehensive_share", "综合病种病例占比"),
]
DETAIL_HEADERS = ["病例号", "出院年度", "病种编码", "病种类型", "基层病种", "病种分值", "医疗总费用（元）", "病种平均费用（元）",
                  "费用比", "偏差类型", "病例分值", "系数", "点数", "状态", "未入组原因", "点数计算说明"]
GROUP_HEADERS = ["病种编码", "病种类型", "病种分值", "病例数", "高倍率", "低倍率", "极高倍率", "点数", "次均费用（元）",
                 "病种平均费用（元）"]


@dataclass
class HospitalView:
    institution: str
    level: int | None
    summary: dict[str, dict]       # scope → metrics (institution / peers / region)
    cases: list[dict]
    groups: list[dict]
    files: list[Path]


def explain(r: dict, policy: DipPolicy) -> str:
    """How a case's points were computed, in Chinese, from the stored (exact) values."""
    if r["status"] == "ungroupable":
        return f"未入组：{REASONS_ZH.get(r['reason'], r['reason'])}，不计点数"
    kind = GROUP_KIND_ZH.get(r["group_kind"], r["group_kind"])
    s, ratio, cs, coef = r["score"], r["ratio"], r["case_score"], r["coefficient"]
    high, low, ext = (policy.high_ratio.normalize(), policy.low_ratio.normalize(), policy.extreme_ratio.normalize())
    head = f"{kind} {r['group_id']} 分值 {s}"
    dev = r["deviation"]
    if dev in ("high", "extreme"):
        label = f"费用比 {ratio} > {ext}，极高倍率（特例单议），按高倍率计算" if dev == "extreme" else \
            f"费用比 {ratio} > {high}，高倍率"
        body = f"{label}：{s} × (({ratio} − {high}) + 1) = {cs}"
    elif dev == "low":
        body = f"费用比 {ratio} < {low}，低倍率：{s} × {ratio} = {cs}"
    else:
        body = f"费用比 {ratio} 在 {low}–{high} 之间，正常病例：病例分值 = 病种分值 {cs}"
    if r["primary_care"]:
        tail = f"基层病种不设等级系数，系数 {coef}：点数 {r['formula_points']}"
    else:
        tail = f"× 系数 {coef} = {r['formula_points']}"
    text = f"{head}；{body}；{tail}"
    if r["status"] == "reviewed":
        text += f"；特例单议终审点数 {r['points']}（取代公式点数）"
    elif r["status"] == "review":
        text += "；待特例单议，暂按公式点数"
    if dev in ("high", "low", "extreme"):
        text += "（费用比显示为四位小数，病例分值按精确费用比一次计算）"
    return text


def hospital_view(scored_dir: Path, institution: str, out_dir: Path, policy: DipPolicy, year: int | None = None,
                  workspace: Path | None = None, point_value: Decimal | None = None) -> HospitalView:
    scored = read_scored(scored_dir)
    levels = read_levels(workspace)
    con = duckdb.connect()
    try:
        con.register("scored", scored)
        con.register("levels", levels)
        where = "" if year is None else f"WHERE s.year = {int(year)}"
        con.execute(f"CREATE TEMP TABLE c AS SELECT s.*, l.level FROM scored s "
                    f"LEFT JOIN levels l ON l.institution_id = s.institution_id {where}")
        if not con.execute("SELECT count(*) FROM c WHERE institution_id = ?", [institution]).fetchall()[0][0]:
            yr = "" if year is None else f"{year} 年度"
            raise HospitalError(str(scored_dir), f"机构 {institution} 在{yr}赋分结果中没有病例")
        lv = con.execute("SELECT DISTINCT level FROM c WHERE institution_id = ?", [institution]).fetchall()[0][0]
        summary = {}
        scopes = [("institution", "institution_id = $id"), ("peers", "level = $lv AND institution_id <> $id"),
                  ("region", "true")]
        for scope, cond in scopes:
            params = {k: v for k, v in (("id", institution), ("lv", lv)) if f"${k}" in cond}
            row = con.execute(f"SELECT {SUMMARY_SQL} FROM c WHERE {cond}", params).fetchall()[0]
            names = [d[0] for d in con.description]
            summary[scope] = dict(zip(names, row))
        res = con.execute("SELECT * FROM c WHERE institution_id = ? ORDER BY case_id", [institution]).fetchall()
        names = [d[0] for d in con.description]
        case_rows = [dict(zip(names, r)) for r in res]
        groups = con.execute(f"""
            SELECT group_id, any_value(group_kind) AS group_kind, any_value(score) AS score, count(*) AS cases,
                   count(*) FILTER (WHERE deviation = 'high') AS high, count(*) FILTER (WHERE deviation = 'low') AS low,
                   count(*) FILTER (WHERE deviation = 'extreme') AS extreme, sum(points) AS points,
                   {div_round("sum(total_cost)", "count(*)", num_scale=2, scale=2)} AS mean_cost,
                   any_value(avg_cost) AS avg_cost
            FROM c WHERE institution_id = ? AND points IS NOT NULL GROUP BY group_id ORDER BY group_id""",
                             [institution]).fetchall()
        gnames = [d[0] for d in con.description]
        group_rows = [dict(zip(gnames, g)) for g in groups]
    finally:
        con.close()
    if lv is None:
        summary["peers"] = None
    for r in case_rows:
        r["explanation"] = explain(r, policy)
        r["amount"] = None if point_value is None or r["points"] is None else \
            (r["points"] * point_value).quantize(Q2, ROUND_HALF_UP)
    names = dict(zip(levels.column("institution_id").to_pylist(), levels.column("name").to_pylist())) \
        if "name" in levels.column_names else {}
    files = _write(out_dir, institution, year, lv, summary, case_rows, group_rows, point_value,
                   names.get(institution) or "")
    return HospitalView(institution, lv, summary, case_rows, group_rows, files)


def _tables(institution: str, lv, summary: dict, cases: list[dict], groups: list[dict],
            point_value: Decimal | None):
    peer_head = f"同级其他机构（{lv} 级）" if summary["peers"] is not None else "同级其他机构（未提供工作区）"
    s_headers = ["指标", f"本机构 {institution}", peer_head, "全区域"]
    s_rows = [[zh, cell_text(summary["institution"][k]),
               "" if summary["peers"] is None else cell_text(summary["peers"][k]), cell_text(summary["region"][k])]
              for k, zh in SUMMARY_ROWS]
    d_headers = DETAIL_HEADERS + (["金额（元）"] if point_value is not None else [])
    d_rows = []
    for r in cases:
        row = [r["case_id"], r["year"], r["group_id"] or "", GROUP_KIND_ZH.get(r["group_kind"], "") if r["group_kind"] else "",
               cell_text(r["primary_care"]) if r["group_id"] else "", cell_text(r["score"]), r["total_cost"],
               r["avg_cost"], cell_text(r["ratio"]), DEVIATION_ZH.get(r["deviation"], "") if r["deviation"] else "",
               cell_text(r["case_score"]), cell_text(r["coefficient"]), cell_text(r["points"]),
               STATUS_ZH.get(r["status"], r["status"]),
               REASONS_ZH.get(r["reason"], r["reason"] or ""), r["explanation"]]
        if point_value is not None:
            row.append(r["amount"])
        d_rows.append(row)
    g_rows = [[g["group_id"], GROUP_KIND_ZH.get(g["group_kind"], g["group_kind"]), cell_text(g["score"]), g["cases"], g["high"],
               g["low"], g["extreme"], cell_text(g["points"]), g["mean_cost"], g["avg_cost"]] for g in groups]
    return (s_headers, s_rows), (d_headers, d_rows), (GROUP_HEADERS, g_rows)


def _csv(headers: list[str], rows: list[list]) -> bytes:
    return rows_csv(headers, ([v if isinstance(v, str) else cell_text(v) for v in r] for r in rows))


def _write(out_dir: Path, institution: str, year: int | None, lv, summary: dict, cases: list[dict],
           groups: list[dict], point_value: Decimal | None, name: str = "") -> list[Path]:
    (sh, sr), (dh, dr), (gh, gr) = _tables(institution, lv, summary, cases, groups, point_value)
    who = f"{name}（{institution}）" if name else institution
    period = f"{year} 年度出院病例" if year is not None else "赋分结果中的全部出院病例"
    money_note = (f"金额 = 点数 × 点值 {point_value} 元/点，四舍五入到分" if point_value is not None else
                  "点值（第 3 部分，尚未建立）未给出：只列点数；给出 --point-value 时另列金额 = 点数 × 点值（四舍五入到分）")
    notes_s = [f"机构 {who} 病种分值概况（{period}）",
               ("CMI = 入组病例病种分值之和 ÷ 入组病例数 ÷ 1000；每点费用 = 入组病例医疗总费用之和 ÷ 点数之和；"
                "占比的分母为入组病例数；除法精确，四舍五入"),
               "同级其他机构：工作区 institutions 中等级相同的其他机构；全区域含本机构", money_note]
    notes_d = [f"机构 {who} 病例明细（{period}）",
               ("点数 = 病例分值 × 系数（基层病种系数为 1）；高倍率：分值 × ((费用 ÷ 病种平均费用 − 高倍率界值) + 1)；"
                "低倍率：分值 × 费用 ÷ 病种平均费用；特例单议终审点数取代公式点数"), money_note]
    notes_g = [f"机构 {who} 病种汇总（{period}，仅入组病例）", "次均费用 = 该机构该病种医疗总费用之和 ÷ 病例数，四舍五入到分"]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = safe_id(institution)  # (an institution code from the command line or data: never a path)
    files = [safe_path(out_dir, f"{stem}_病种分值", suffix=".xlsx")]
    write_workbook(files[0], workbook_sheets(who, lv, summary, cases, groups, point_value,
                                             (notes_s, notes_d, notes_g)))
    for name, (h, r) in (("概况", (sh, sr)), ("病例明细", (dh, dr)), ("病种汇总", (gh, gr))):
        p = safe_path(out_dir, f"{stem}_{name}", suffix=".csv")
        p.write_bytes(_csv(h, r))
        files.append(p)
    return files


# --- the workbook: typed columns (yibao.engine.excel) ------------------------------------------------

SUMMARY_KINDS = {"institutions": "count", "cases": "count", "grouped": "count", "ungroupable": "count",
                 "points": "weight", "cmi": "weight", "cost_per_point": "weight", "high_share": "share",
                 "low_share": "share", "extreme_share": "share", "comprehensive_share": "share"}
DETAIL_SHEET = (
    ("case_id", "病例号", "code"), ("year", "出院年度", "int"), ("group_id", "病种编码", "code"),
    ("group_name", "病种名称", "text"), ("group_kind", "病种类型", "text"), ("primary_care", "基层病种", "bool"),
    ("score", "病种分值", "score"),
    ("total_cost", "医疗总费用（元）", "money"), ("avg_cost", "病种平均费用（元）", "money"), ("ratio", "费用比", "weight"),
    ("deviation", "偏差类型", "text"), ("case_score", "病例分值", "score"), ("coefficient", "系数", "weight"),
    ("points", "点数", "weight"), ("status", "状态", "text"), ("reason", "未入组原因", "text"),
    ("explanation", "点数计算说明", "text"),
)
GROUP_SHEET = (
    ("group_id", "病种编码", "code"), ("group_name", "病种名称", "text"), ("group_kind", "病种类型", "text"),
    ("score", "病种分值", "score"), ("cases", "病例数", "count"), ("high", "高倍率", "count"), ("low", "低倍率", "count"),
    ("extreme", "极高倍率", "count"),
    ("points", "点数", "weight"), ("mean_cost", "次均费用（元）", "money"), ("avg_cost", "病种平均费用（元）", "money"),
)
DIP_LABELS = {"group_kind": GROUP_KIND_ZH, "deviation": DEVIATION_ZH, "status": STATUS_ZH, "reason": REASONS_ZH}


def workbook_sheets(institution: str, lv, summary: dict, cases: list[dict], groups: list[dict],
                    point_value: Decimal | None, notes: tuple) -> list[Sheet]:
    """概况 (one row per scope: the institution, its peers, the region), 病例明细 and 病种汇总, typed."""
    notes_s, notes_d, notes_g = notes
    peer = f"同级其他机构（{lv} 级）" if summary["peers"] is not None else "同级其他机构（未提供工作区）"
    scopes = [("institution", f"本机构 {institution}"), ("peers", peer), ("region", "全区域")]
    s_cols = [Col("范围")] + [Col(zh, SUMMARY_KINDS[k], total=False) for k, zh in SUMMARY_ROWS]
    s_rows = [[label] + [None if summary[scope] is None else summary[scope][k] for k, _ in SUMMARY_ROWS]
              for scope, label in scopes]
    detail = DETAIL_SHEET + ((("amount", "金额（元）", "money"),) if point_value is not None else ())
    names = code_names(find_standards(None))  # display only: the CHS-DRG dictionaries when they are found
    name = (lambda g: names.group(g)) if names else (lambda g: None)
    d_rows = [{**r, "primary_care": r["primary_care"] if r["group_id"] else None, "group_name": name(r["group_id"])}
              for r in cases]
    groups = [{**g, "group_name": name(g["group_id"])} for g in groups]
    skip = () if names else ("group_name",)
    totals = {"avg_cost": False, "points": True}
    return [Sheet("概况", s_cols, s_rows, notes_s, filter=False),
            table_sheet("病例明细", detail, d_rows, notes_d, labels=DIP_LABELS, total=True, totals=totals, skip=skip),
            table_sheet("病种汇总", GROUP_SHEET, groups, notes_g, labels=DIP_LABELS, total=True,
                        totals={**totals, "mean_cost": False}, skip=skip)]
