"""The outputs of a review (审核结果): findings.csv with its facts, the per-institution summaries, the
settlement deductions (DEDUCTIONS), rules.csv and the workbook for people (审核结果.xlsx).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa

from yibao.contract.derived import DEDUCTIONS
from yibao.contract.vocab import SETTING_ZH
from yibao.engine.csvfile import rows_csv_text
from yibao.engine.excel import Sheet, table_sheet, write_workbook
from yibao.engine.runner import query_arrow
from yibao.review.ruleset import RuleSet
from yibao.review.run import FINDINGS_COLUMNS, ReviewResult

__all__ = [
    "FINDINGS_EXTRA",
    "MAX_SHEET_ROWS",
    "WORKBOOK",
    "deductions_by_year",
    "findings_detail",
    "reference_table",
    "review_sheets",
    "rules_table",
    "summaries",
    "write_csv",
    "write_outputs",
]


def _con() -> duckdb.DuckDBPyConnection:
    return duckdb.connect()


def rules_table(rs: RuleSet) -> pa.Table:
    rows = [{"rule_id": r.id, "name": r.name, "category": r.category, "severity": r.severity, "amount_kind": r.amount,
             "window": r.window, "targets": r.targets, "enabled": r.enabled, "basis": r.basis} for r in rs.rules]
    return pa.Table.from_pylist(rows)


def summaries(res: ReviewResult, rs: RuleSet) -> dict[str, pa.Table]:
    """Per-institution summaries (by rule; top rules) and the settlement deductions (DEDUCTIONS shape)."""
    con = _con()
    try:
        con.register("findings", res.findings)
        con.register("cases", res.cases.select(["case_id", "institution_id", "settle_date", "setting"]))
        con.register("rules", rules_table(rs))
        by_rule = query_arrow(con, """
            SELECT c.institution_id, f.rule_id, r.name AS rule_name, f.severity,
                   count(*) AS findings, count(DISTINCT f.case_id) AS cases,
                   CAST(sum(CASE WHEN f.severity = 'reject' THEN f.amount ELSE 0 END) AS DECIMAL(18,2)) AS amount_rejected,
                   CAST(sum(CASE WHEN f.severity = 'warn' THEN f.amount ELSE 0 END) AS DECIMAL(18,2)) AS amount_flagged
            FROM findings f JOIN cases c USING (case_id) JOIN rules r USING (rule_id)
            GROUP BY ALL ORDER BY c.institution_id, f.rule_id""")
        con.register("by_rule", by_rule)
        top = query_arrow(con, """
            SELECT institution_id, rank, rule_id, rule_name, findings, amount_rejected FROM (
                SELECT *, row_number() OVER (PARTITION BY institution_id
                                             ORDER BY amount_rejected DESC, findings DESC, rule_id) AS rank
                FROM by_rule) WHERE rank <= 3 ORDER BY institution_id, rank""")
        inst = query_arrow(con, """
            SELECT c.institution_id, count(*) AS findings, count(DISTINCT f.case_id) AS cases_with_findings,
                   count(*) FILTER (WHERE f.severity = 'reject') AS reject_findings,
                   CAST(coalesce(sum(f.amount) FILTER (WHERE f.severity = 'reject'), 0) AS DECIMAL(18,2)) AS amount_rejected,
                   count(*) FILTER (WHERE f.severity = 'warn') AS warn_findings
            FROM findings f JOIN cases c USING (case_id) GROUP BY ALL ORDER BY c.institution_id""")
        ded = query_arrow(con, """
            SELECT c.institution_id, CAST(year(c.settle_date) AS INTEGER) AS year, c.setting, 'review' AS source,
                   CAST(sum(f.amount) AS DECIMAL(18,2)) AS amount, count(*) AS findings
            FROM findings f JOIN cases c USING (case_id) WHERE f.severity = 'reject'
            GROUP BY ALL ORDER BY c.institution_id, year, c.setting""").cast(DEDUCTIONS)
        return {"summary_by_institution": inst, "summary_by_rule": by_rule, "top_rules": top, "deductions": ded}
    finally:
        con.close()


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "1" if v else "0"
    return str(v)


def write_csv(table: pa.Table, path: Path) -> None:
    """UTF-8 CSV with BOM (opens in Excel), header unquoted, fields quoted only when needed, blank for null, money as
    12.30, text that a spreadsheet would run escaped (:func:`yibao.engine.csvfile.escape_text`)."""
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(rows_csv_text(table.column_names, ()))  # (the BOM and the header)
        for batch in table.to_batches(max_chunksize=65536):
            cols = [c.to_pylist() for c in batch.columns]
            fh.write(rows_csv_text(None, ([_cell(v) for v in row] for row in zip(*cols)), bom=False))


def reference_table(refs: pa.Table) -> pa.Table:
    """The learned reference prices for people (reference_prices.csv): per item code, price basis and
    institution level (``all`` = every level) the lines and institutions behind the reference, its median and
    MAD as a share of the catalogue cap (basis ``cap``) or as a unit price in yuan (basis ``price``)."""
    con = _con()
    try:
        con.register("refs", refs)
        return query_arrow(con, """
            SELECT item_code, CASE WHEN version_from > DATE '0001-01-01' THEN version_from END AS version_from, basis,
                   CASE inst_level WHEN -1 THEN 'all' WHEN -2 THEN 'unknown' ELSE CAST(inst_level AS VARCHAR) END
                       AS inst_level,
                   n_lines, n_institutions,
                   CASE basis WHEN 'cap' THEN CAST(CAST(median AS DECIMAL(18,0)) * 0.000001 AS DECIMAL(18,6)) END
                       AS median_share_of_cap,
                   CASE basis WHEN 'cap' THEN CAST(CAST(mad AS DECIMAL(18,0)) * 0.000001 AS DECIMAL(18,6)) END
                       AS mad_share_of_cap,
                   CASE basis WHEN 'price' THEN CAST(CAST(median AS DECIMAL(18,0)) * 0.01 AS DECIMAL(18,2)) END
                       AS median_unit_price,
                   CASE basis WHEN 'price' THEN CAST(CAST(mad AS DECIMAL(18,0)) * 0.01 AS DECIMAL(18,2)) END
                       AS mad_unit_price
            FROM refs ORDER BY item_code, refs.version_from, basis, refs.inst_level""")
    finally:
        con.close()


def dx_evidence_table(ev: pa.Table) -> pa.Table:
    """The learned accompanying items of complications for people (dx_evidence.csv, rule C07): per complication
    category, its items from the most frequent, with the counts behind support and lift."""
    con = _con()
    try:
        con.register("ev", ev)
        return query_arrow(con, """
            SELECT dx, n_dx_cases, item_code, item_name, n_with_item, n_item_cases, n_cases, support, lift
            FROM ev ORDER BY dx, n_with_item DESC, item_code""")
    finally:
        con.close()


NOTES = "notes.txt"  # the run's notes for people (e.g. C07 without the CHS-DRG tables), one per line


def write_outputs(res: ReviewResult, rs: RuleSet, out_dir: Path) -> dict[str, pa.Table]:
    """findings.csv (contract columns, then FINDINGS_EXTRA), summaries, deductions.csv, rules.csv, 审核结果.xlsx."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    detail = findings_detail(res)
    write_csv(detail.select(list(FINDINGS_COLUMNS + FINDINGS_EXTRA)), out_dir / "findings.csv")
    s = summaries(res, rs)
    for name, t in s.items():
        write_csv(t, out_dir / f"{name}.csv")
    write_csv(rules_table(rs), out_dir / "rules.csv")
    if res.references is not None:
        write_csv(reference_table(res.references), out_dir / "reference_prices.csv")
    if res.dx_evidence is not None:
        write_csv(dx_evidence_table(res.dx_evidence), out_dir / "dx_evidence.csv")
    if res.notes:
        (out_dir / NOTES).write_text("".join(f"{n}\n" for n in res.notes), encoding="utf-8")
    write_workbook(out_dir / WORKBOOK, review_sheets(detail, s, res))
    return s


# --- findings with their facts, and the workbook for people (审核结果.xlsx) ------------------------------------

# columns findings.csv adds after the contract's (settle_year: the year of the case's settlement date)
FINDINGS_EXTRA = ("institution_id", "person_id", "staff_id", "dept_code", "admit_date", "settle_year", "item_code")
WORKBOOK = "审核结果.xlsx"
# The 审核结果 sheet lists at most this many findings (a workbook is written cell by cell in memory; Excel
# itself holds 1,048,576 rows): beyond it the sheet says how many are left out and findings.csv has them all.
MAX_SHEET_ROWS = 200_000
SEVERITY_ZH = {"reject": "拒付", "warn": "提示"}
SOURCE_ZH = {"review": "智能审核"}


def findings_detail(res: ReviewResult) -> pa.Table:
    """Every finding (in its order) with its case's and line's facts and the names people read."""
    con = _con()
    try:
        f = res.findings
        con.register("findings", f.append_column("_i", pa.array(range(f.num_rows), pa.int64())))
        con.register("cases", res.cases)
        con.register("lines", res.lines if res.lines is not None else pa.table(
            {"case_id": pa.array([], pa.string()), "line_no": pa.array([], pa.int32()),
             "item_code": pa.array([], pa.string()), "item_name": pa.array([], pa.string()),
             "staff_id": pa.array([], pa.string())}))
        empty = pa.table({"id": pa.array([], pa.string()), "name": pa.array([], pa.string())})
        inst, staff = res.names.get("institutions"), res.names.get("staff")
        con.register("inst_names", inst.rename_columns(["id", "name"]) if inst is not None else empty)
        con.register("staff_names", staff.rename_columns(["id", "name"]) if staff is not None else empty)
        return query_arrow(con, """
            SELECT f.case_id, f.line_no, f.rule_id, f.severity, f.amount, f.message,
                   c.institution_id, c.person_id, coalesce(l.staff_id, c.attending_staff_id) AS staff_id,
                   c.dept_code, c.admit_date, CAST(year(c.settle_date) AS INTEGER) AS settle_year, l.item_code,
                   l.item_name, i.name AS institution_name, s.name AS staff_name, c.setting
            FROM findings f LEFT JOIN cases c USING (case_id)
            LEFT JOIN lines l ON l.case_id = f.case_id AND l.line_no = f.line_no
            LEFT JOIN inst_names i ON i.id = c.institution_id
            LEFT JOIN staff_names s ON s.id = coalesce(l.staff_id, c.attending_staff_id)
            ORDER BY f._i""")
    finally:
        con.close()


DETAIL_SHEET = (
    ("case_id", "病例号", "code"), ("line_no", "明细行号", "int"), ("rule_id", "规则编码", "code"),
    ("rule_name", "规则名称", "text"), ("severity", "审核结论", "text"), ("amount_rejected", "拒付金额", "money"),
    ("amount_flagged", "提示金额", "money"), ("message", "审核说明", "text"), ("institution_id", "机构编码", "code"),
    ("institution_name", "机构名称", "text"), ("dept_code", "科室", "code"), ("staff_name", "医师（人员）姓名", "text"),
    ("setting", "就医类型", "text"), ("admit_date", "入院（就诊）日期", "date"), ("settle_year", "结算年度", "int"),
    ("item_code", "项目编码", "code"), ("item_name", "项目名称", "text"),
)
INSTITUTION_SHEET = (
    ("institution_id", "机构编码", "code"), ("institution_name", "机构名称", "text"), ("findings", "审核结果条数", "count"),
    ("cases_with_findings", "涉及病例数", "count"), ("reject_findings", "拒付条数", "count"),
    ("amount_rejected", "拒付金额", "money"), ("warn_findings", "提示条数", "count"),
)
RULE_SHEET = (
    ("institution_id", "机构编码", "code"), ("institution_name", "机构名称", "text"), ("rule_id", "规则编码", "code"),
    ("rule_name", "规则名称", "text"), ("severity", "审核结论", "text"), ("findings", "审核结果条数", "count"),
    ("cases", "涉及病例数", "count"), ("amount_rejected", "拒付金额", "money"), ("amount_flagged", "提示金额", "money"),
)
DEDUCTION_SHEET = (
    ("year", "结算年度", "int"), ("institution_id", "机构编码", "code"), ("institution_name", "机构名称", "text"),
    ("setting", "就医类型", "text"), ("source", "扣款来源", "text"), ("findings", "拒付条数", "count"),
    ("amount", "应扣减金额", "money"),
)
LABELS = {"severity": SEVERITY_ZH, "setting": SETTING_ZH, "source": SOURCE_ZH}


def deductions_by_year(deductions: pa.Table) -> dict[int, Decimal]:
    """The settlement deductions per settlement year (a headline over several years would mix them)."""
    out: dict[int, Decimal] = {}
    for y, a in zip(deductions.column("year").to_pylist(), deductions.column("amount").to_pylist()):
        out[y] = out.get(y, Decimal("0.00")) + a
    return dict(sorted(out.items()))


def review_sheets(detail: pa.Table, s: dict[str, pa.Table], res: ReviewResult) -> list[Sheet]:
    """审核结果 (every finding, with institution and staff names, no id numbers of persons), 机构汇总 (a row per
    institution), 机构规则汇总 (institution × rule, filter by institution), 结算扣款 (per settlement year)."""
    inst = res.names.get("institutions")
    names = dict(zip(inst.column("institution_id").to_pylist(), inst.column("name").to_pylist())) if inst else {}
    rule_names = dict(zip(s["summary_by_rule"].column("rule_id").to_pylist(),
                          s["summary_by_rule"].column("rule_name").to_pylist()))
    rows = detail.slice(0, MAX_SHEET_ROWS).to_pylist()
    for r in rows:
        r["rule_name"] = rule_names.get(r["rule_id"], "")
        r["amount_rejected"] = r["amount"] if r["severity"] == "reject" else None
        r["amount_flagged"] = r["amount"] if r["severity"] == "warn" else None
    cut = detail.num_rows - len(rows)
    notes = ["智能审核结果（每条审核结果一行；不含参保人身份信息与人员代码，完整数据见 findings.csv）",
             "拒付金额：从结算中扣减；提示金额：提示核查，不扣减；金额单位：元"]
    if cut:
        notes.append(f"本表列出前 {len(rows):,} 条，另有 {cut:,} 条超出 Excel 行数上限，见 findings.csv")

    def named(t: pa.Table) -> list[dict]:
        return [{**r, "institution_name": names.get(r["institution_id"], "")} for r in t.to_pylist()]

    per_year = deductions_by_year(s["deductions"])
    head = "；".join(f"{y} 年 {a:,.2f} 元" for y, a in per_year.items()) or "无"
    return [
        table_sheet("审核结果", DETAIL_SHEET, rows, notes, labels=LABELS, total=True),
        table_sheet("机构汇总", INSTITUTION_SHEET, named(s["summary_by_institution"]),
                    ["各机构审核结果汇总（全部结算年度）"], total=True),
        table_sheet("机构规则汇总", RULE_SHEET, named(s["summary_by_rule"]),
                    ["各机构按规则汇总（用表头筛选查看一家机构）"], labels=LABELS, total=True),
        table_sheet("结算扣款", DEDUCTION_SHEET, named(s["deductions"]),
                    [f"结算应扣减（拒付金额，按结算年度）：{head}", "各年度的扣款分别计入该年度的结算"],
                    labels=LABELS, total=True),
    ]
