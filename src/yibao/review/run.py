"""Running a review (审核运行): sources → findings and the facts people read beside them.

The functions here take tables (or a workspace) and return a :class:`ReviewResult`; the command line
(:mod:`yibao.cli.review`) decides where the data come from (a region directory loaded into a temporary
workspace, or an existing workspace) and hands in the qualification periods of the staff capability.
Outputs (findings.csv, summaries, deductions, the workbook): :mod:`yibao.review.outputs`; recall and precision
against labels: :mod:`yibao.review.evaluation`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from yibao.contract.derived import QUALIFICATION_PERIODS, as_qualification_periods
from yibao.contract.errors import MissingData
from yibao.contract.standards import empty_cc_tables
from yibao.engine.runner import LocalRunner, Pipeline, Runner, query_arrow
from yibao.engine.workspace import Workspace, is_parquet_region, parquet_sources
from yibao.review.ruleset import RuleSet
from yibao.review.rulesql import build_pipeline

__all__ = ["FALLBACK_NOTE", "FINDINGS_COLUMNS", "LEARNED_STEPS", "SOURCE_TABLES", "Learned", "ReviewResult",
           "attach_facts", "fallback_notes", "learned", "learned_from_workspace", "run", "run_workspace"]

SOURCE_TABLES = ("cases", "insured", "institutions", "fee_items", "catalog")
FINDINGS_COLUMNS = ("case_id", "line_no", "rule_id", "severity", "amount", "message")


@dataclass
class ReviewResult:
    findings: pa.Table
    cases: pa.Table  # review_cases (case facts): institution and settlement date of every reviewed case
    counts: dict = field(default_factory=dict)  # reviewed cases / lines
    lines: pa.Table | None = None  # the fee lines that have findings: case_id, line_no, item_code, item_name, staff_id
    names: dict = field(default_factory=dict)  # "institutions" / "staff": (id, name) tables, for people reading
    references: pa.Table | None = None  # review_reference_prices: the learned reference unit prices (rule L10)
    dx_profiles: pa.Table | None = None  # review_dx_profiles: how the region treats each diagnosis category (C06)
    dx_evidence: pa.Table | None = None  # review_dx_evidence: the items that usually accompany each complication (C07)
    standards: bool = False  # the CHS-DRG complication tables were given (C07 judged CC/MCC, else the evidence table)
    notes: list = field(default_factory=list)  # Chinese notes for the user (printed once, in the summary too)


# the review without the CHS-DRG tables: C07 judges the evidence table's diagnoses only (said once, never silently)
FALLBACK_NOTE = ("注意：未提供 CHS-DRG 标准目录（--standards），高套规则 C07 仅按本地证据表 upcoding_evidence.toml 所列诊断判断，"
                 "未按 CC/MCC 并发症与本区学得的伴随项目判断")


def _with_standards(src: dict, standards: tuple[pa.Table, pa.Table] | None) -> dict:
    cc, cce = standards if standards is not None else empty_cc_tables()
    src.setdefault("cc_codes", cc)
    src.setdefault("cc_exclusions", cce)
    return src


def fallback_notes(rs: RuleSet, standards) -> list[str]:
    """The run's notes for people: :data:`FALLBACK_NOTE` when C07 is enabled and the standards are absent."""
    return [FALLBACK_NOTE] if standards is None and any(r.logic == "upcoding" for r in rs.enabled) else []


def run(sources: Mapping[str, object], rs: RuleSet, runner: Runner | None = None,
        periods: pa.Table | None = None, standards: tuple[pa.Table, pa.Table] | None = None) -> ReviewResult:
    """Run the enabled rules of ``rs`` over ``sources`` (contract table name → Arrow table or SQL relation).
    ``standards``: the CHS-DRG complication tables (:func:`yibao.contract.standards.cc_tables`); None: C07 judges the
    evidence table's diagnoses only (:data:`FALLBACK_NOTE` in ``notes``)."""
    runner = runner or LocalRunner()
    src = _with_standards(dict(sources), standards)
    src["qualification_periods"] = as_qualification_periods(
        periods if periods is not None else QUALIFICATION_PERIODS.empty_table())
    out = runner.run_pipeline(build_pipeline(rs), src)
    return ReviewResult(out["review_findings"], out["review_cases"], references=out.get("review_reference_prices"),
                        dx_profiles=out.get("review_dx_profiles"), dx_evidence=out.get("review_dx_evidence"),
                        standards=standards is not None, notes=fallback_notes(rs, standards))


def run_workspace(workspace: Path, rs: RuleSet, periods: pa.Table | None = None, engine: str = "duckdb",
                  threads: int | None = None, memory_limit: str | None = None,
                  standards: tuple[pa.Table, pa.Table] | None = None) -> ReviewResult:
    """Review every case of a workspace (opened read-only; DuckDB reads the tables in place, another engine
    gets them as Arrow tables). A Parquet region (``yibao load --engine spark``) is read by Spark where it lies."""
    if is_parquet_region(workspace):
        return _run_parquet(Path(workspace), rs, periods, engine, standards)
    if not (Path(workspace) / "yibao.duckdb").exists():
        raise MissingData(f"{workspace}：不是 yibao 工作区（缺少 yibao.duckdb），请先运行 yibao load")
    ws = Workspace(workspace, read_only=True)
    try:
        if threads:
            ws.con.execute(f"SET threads TO {int(threads)}")
        if memory_limit:
            ws.con.execute(f"SET memory_limit = '{memory_limit}'")
        ws.con.execute("SET preserve_insertion_order = false")
        src, runner = ws.sources(SOURCE_TABLES, engine)
        if engine == "duckdb":
            db = ws.con.execute("SELECT current_database()").fetchall()[0][0]
            res = run(src, rs, runner, periods, standards)
            res.counts = dict(zip(("cases", "lines"), ws.con.execute(
                "SELECT (SELECT count(*) FROM main.cases), (SELECT count(*) FROM main.fee_items)").fetchall()[0]))
            attach_facts(res, ws.con, src["fee_items"], src["institutions"], _staff_relation(ws.con, db))
            return res
        staff = query_arrow(ws.con, "SELECT staff_id, name FROM main.staff") if _staff_relation(ws.con, "") else None
    finally:
        ws.close()
    res = run(src, rs, runner, periods, standards)
    res.counts = {"cases": src["cases"].num_rows, "lines": src["fee_items"].num_rows}
    con = duckdb.connect()
    try:
        con.register("fee_items_src", src["fee_items"])
        con.register("institutions_src", src["institutions"])
        if staff is not None:
            con.register("staff_src", staff)
        attach_facts(res, con, "fee_items_src", "institutions_src", "staff_src" if staff is not None else None)
    finally:
        con.close()
    return res


def _run_parquet(region: Path, rs: RuleSet, periods: pa.Table | None, engine: str,
                 standards: tuple[pa.Table, pa.Table] | None = None) -> ReviewResult:
    """:func:`run_workspace` over a Parquet region on Spark: the rules run on the DataFrames; the facts beside the
    findings come from the fee lines Spark selects for them (a semi join) and the small name tables."""
    src, runner = parquet_sources(region, SOURCE_TABLES, engine)
    res = run(src, rs, runner, periods, standards)
    res.counts = {"cases": src["cases"].count(), "lines": src["fee_items"].count()}
    keys = res.findings.select(["case_id", "line_no"]).filter(pc.is_valid(res.findings.column("line_no")))
    con = duckdb.connect()
    try:
        con.register("fee_items_src", runner.semi_join(src["fee_items"], keys))
        con.register("institutions_src", runner.to_arrow(src["institutions"]))
        con.register("staff_src", runner.to_arrow(runner.parquet_table(region, "staff").select("staff_id", "name")))
        attach_facts(res, con, "fee_items_src", "institutions_src", "staff_src")
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


LEARNED_STEPS = ("review_cases", "review_reference_prices", "review_dx_profiles", "review_dx_evidence")


@dataclass(frozen=True)
class Learned:
    """What the review learns from the period's data (the learned steps' tables)."""

    references: pa.Table  # review_reference_prices (L10)
    dx_profiles: pa.Table  # review_dx_profiles (C06)
    dx_evidence: pa.Table  # review_dx_evidence (C07)


def learned(sources: Mapping[str, object], rs: RuleSet, runner: Runner | None = None,
            standards: tuple[pa.Table, pa.Table] | None = None) -> Learned:
    """Every table the review learns from the period's data, computed by the review's own steps over ``sources``
    (with the CHS-DRG complication tables when given), so that a per-case check judges a case against the same
    references as the review of the workspace."""
    steps = tuple(s for s in build_pipeline(rs).steps if s.name in LEARNED_STEPS)
    out = (runner or LocalRunner()).run_pipeline(Pipeline("review_learned", steps, doc="智能审核：从本期数据学习的参考值"),
                                                 _with_standards(dict(sources), standards))
    return Learned(out["review_reference_prices"], out["review_dx_profiles"], out["review_dx_evidence"])


def learned_from_workspace(workspace: Path, rs: RuleSet,
                           standards: tuple[pa.Table, pa.Table] | None = None) -> Learned:
    """:func:`learned` over a workspace's loaded tables (opened read-only, DuckDB reads them in place)."""
    if not (Path(workspace) / "yibao.duckdb").exists():
        raise MissingData(f"{workspace}：不是 yibao 工作区（缺少 yibao.duckdb），请先运行 yibao load")
    ws = Workspace(workspace, read_only=True)
    try:
        src, runner = ws.sources(SOURCE_TABLES, "duckdb")
        return learned(src, rs, runner, standards)
    finally:
        ws.close()

