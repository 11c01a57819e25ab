"""A tiny in-memory region for the calculator's hand-computed tests."""

from __future__ import annotations

import duckdb

from yibao.benefit.compute import Sources

CATALOG = [
    # item_code, class, self_pay_ratio, valid_from, valid_to
    ("A1", "A", None, "2020-01-01", None),
    ("B1", "B", "0.10", "2020-01-01", None),
    ("B2", "B", "0.15", "2020-01-01", "2024-12-31"),
    ("B2", "B", "0.20", "2025-01-01", None),
    ("C1", "C", None, "2020-01-01", None),
]
INSTITUTIONS = [("H3", 3, "440203"), ("H2", 2, "440204"), ("H1", 1, "440203"), ("X3", 3, "440106")]


def region(cases, lines, catalog=CATALOG, institutions=INSTITUTIONS):
    """cases: (case_id, person_id, institution_id, scheme, setting, principal_dx, total_cost, fund_paid,
    settle_date); lines: (case_id, line_no, item_code, amount, service_date)."""
    con = duckdb.connect()
    con.execute("CREATE TABLE institutions (institution_id VARCHAR, level INTEGER, region_code VARCHAR)")
    con.execute("CREATE TABLE catalog (item_code VARCHAR, class VARCHAR, self_pay_ratio DECIMAL(9,4), "
                "valid_from DATE, valid_to DATE)")
    con.execute("CREATE TABLE cases (case_id VARCHAR, person_id VARCHAR, institution_id VARCHAR, scheme VARCHAR, "
                "setting VARCHAR, principal_dx VARCHAR, total_cost DECIMAL(18,2), fund_paid DECIMAL(18,2), "
                "settle_date DATE)")
    con.execute("CREATE TABLE fee_items (case_id VARCHAR, line_no INTEGER, item_code VARCHAR, "
                "amount DECIMAL(18,2), service_date DATE)")
    for t, rows in (("institutions", institutions), ("catalog", catalog), ("cases", cases), ("fee_items", lines)):
        if rows:
            con.executemany(f"INSERT INTO {t} VALUES ({', '.join('?' * len(rows[0]))})", rows)
    return con, Sources("cases", "fee_items", "catalog", "institutions")


def rows(table):
    return {r["row_id"]: r for r in table.to_pylist()}
