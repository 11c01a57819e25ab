"""Running a review (审核运行): sources → findings, summaries, deductions, evaluation against labels.

The functions here take tables (or workspace table names) and return tables; the command line
(:mod:`yibao.cli.review`) decides where the data come from (a region directory loaded into a temporary
workspace, or an existing workspace) and hands in the qualification periods of the staff capability.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Mapping

import duckdb
import pyarrow as pa

from yibao.contract.derived import DEDUCTIONS, QUALIFICATION_PERIODS, as_qualification_periods
from yibao.contract.schema import LABEL_PATTERNS, TABLES
from yibao.engine.csvfile import rows_csv_text
from yibao.engine.excel import Sheet, table_sheet, write_workbook
from yibao.engine.runner import LocalRunner, Runner, query_arrow
from yibao.engine.select import runner_for
from yibao.review.pipelines import build_pipeline
from yibao.review.ruleset import RuleSet

SOURCE_TABLES = ("cases", "insured", "institutions", "fee_items", "catalog")
FINDINGS_COLUMNS = ("case_id", "line_no", "rule_id", "severity", "amount", "message")


@dataclass
class ReviewResult:
    findings: pa.Table
    cases: pa.Table  # review_cases (case facts): institution and settlement date of every reviewed case
    counts: dict = field(default_factory=dict)  # reviewed cases / lines
    lines: pa.Table | None = None  # the fee lines that have findings: case_id, line_no, item_code, item_name, staff_id
    names: dict = field(default_factory=dict)  # "institutions" / "staff": (id, name) tables, for people reading


def run(sources: Mapping[str, object], rs: RuleSet, runner: Runner | None = None,
        periods: pa.Table | None = None) -> ReviewResult:
    """Run the enabled rules of ``rs`` over ``sources`` (contract table name → Arrow table or SQL relation)."""
    runner = runner or LocalRunner()
    src = dict(sources)
    src["qualification_periods"] = as_qualification_periods(
        periods if periods is not None else QUALIFICATION_PERIODS.empty_table())
    out = runner.run_pipeline(build_pipeline(rs), src)
    return ReviewResult(out["review_findings"], out["review_cases"])


def run_workspace(workspace: Path, rs: RuleSet, periods: pa.Table | None = None, engine: str = "duckdb",
                  threads: int | None = None, memory_limit: str | None = None) -> ReviewResult:
    """Review every case of a workspace (opened read-only; DuckDB reads the tables in place)."""
    from yibao.engine.workspace import Workspace

    if not (Path(workspace) / "yibao.duckdb").exists():
        raise FileNotFoundError(f"{workspace}：不是 yibao 工作区（缺少 yibao.duckdb），请先运行 yibao load")
    ws = Workspace(workspace, read_only=True)
    try:
        if threads:
            ws.con.execute(f"SET threads TO {int(threads)}")
        if memory_limit:
            ws.con.execute(f"SET memory_limit = '{memory_limit}'")
        ws.con.execute("SET preserve_insertion_order = false")
        if engine == "duckdb":
            db = ws.con.execute("SELECT current_database()").fetchall()[0][0]
            src = {n: f'"{db}".main.{n}' for n in SOURCE_TABLES}
            res = run(src, rs, runner_for("duckdb", con=ws.con), periods)
            res.counts = dict(zip(("cases", "lines"), ws.con.execute(
                "SELECT (SELECT count(*) FROM main.cases), (SELECT count(*) FROM main.fee_items)").fetchall()[0]))
            attach_facts(res, ws.con, src["fee_items"], src["institutions"], _staff_relation(ws.con, db))
            return res
        src = {n: query_arrow(ws.con, f"SELECT * FROM main.{n}").cast(TABLES[n].arrow_schema()) for n in SOURCE_TABLES}
        staff = query_arrow(ws.con, "SELECT staff_id, name FROM main.staff") if _staff_relation(ws.con, "") else None
    finally:
        ws.close()
    res = run(src, rs, runner_for(engine), periods)
    res.counts = {"cases": src["cases"].num_rows, "lines": src["fee_items"].num_rows}
    con = _con()
    try:
        con.register("fee_items_src", src["fee_items"])
        con.register("institutions_src", src["institutions"])
        if staff is not None:
            con.register("staff_src", staff)
        attach_facts(res, con, "fee_items_src", "institutions_src", "staff_src" if staff is not None else None)
    finally:
        con.close()
    return res


def _staff_relation(con, db: str) -> str | None:
    """The workspace's staff table as a relation name (None when the region has none)."""
    n = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'main' "
                    "AND table_name = 'staff'").fetchall()[0][0]
    if not n:
        return None
    return f'"{db}".main.staff' if db else "main.staff"


def attach_facts(res: ReviewResult, con, fee_items: str, institutions: str, staff: str | None) -> None:
    """The facts people read beside a finding (set-based, over the findings only): its fee line's item and
    staff, the institutions' and staff members' names."""
    con.register("review_findings_keys", res.findings.select(["case_id", "line_no"]))
    try:
        res.lines = query_arrow(con, f"""
            SELECT l.case_id, l.line_no, min(l.item_code) AS item_code, min(l.item_name) AS item_name,
                   min(l.staff_id) AS staff_id
            FROM {fee_items} l SEMI JOIN (SELECT DISTINCT case_id, line_no FROM review_findings_keys
                                          WHERE line_no IS NOT NULL) k
                 ON k.case_id = l.case_id AND k.line_no = l.line_no
            GROUP BY l.case_id, l.line_no""")
    finally:
        con.unregister("review_findings_keys")
    res.names["institutions"] = query_arrow(con, f"SELECT institution_id, name FROM {institutions}")
    if staff is not None:
        res.names["staff"] = query_arrow(con, f"SELECT staff_id, any_value(name) AS name FROM {staff} GROUP BY staff_id")


# --- outputs ------------------------------------------------------------------------------------------------

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
SETTING_ZH = {"inpatient": "住院", "outpatient": "门诊"}
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


# --- evaluation against injected labels -------------------------------------------------------------------------

EVALUATION = pa.schema([
    ("pattern", pa.string()), ("rules", pa.string()), ("labelled", pa.int64()), ("flagged", pa.int64()),
    ("true_positive", pa.int64()), ("recall", pa.decimal128(9, 4)), ("precision", pa.decimal128(9, 4)),
])


def read_labels(path: Path) -> pa.Table:
    from yibao.contract.readers import read_table
    from yibao.contract.reasons import FatalLoadError

    raw = read_table(Path(path), TABLES["labels"])
    con = _con()
    try:
        con.register("raw", raw.data)
        t = query_arrow(con, "SELECT DISTINCT trim(case_id) AS case_id, trim(pattern) AS pattern FROM raw "
                             "WHERE case_id IS NOT NULL AND pattern IS NOT NULL")
    finally:
        con.close()
    bad = sorted(set(t.column("pattern").to_pylist()) - set(LABEL_PATTERNS))
    if bad:
        raise FatalLoadError(str(path), f"未知的异常模式 {', '.join(bad[:5])}")
    return t


def evaluate(findings: pa.Table, labels: pa.Table, rs: RuleSet, reviewed_cases: pa.Table | None = None) -> pa.Table:
    """Per pattern: case-level recall and precision of the rules targeting it (a case is flagged for a
    pattern when any enabled rule targeting the pattern has a finding on it). Labels of cases that were not
    reviewed (quarantined) count as missed."""
    targets = pa.Table.from_pylist([{"rule_id": r.id, "pattern": r.targets} for r in rs.enabled if r.targets],
                                   schema=pa.schema([("rule_id", pa.string()), ("pattern", pa.string())]))
    con = _con()
    try:
        con.register("findings", findings.select(["case_id", "rule_id"]))
        con.register("labels", labels)
        con.register("targets", targets)
        return query_arrow(con, """
            WITH flagged AS (SELECT DISTINCT f.case_id, t.pattern FROM findings f JOIN targets t USING (rule_id)),
            pats AS (SELECT pattern, string_agg(rule_id, '|' ORDER BY rule_id) AS rules FROM targets GROUP BY pattern),
            lab AS (SELECT p.pattern, count(l.case_id) AS labelled FROM pats p LEFT JOIN labels l USING (pattern)
                    GROUP BY p.pattern),
            fl AS (SELECT p.pattern, count(f.case_id) AS flagged,
                          count(l.case_id) AS tp
                   FROM pats p LEFT JOIN flagged f USING (pattern)
                   LEFT JOIN labels l ON l.case_id = f.case_id AND l.pattern = f.pattern
                   GROUP BY p.pattern)
            SELECT p.pattern, p.rules, lab.labelled, fl.flagged, fl.tp AS true_positive,
                   CASE WHEN lab.labelled > 0 THEN CAST(round(CAST(fl.tp AS DECIMAL(18,4)) / lab.labelled, 4) AS DECIMAL(9,4)) END AS recall,
                   CASE WHEN fl.flagged > 0 THEN CAST(round(CAST(fl.tp AS DECIMAL(18,4)) / fl.flagged, 4) AS DECIMAL(9,4)) END AS precision
            FROM pats p JOIN lab USING (pattern) JOIN fl USING (pattern) ORDER BY p.pattern""").cast(EVALUATION)
    finally:
        con.close()
