"""``yibao assess``: read the workspace, run the indicator pipeline, score, write the files.

Outputs in ``out_dir`` (CSV: UTF-8 with BOM, blank = no value; rows in a fixed order):

- ``indicators.csv`` — the contract's file: ``institution_id,indicator,value``, institutions in code
  order, indicators in the contract's table order (``surgery_rate`` only with ``--standards``).
- ``extra_indicators.csv`` — the policy's indicators (复诊率, 择期手术率, 重症病人比例, 备药率,
  相关人员暂停/终止比例), same columns.
- ``indicators_by_pot.csv`` (``scheme,setting,indicator,value``), ``indicators_by_county.csv``
  (``region_code,indicator,value``), ``indicators_region.csv`` (``indicator,value``).
- ``peer_bands.csv`` — per institution and indicator: peers, quartiles, band, position, flag.
- ``scores.csv`` (breakdown with a ``total`` row per institution) and ``score_totals.csv``.
- ``assessment.xlsx`` — the same with Chinese headers, number formats and a chart per indicator.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from openpyxl import Workbook
from openpyxl.chart import BarChart, Reference
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from yibao.assess.overrun import OVERRUN_COLUMNS, RECTIFICATION, decompose, read_budget_clearing
from yibao.assess.pipelines import ASSESS, CODES_SCHEMA, SEVERE_DX_SCHEMA, STOCKING_SCHEMA, icu_table, params_table
from yibao.assess.policy import ALL_INDICATORS, CONTRACT_INDICATORS, KIND, POLICY_INDICATORS, SIX, ZH, AssessPolicy, load_policy
from yibao.assess.score import score_rows
from yibao.contract.derived import QUALIFICATION_PERIODS
from yibao.contract.errors import BadFile, MissingData
from yibao.engine.csvfile import csv_bytes, rows_csv
from yibao.engine.excel import FIXED_TIME, HEADER_FILL, MONEY_FORMAT, Col, Sheet, normalise_zip
from yibao.engine.excel import write_workbook as write_sheets
from yibao.engine.runner import LocalRunner, query_arrow
from yibao.engine.workspace import Workspace

RATE_FORMAT = "0.00%"
FILES = ("indicators.csv", "extra_indicators.csv", "indicators_by_pot.csv", "indicators_by_county.csv",
         "indicators_region.csv", "peer_bands.csv", "scores.csv", "score_totals.csv", "assessment.xlsx")
SCHEME_ZH = {"employee": "职工", "resident": "城乡居民"}
SETTING_ZH = {"inpatient": "住院", "outpatient": "门诊"}
POSITION_ZH = {"above": "高于同级区间", "below": "低于同级区间", "within": "同级区间内"}


@dataclass
class AssessResult:
    year: int
    institutions: int
    cases: int
    flagged: int
    scored: int
    with_standards: bool
    with_stocking: bool
    with_severe: bool
    out_dir: Path
    files: tuple[str, ...]
    bands: list[dict]
    totals: list[dict]


def _read_codes(path: Path, what: str) -> list[str]:
    if not path.is_file():
        raise BadFile(f"{path}: 标准目录中没有 {path.name}（{what}）")
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        if "code" not in (reader.fieldnames or []):
            raise BadFile(f"{path}: 缺少列 code")
        return sorted({r["code"].strip() for r in reader if (r.get("code") or "").strip()})


def standards_tables(standards: Path | None) -> tuple[pa.Table, pa.Table | None]:
    """(valid procedures, severe diagnoses) of a CHS-DRG standards dir: empty procedures without one;
    severe diagnoses None when the dir has no ``mcc.csv`` (重症病人比例 is then not computed)."""
    if standards is None:
        return pa.table({"code": []}, schema=CODES_SCHEMA), None
    std = Path(standards)
    if not std.is_dir():
        raise BadFile(f"{std}: 标准目录不存在")
    procs = _read_codes(std / "valid_procedures.csv", "手术操作编码")
    if not (std / "mcc.csv").is_file():
        return pa.table({"code": procs}, schema=CODES_SCHEMA), None
    mcc = _read_codes(std / "mcc.csv", "严重并发症或合并症 MCC")
    cc = _read_codes(std / "cc.csv", "并发症或合并症 CC") if (std / "cc.csv").is_file() else []
    sev = [(c, "mcc") for c in mcc] + [(c, "cc") for c in cc]
    return (pa.table({"code": procs}, schema=CODES_SCHEMA),
            pa.table({"code": [c for c, _ in sev], "kind": [k for _, k in sev]}, schema=SEVERE_DX_SCHEMA))


def stocking_table(path: Path | None) -> pa.Table:
    """The stocking list (备药清单: ``institution_id,item_code``, one row per drug an institution stocks)."""
    if path is None:
        return pa.table({"institution_id": [], "item_code": []}, schema=STOCKING_SCHEMA)
    p = Path(path)
    if not p.is_file():
        raise BadFile(f"{p}: 备药清单文件不存在")
    try:
        with p.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            missing = [c for c in ("institution_id", "item_code") if c not in (reader.fieldnames or [])]
            if missing:
                raise BadFile(f"{p}: 备药清单缺少列 {', '.join(missing)}")
            data = [((r["institution_id"] or "").strip(), (r["item_code"] or "").strip()) for r in reader]
    except UnicodeDecodeError as exc:
        raise BadFile(f"{p}: 不是 UTF-8 编码（字节位置 {exc.start}）") from None
    data = [(a, b) for a, b in data if a and b]
    return pa.table({"institution_id": [a for a, _ in data], "item_code": [b for _, b in data]}, schema=STOCKING_SCHEMA)


def compute(workspace: Path, year: int, *, policy: AssessPolicy, standards: Path | None = None,
            stocking: Path | None = None, periods: pa.Table | None = None) -> dict:
    """The pipeline's tables and the scores (nothing written)."""
    procs, severe = standards_tables(standards)
    stock = stocking_table(stocking)
    periods = periods if periods is not None else QUALIFICATION_PERIODS.empty_table()
    with Workspace(workspace, read_only=True) as ws:
        con = ws.con
        n_cases = con.execute("SELECT count(*) FROM main.cases WHERE year(settle_date) = ?", [year]).fetchall()[0][0]
        if n_cases == 0:
            years = [r[0] for r in con.execute(
                "SELECT DISTINCT year(settle_date) FROM main.cases WHERE settle_date IS NOT NULL ORDER BY 1").fetchall()]
            raise MissingData(f"{workspace}: 没有 {year} 年结算的病例（工作区中有结算年度："
                              f"{'、'.join(map(str, years)) or '无'}）")
        db = con.execute("SELECT current_database()").fetchall()[0][0]
        sources = {n: f'"{db}".main.{n}' for n in ("cases", "fee_items", "institutions", "catalog", "staff")}
        sources.update({ "assess_periods": periods.cast(QUALIFICATION_PERIODS),
                        "assess_params": params_table(policy, year, standards is not None, severe is not None),
                        "assess_procedures": procs,
                        "assess_severe_dx": severe if severe is not None else SEVERE_DX_SCHEMA.empty_table(),
                        "assess_icu": icu_table(policy),
                        "assess_stocking": stock})
        out = LocalRunner(con=con).run_pipeline(ASSESS, sources)
        inst = query_arrow(con, "SELECT institution_id, name, kind, level, region_code FROM main.institutions")
    names = {r["institution_id"]: r for r in inst.to_pylist()}
    bands = out["assess_bands"].to_pylist()
    regions = {k: v["region_code"] for k, v in names.items()}
    rows, totals = score_rows(bands, regions, policy, year)
    return {"values": out["assess_values"], "bands": bands, "scores": rows, "totals": totals, "institutions": names,
            "cases": n_cases, "severe": severe is not None}


def _long(values: pa.Table, grain: str, indicators: tuple[str, ...]) -> pa.Table:
    t = values.filter(pc.and_(pc.equal(values["grain"], grain), pc.is_in(values["indicator"], pa.array(indicators))))
    return t.sort_by([("unit_id", "ascending"), ("ord", "ascending")])


def _csv(header: list[str], rows: list[list[object]]) -> bytes:
    """Through the project's one CSV writer (BOM, formula-like text escaped); booleans as true/false."""
    return rows_csv(header, [[("true" if v else "false") if isinstance(v, bool) else v for v in r] for r in rows])


def assess(workspace: Path, year: int, out_dir: Path, *, policy: Path | None = None, standards: Path | None = None,
           stocking: Path | None = None, periods: pa.Table | None = None, budget: Path | None = None,
           scored: pa.Table | None = None, issued_on=None) -> AssessResult:
    """Compute and write every output (see the module doc); returns a summary for the command's lines. ``budget``
    (a ``yibao budget --out`` directory) and ``scored`` (``dip score``'s cases): the overrun analysis and the
    rectification notices of the institutions over their target (:mod:`yibao.assess.overrun`)."""
    pol = load_policy(policy)
    rect = RECTIFICATION.load(policy)  # [rectification] of the same policy file (other tables are assess's own)
    res = compute(Path(workspace), year, policy=pol, standards=standards, stocking=stocking, periods=periods)
    values, bands = res["values"], res["bands"]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ind = _long(values, "institution", CONTRACT_INDICATORS)
    (out / "indicators.csv").write_bytes(csv_bytes(ind.rename_columns(
        ["grain", "institution_id", "indicator", "ord", "value"]), ["institution_id", "indicator", "value"]))
    extra = _long(values, "institution", POLICY_INDICATORS)
    (out / "extra_indicators.csv").write_bytes(_csv(["institution_id", "indicator", "value"], [
        [r["unit_id"], r["indicator"], r["value"]] for r in extra.to_pylist()]))
    pot = _long(values, "pot", ALL_INDICATORS).to_pylist()
    (out / "indicators_by_pot.csv").write_bytes(_csv(["scheme", "setting", "indicator", "value"], [
        [*r["unit_id"].split("/", 1), r["indicator"], r["value"]] for r in pot]))
    county = _long(values, "county", ALL_INDICATORS).to_pylist()
    (out / "indicators_by_county.csv").write_bytes(_csv(["region_code", "indicator", "value"], [
        [r["unit_id"], r["indicator"], r["value"]] for r in county]))
    region = _long(values, "region", ALL_INDICATORS).to_pylist()
    (out / "indicators_region.csv").write_bytes(_csv(["indicator", "value"], [[r["indicator"], r["value"]] for r in region]))
    band_cols = ["institution_id", "indicator", "kind", "level", "value", "peers", "q1", "median", "q3", "band_low",
                 "band_high", "position"]
    (out / "peer_bands.csv").write_bytes(_csv(band_cols + ["flag"], [
        [b[c] for c in band_cols] + [None if b["position"] is None else b["position"] != "within"] for b in bands]))
    score_cols = ["institution_id", "indicator", "value", "target", "target_source", "direction", "zero_at", "weight",
                  "applicable", "points", "note"]
    (out / "scores.csv").write_bytes(_csv(score_cols, [[r[c] for c in score_cols] for r in res["scores"]]))
    (out / "score_totals.csv").write_bytes(_csv(["institution_id", "score", "points", "applicable_weight"], [
        [t["institution_id"], t["score"], t["points"], t["applicable_weight"]] for t in res["totals"]]))
    write_workbook(out / "assessment.xlsx", year, res, pol)
    files = FILES
    if budget is not None:
        over = decompose(read_budget_clearing(budget), scored if scored is not None else SCORED_EMPTY, year, rect,
                         issued_on)
        (out / "overrun.csv").write_bytes(_csv(list(OVERRUN_COLUMNS), [[r[c] for c in OVERRUN_COLUMNS] for r in over]))
        write_overrun_workbook(out / "超总额原因分析.xlsx", year, over, rect)
        files = FILES + ("overrun.csv", "超总额原因分析.xlsx")
    flagged = len({b["institution_id"] for b in bands if b["position"] in ("above", "below")})
    return AssessResult(year, len({b["institution_id"] for b in bands}), res["cases"], flagged,
                        sum(t["score"] is not None for t in res["totals"]), standards is not None, stocking is not None,
                        res["severe"], out, files, bands, res["totals"])


SCORED_EMPTY = pa.table({"scheme": pa.array([], pa.string()), "institution_id": pa.array([], pa.string()),
                         "settle_year": pa.array([], pa.int32()), "score": pa.array([], pa.decimal128(18, 4))})
OVERRUN_ZH = {
    "pot": ("项目", "text"), "institution_id": ("机构编码", "code"), "name": ("机构名称", "text"),
    "target": ("年度指标", "money"),
    "booked": ("记账金额", "money"), "overrun": ("超支", "money"), "overrun_rate": ("超支率", "share"),
    "cases_base": ("指标测算人次（近三年加权）", "weight"), "cases": ("当年人次", "count"),
    "cost_per_case_base": ("指标例均", "money"), "cost_per_case": ("当年例均", "money"), "cmi_base": ("基期 CMI", "weight"),
    "cmi": ("当年 CMI", "weight"), "volume_effect": ("人次因素", "money"), "case_mix_effect": ("病例组合因素", "money"),
    "cost_effect": ("例均费用因素", "money"), "main_driver": ("主要原因", "text"), "opinion": ("整改意见", "text"),
    "issued_on": ("下发日期", "date"), "response_due": ("报送期限", "date"), "response": ("机构反馈", "text"),
    "follow_up_on": ("跟踪日期", "date"),
}


def write_overrun_workbook(path: Path, year: int, rows: list[dict], rect) -> None:
    cols = [Col(OVERRUN_ZH[c][0], OVERRUN_ZH[c][1], total=OVERRUN_ZH[c][1] == "money") for c in OVERRUN_COLUMNS]
    notes = [f"{year} 年超出年度指标的机构：超支 = 人次因素 + 病例组合因素 + 例均费用因素（到分，三者之和等于超支）",
             "依据：人社部发〔2012〕70号 三（五）；方法见 docs/assess.md；机构反馈与跟踪由经办机构填写"]
    params = [[k, v, src] for k, v, src in rect.rows()]
    write_sheets(path, [Sheet("超总额原因分析", cols, [[r[c] for c in OVERRUN_COLUMNS] for r in rows], notes, total=bool(rows)),
                        Sheet("参数", ["参数", "取值", "来源"], params, ["整改意见的期限参数"])])


# --- the workbook ---------------------------------------------------------------------------------------

def _fmt(indicator: str) -> str:
    kind = KIND.get(indicator, "rate")
    return {"count": "0", "money": MONEY_FORMAT, "days": "0.00", "ratio": "0.0000", "rate": RATE_FORMAT}[kind]


def _sheet(wb: Workbook, title: str, notes: list[str], headers: list[str], rows: list[list[object]],
           formats: dict[int, str] | None = None) -> tuple[object, int]:
    ws = wb.create_sheet(title=title[:31])
    r = 1
    for i, note in enumerate(notes):
        ws.cell(row=r, column=1, value=note).font = Font(bold=(i == 0), size=12 if i == 0 else 10)
        r += 1
    if notes:
        r += 1
    header_row = r
    for c, h in enumerate(headers, start=1):
        cell = ws.cell(row=r, column=c, value=h)
        cell.font = Font(bold=True)
        cell.fill = HEADER_FILL
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        ws.column_dimensions[get_column_letter(c)].width = max(10, min(30, len(h) * 2 + 2))
    for row in rows:
        r += 1
        for c, v in enumerate(row, start=1):
            cell = ws.cell(row=r, column=c, value=v)  # a Decimal is written exactly (no float)
            fmt = (formats or {}).get(c)
            if callable(fmt):
                fmt = fmt(row)
            if fmt:
                cell.number_format = fmt
    ws.freeze_panes = ws.cell(row=header_row + 1, column=1)
    return ws, header_row


def write_workbook(path: Path, year: int, res: dict, pol: AssessPolicy) -> None:
    wb = Workbook()
    wb.remove(wb.active)
    names = res["institutions"]
    values = res["values"].to_pylist()
    present = [i for i in ALL_INDICATORS if any(v["indicator"] == i and v["grain"] == "institution" for v in values)]
    by = {(v["unit_id"], v["indicator"]): v["value"] for v in values if v["grain"] == "institution"}
    insts = sorted({v["unit_id"] for v in values if v["grain"] == "institution"})
    level_zh = {0: "未定级", 1: "一级", 2: "二级", 3: "三级"}
    kind_zh = {"hospital": "医院", "primary": "基层医疗卫生机构", "pharmacy": "定点零售药店"}
    head = ["机构编码", "机构名称", "机构类型", "级别", "区县代码"]
    rows = []
    for i in insts:
        n = names.get(i, {})
        rows.append([i, n.get("name"), kind_zh.get(n.get("kind"), n.get("kind")), level_zh.get(n.get("level"), n.get("level")),
                     n.get("region_code"), *[by.get((i, k)) for k in present]])
    ws, hr = _sheet(wb, "机构指标", [f"{year} 年定点医药机构考核指标",
                                 "数值精确到 4 位小数（四舍五入）；空白：分母为 0；CSV 为准确记录"],
                    head + [ZH[k] for k in present], rows, {len(head) + j + 1: _fmt(k) for j, k in enumerate(present)})
    charts = wb.create_sheet("图表")
    for j, k in enumerate(present):
        ch = BarChart()
        ch.type = "col"
        ch.title = ZH[k]
        ch.legend = None
        ch.height, ch.width = 7, 16
        col = len(head) + j + 1
        ch.add_data(Reference(ws, min_col=col, min_row=hr, max_row=hr + len(rows)), titles_from_data=True)
        ch.set_categories(Reference(ws, min_col=1, min_row=hr + 1, max_row=hr + len(rows)))
        ch.y_axis.numFmt = _fmt(k)
        charts.add_chart(ch, f"{'A' if j % 2 == 0 else 'K'}{1 + (j // 2) * 15}")

    def grain_rows(grain: str) -> list[dict]:
        return sorted((v for v in values if v["grain"] == grain), key=lambda v: (v["unit_id"], v["ord"]))

    def fmt_by_indicator(col: int):
        return lambda row: _fmt(row[col])

    pot = [[SCHEME_ZH.get(v["unit_id"].split("/")[0]), SETTING_ZH.get(v["unit_id"].split("/")[1]), ZH[v["indicator"]],
            v["value"], v["indicator"]] for v in grain_rows("pot")]
    _sheet(wb, "基金池", [f"{year} 年按险种×就诊类型（基金池）汇总"], ["险种", "就诊类型", "指标", "指标值", "指标代码"], pot,
           {4: fmt_by_indicator(4)})
    county = [[v["unit_id"], ZH[v["indicator"]], v["value"], v["indicator"]] for v in grain_rows("county")]
    _sheet(wb, "区县", [f"{year} 年按区县（机构所在行政区划）汇总"], ["区县代码", "指标", "指标值", "指标代码"], county,
           {3: fmt_by_indicator(3)})
    region = [[ZH[v["indicator"]], v["value"], v["indicator"]] for v in grain_rows("region")]
    _sheet(wb, "全区", [f"{year} 年全统筹区"], ["指标", "指标值", "指标代码"], region, {2: fmt_by_indicator(2)})
    bands = [[b["institution_id"], names.get(b["institution_id"], {}).get("name"), ZH[b["indicator"]], b["value"], b["peers"],
              b["q1"], b["median"], b["q3"], b["band_low"], b["band_high"], POSITION_ZH.get(b["position"], "不足以比较"),
              b["indicator"]] for b in res["bands"]]
    _sheet(wb, "同级对比", [f"{year} 年同类别同级别机构对比",
                         "四分位数：顺序统计量间线性插值（同 Excel QUARTILE.INC）；区间 = [Q1 − "
                         f"{pol.iqr_multiple.normalize()}×IQR, "
                         f"Q3 + {pol.iqr_multiple.normalize()}×IQR]；同级机构少于 {pol.min_peers} 家不比较"],
           ["机构编码", "机构名称", "指标", "指标值", "同级机构数", "下四分位数", "中位数", "上四分位数", "区间下限", "区间上限",
            "位置",
            "指标代码"], bands, {c: fmt_by_indicator(11) for c in (4, 6, 7, 8, 9, 10)})
    scores = [[s["institution_id"], names.get(s["institution_id"], {}).get("name"),
               "总分" if s["indicator"] == "total" else ZH[s["indicator"]], s["value"], s["target"], s["target_source"],
               {"lower": "越低越好", "higher": "越高越好"}.get(s["direction"], ""), s["weight"], s["points"], s["note"],
               s["indicator"]] for s in res["scores"]]
    _sheet(wb, "考核得分", [f"{year} 年考核得分", "得分 = 权重 × 达标程度；总分 = 得分之和 ÷ 适用权重之和 × 100"],
           ["机构编码", "机构名称", "指标", "指标值", "目标值", "目标来源", "方向", "权重", "得分", "说明", "指标代码"], scores,
           {4: lambda row: "0.00" if row[10] == "total" else _fmt(row[10]),
            5: lambda row: _fmt(row[10]), 8: "0.00", 9: "0.00"})
    defs = [[k, ZH[k], "合同（数据合同“机构指标”）" if k in CONTRACT_INDICATORS else pol.indicator_docs[k]["source"],
             "" if k in CONTRACT_INDICATORS else pol.indicator_docs[k]["definition"],
             "是" if k in SIX else ""] for k in ALL_INDICATORS]
    _sheet(wb, "指标定义", ["指标定义与来源（详见 docs/assess.md）", "福建“六指标”：闽劳社文〔2003〕344号 六"],
           ["指标代码", "指标", "来源", "定义", "福建“六指标”"], defs)
    wb.properties.created = FIXED_TIME
    wb.properties.modified = FIXED_TIME
    wb.properties.creator = "yibao"
    buf = io.BytesIO()
    wb.save(buf)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(normalise_zip(buf.getvalue()))


