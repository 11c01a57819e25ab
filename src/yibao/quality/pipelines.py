"""The load's contract checks as runner pipelines, so they run on DuckDB and on Spark alike.

The loader (:mod:`yibao.engine.loading`) runs these very SQL builders inside its workspace
transaction. Here the same checks are steps a runner can split: cell checks row by row
(``rowwise``), duplicate keys per key (``partitioned``), references row by row against
broadcast key sets. At provincial scale a Spark job can check a month's files with them
before they reach a workspace.
"""

from __future__ import annotations

import pyarrow as pa

from yibao.contract.readers import ROW
from yibao.contract.schema import TABLES, Table
from yibao.contract.validate import cell_check_sql, duplicate_key_sql, reference_sql, row_rule_sql
from yibao.engine.registry import register
from yibao.engine.runner import Pipeline, Step

ISSUE = pa.struct([("code", pa.string()), ("msg", pa.string())])
FINDING = pa.schema([(ROW, pa.int64()), ("code", pa.string()), ("msg", pa.string())])


def _keys(table: str) -> str:
    return f"{table}_keys"


def checks_pipeline(t: Table) -> Pipeline:
    """``{t}_cells`` (typed rows + issues), ``{t}_duplicates``, ``{t}_rules``, ``{t}_references``."""
    text = f"{t.name}_text"
    cells = Step(
        name=f"{t.name}_cells", main=text, mode="rowwise", sql=cell_check_sql(t, text),
        schema=pa.schema([(ROW, pa.int64()), *[(c.name, c.arrow_type) for c in t.columns],
                          ("_issues", pa.list_(ISSUE))]),
        order_by=(ROW,), doc=f"{t.zh}：逐格校验与类型转换",
    )
    steps = [cells, Step(
        name=f"{t.name}_duplicates", main=cells.name, mode="partitioned", partition_by=t.key,
        sql=duplicate_key_sql(t, cells.name), schema=FINDING, order_by=(ROW, "code"), doc=f"{t.zh}：主键重复",
    )]
    rules = row_rule_sql(t, cells.name)
    if rules:
        steps.append(Step(name=f"{t.name}_rules", main=cells.name, mode="rowwise", sql=rules, schema=FINDING,
                          order_by=(ROW, "code"), doc=f"{t.zh}：跨列规则"))
    if t.foreign_keys:
        sql = " UNION ALL ".join(reference_sql(t, cells.name, fk, _keys(fk.ref_table)) for fk in t.foreign_keys)
        steps.append(Step(name=f"{t.name}_references", main=cells.name, mode="rowwise", sql=sql, schema=FINDING,
                          broadcast=tuple(dict.fromkeys(_keys(fk.ref_table) for fk in t.foreign_keys)),
                          order_by=(ROW, "code"), doc=f"{t.zh}：引用的机构、人员、参保人、清单是否存在"))
    return Pipeline(name=f"contract_checks_{t.name}", steps=tuple(steps), doc=f"{t.zh}装载校验")


CASES_CHECKS = checks_pipeline(TABLES["cases"])

_GOOD = ["C0001", "P0001", "H001", "employee", "1", "59", "inpatient", "2024-03-01", "2024-03-06", "0301",
         "D001", "K80.100x001", "I10.x00|E11.900", "51.2300", "1", "", "", "0",
         "12000.50", "9000.25", "2500.25", "500.00", "2024-03-08"]


def _case(case_id: str, **changes: str) -> list[str]:
    names = TABLES["cases"].column_names
    row = list(_GOOD)
    row[0] = case_id
    for k, v in changes.items():
        row[names.index(k)] = v
    return row


def cases_fixture() -> dict[str, pa.Table]:
    """Text rows with one problem each (and clean ones), plus the known key sets."""
    rows = [
        _case("C0001"), _case("C0002", secondary_dx="", procedures=""),
        _case("C0003", person_id="P9999"), _case("C0004", institution_id="H999", attending_staff_id="D999"),
        _case("C0005", admit_date="2024-03-09"), _case("C0006", total_cost="-1.00"), _case("C0007", fund_paid="1.005"),
        _case("C0008", principal_dx="K80100"), _case("C0009", procedures="51.23|5123"), _case("C0010", age_years="x"),
        _case("C0001"), _case(""), _case("C0011", settle_date="2024-02-30"), _case("C0012", emergency="2"),
        _case("C0013", total_cost="99999999999999999.00"), _case("C0014", settle_date="2024-03-05"),
        _case("C0002", sex="3"),  # a duplicate key on a row that is bad anyway: only BAD_ENUM
    ]
    names = TABLES["cases"].column_names
    text = pa.table({**{n: pa.array([r[i] for r in rows], pa.string()) for i, n in enumerate(names)},
                     ROW: pa.array(range(1, len(rows) + 1), pa.int64())})
    return {
        "cases_text": text,
        "insured_keys": pa.table({"person_id": ["P0001", "P0002"]}),
        "institutions_keys": pa.table({"institution_id": ["H001", "H002"]}),
        "staff_keys": pa.table({"staff_id": ["D001"]}),
    }


register(CASES_CHECKS, fixture=cases_fixture)

