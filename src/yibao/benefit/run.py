"""``yibao benefit``: the calculator and check B01 over a loaded workspace, written to an output directory.

Outputs (CSV, UTF-8 with BOM):

- ``benefit.csv``: every case settled in the year with its parts (甲类/乙类/丙类, 起付线, 费用段, 封顶) and the
  difference to the booked ``fund_paid``;
- ``findings.csv``: the B01 findings in the review's columns (``case_id,line_no,rule_id,severity,amount,message``);
- ``summary.csv``: counts and sums per scheme and benefit setting, and (with ``labels``) recall and precision.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path

import duckdb
import pyarrow as pa

from yibao.benefit.check import FINDINGS_COLUMNS, findings, score_labels
from yibao.benefit.compute import RESULT_COLUMNS, Sources, compute, region_match_sql
from yibao.benefit.policy import load_policy
from yibao.contract.errors import BadFile, MissingData
from yibao.contract.params import Values
from yibao.contract.vocab import MONEY_SQL, sql_str
from yibao.engine.csvfile import csv_bytes
from yibao.engine.workspace import Workspace

CATALOG_COLUMNS = ("item_code", "class", "self_pay_ratio", "valid_from", "valid_to")


def read_catalogs(con: duckdb.DuckDBPyConnection, files: Mapping[str, Path]) -> tuple[tuple[str, str], ...]:
    """Place-of-care catalogues (就医地目录, the contract's ``catalog`` columns; region code → CSV file) as temporary
    tables; a file without the columns, or with a class other than A/B/C, is refused naming it."""
    out = []
    for i, (region, path) in enumerate(sorted(files.items())):
        if not (len(region) == 6 and region.isdigit()):
            raise BadFile(f"{region}: 就医地目录的地区代码应为 6 位行政区划代码")
        name = f"_catalog_{i}"
        try:
            con.execute(f"CREATE OR REPLACE TEMP TABLE {name}_raw AS SELECT * FROM read_csv({sql_str(str(path))}, header=true, "
                        "all_varchar=true)")
        except duckdb.Error as exc:
            raise BadFile(f"{path}: 无法读取就医地目录（{str(exc).splitlines()[0]}）") from None
        have = {r[0] for r in con.execute(f"DESCRIBE {name}_raw").fetchall()}
        missing = [c for c in CATALOG_COLUMNS if c not in have and c not in ("self_pay_ratio", "valid_to")]
        if missing:
            raise BadFile(f"{path}: 就医地目录缺少列 {', '.join(missing)}")
        opt = {c: (c if c in have else "NULL") for c in CATALOG_COLUMNS}
        try:
            con.execute(f"""CREATE OR REPLACE TEMP TABLE {name} AS SELECT trim(item_code) AS item_code, trim(class) AS class,
                CAST(nullif(trim({opt['self_pay_ratio']}), '') AS DECIMAL(9,4)) AS self_pay_ratio,
                CAST(trim(valid_from) AS DATE) AS valid_from,
                CAST(nullif(trim({opt['valid_to']}), '') AS DATE) AS valid_to FROM {name}_raw""")
        except duckdb.Error as exc:
            raise BadFile(f"{path}: 就医地目录有无法识别的值（{str(exc).splitlines()[0]}）") from None
        bad = con.execute(f"SELECT count(*) FROM {name} WHERE class NOT IN ('A', 'B', 'C') OR class IS NULL").fetchall()[0][0]
        if bad:
            raise BadFile(f"{path}: 就医地目录有 {bad} 行的甲乙丙类（class）不是 A/B/C")
        out.append((region, name))
    return tuple(out)


def workspace_sources(ws: Workspace, catalogs: tuple[tuple[str, str], ...] = ()) -> Sources:
    src, _ = ws.sources(("cases", "fee_items", "catalog", "institutions", "insured"))
    return Sources(src["cases"], src["fee_items"], src["catalog"], src["institutions"], src["insured"], catalogs)


def compute_workspace(ws: Workspace, policy: Values, year: int | None = None,
                      catalogs: Mapping[str, Path] | None = None, extra_base: str | None = None,
                      explain_kinds: tuple[str, ...] = ()) -> pa.Table:
    """The calculator over a workspace's tables (and place-of-care catalogue files); ``extra_base``: more cost-base
    rows (manual claims) accumulated with the cases; ``explain_kinds``: row kinds that get the ``arithmetic``."""
    if ws.con.execute("SELECT count(*) FROM cases").fetchall()[0][0] == 0:
        raise MissingData(f"{ws.path}: 工作区没有结算清单（cases），先运行 yibao load")
    cats = read_catalogs(ws.con, catalogs or {})
    return compute(ws.con, workspace_sources(ws, cats), policy, year, extra_base, explain_kinds)


def run(workspace: Path, out_dir: Path, policy_path: Path | None = None, year: int | None = None,
        catalogs: Mapping[str, Path] | None = None, labels: Path | None = None) -> dict:
    """Compute, check and write ``benefit.csv``, ``findings.csv``, ``summary.csv`` into ``out_dir``; the summary."""
    policy = load_policy(policy_path)
    y = policy["benefit.year"] if year is None else year
    region = policy["benefit.region_code"]
    with Workspace(workspace, read_only=True) as ws:
        result = compute_workspace(ws, policy, y, catalogs)
        found = findings(ws.con, result, policy["benefit.tolerance"], region)
        ws.con.register("_r", result)
        local = region_match_sql("insured_region", region)
        summary_rows = ws.con.execute(f"""
            SELECT scheme, benefit_setting, count(*) AS cases, sum(total_cost)::{MONEY_SQL},
                   sum(fund_computed)::{MONEY_SQL}, sum(booked_fund)::{MONEY_SQL},
                   count(*) FILTER (WHERE over_cap > 0) AS capped
            FROM _r WHERE {local} GROUP BY ALL ORDER BY ALL""").fetchall()
        inbound = ws.con.execute(f"SELECT count(*) FROM _r WHERE NOT ({local})").fetchall()[0][0]
        ws.con.unregister("_r")
    out_dir = Path(out_dir)
    (out_dir / "benefit.csv").write_bytes(csv_bytes(result, list(RESULT_COLUMNS)))
    (out_dir / "findings.csv").write_bytes(csv_bytes(found, list(FINDINGS_COLUMNS)))
    summary = {"year": y, "region_code": region, "cases": result.num_rows, "inbound_not_checked": inbound,
               "findings": found.num_rows,
               "reject": sum(1 for s in found.column("severity").to_pylist() if s == "reject"),
               "rows": summary_rows}
    if labels is not None:
        computed = set(result.column("row_id").to_pylist())  # labels of cases settled in the year
        summary["labels"] = score_labels(set(found.column("case_id").to_pylist()),
                                         read_booking_labels(labels) & computed)
    lines = [["scheme", "benefit_setting", "cases", "total_cost", "fund_computed", "fund_booked", "capped_cases"]]
    lines += [[str(x) for x in r] for r in summary_rows]
    if "labels" in summary:
        lab = summary["labels"]
        lines.append(["labels", "booking_error", str(lab["labelled"]), "", f"recall={lab['recall']}",
                      f"precision={lab['precision']}", str(lab["true_positives"])])
    with open(out_dir / "summary.csv", "w", encoding="utf-8-sig", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(lines)
    return summary


def read_booking_labels(path: Path) -> set[str]:
    """The case ids of ``benefit_labels.csv`` (written by ``yibao synth --benefit``)."""
    try:
        with open(path, encoding="utf-8") as f:
            return {r["case_id"] for r in csv.DictReader(f)}
    except (OSError, KeyError) as exc:
        raise BadFile(f"{path}: 无法读取记账错误标签（{exc}）") from None
