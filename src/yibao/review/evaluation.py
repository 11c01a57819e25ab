"""Evaluation against injected labels (标签评估): per anomaly pattern, the case-level recall and precision of
the rules targeting it (``yibao review --evaluate labels.csv``).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from yibao.contract.readers import read_table
from yibao.contract.reasons import FatalLoadError
from yibao.contract.schema import LABEL_PATTERNS, TABLES
from yibao.engine.runner import query_arrow
from yibao.review.ruleset import RuleSet

__all__ = ["EVALUATION", "evaluate", "read_labels"]

EVALUATION = pa.schema([
    ("pattern", pa.string()), ("rules", pa.string()), ("labelled", pa.int64()), ("flagged", pa.int64()),
    ("true_positive", pa.int64()), ("recall", pa.decimal128(9, 4)), ("precision", pa.decimal128(9, 4)),
])


def read_labels(path: Path) -> pa.Table:
    raw = read_table(Path(path), TABLES["labels"])
    con = duckdb.connect()
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
    con = duckdb.connect()
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
                   CASE WHEN lab.labelled > 0 THEN CAST(round(CAST(fl.tp AS DECIMAL(18,4)) / lab.labelled, 4) AS DECIMAL(9,4))
                   END AS recall,
                   CASE WHEN fl.flagged > 0 THEN CAST(round(CAST(fl.tp AS DECIMAL(18,4)) / fl.flagged, 4) AS DECIMAL(9,4))
                   END AS precision
            FROM pats p JOIN lab USING (pattern) JOIN fl USING (pattern) ORDER BY p.pattern""").cast(EVALUATION)
    finally:
        con.close()
