"""Running a review (审核运行): sources → findings, summaries, deductions, evaluation against labels.

The functions here take tables (or workspace table names) and return tables; the command line
(:mod:`yibao.cli.review`) decides where the data come from (a region directory loaded into a temporary
workspace, or an existing workspace) and hands in the qualification periods of the staff capability.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import duckdb
import pyarrow as pa

from yibao.contract.derived import DEDUCTIONS, QUALIFICATION_PERIODS
from yibao.contract.schema import LABEL_PATTERNS, TABLES
from yibao.engine.csvfile import rows_csv_text
from yibao.engine.runner import LocalRunner, Runner, query_arrow, runner_for
from yibao.review.pipelines import build_pipeline
from yibao.review.ruleset import RuleSet

SOURCE_TABLES = ("cases", "insured", "institutions", "fee_items", "catalog")
FINDINGS_COLUMNS = ("case_id", "line_no", "rule_id", "severity", "amount", "message")


@dataclass
class ReviewResult:
    findings: pa.Table
    cases: pa.Table  # review_cases (case facts): institution and settlement date of every reviewed case
    counts: dict = field(default_factory=dict)  # reviewed cases / lines


def run(sources: Mapping[str, object], rs: RuleSet, runner: Runner | None = None,
        periods: pa.Table | None = None) -> ReviewResult:
    """Run the enabled rules of ``rs`` over ``sources`` (contract table name → Arrow table or SQL relation)."""
    runner = runner or LocalRunner()
    src = dict(sources)
    src["qualification_periods"] = (periods if periods is not None else QUALIFICATION_PERIODS.empty_table()) \
        .cast(QUALIFICATION_PERIODS)
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
            return res
        src = {n: query_arrow(ws.con, f"SELECT * FROM main.{n}").cast(TABLES[n].arrow_schema()) for n in SOURCE_TABLES}
    finally:
        ws.close()
    res = run(src, rs, runner_for(engine), periods)
    res.counts = {"cases": src["cases"].num_rows, "lines": src["fee_items"].num_rows}
    return res


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
    """findings.csv (contract columns, exactly), summaries, deductions.csv, rules.csv."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_csv(res.findings.select(list(FINDINGS_COLUMNS)), out_dir / "findings.csv")
    s = summaries(res, rs)
    for name, t in s.items():
        write_csv(t, out_dir / f"{name}.csv")
    write_csv(rules_table(rs), out_dir / "rules.csv")
    return s


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
