"""The small tables DIP's SQL reads beside the cases (参数表): the policy's numbers, the history years and their
weights, the coefficients, the primary-care groups, the procedure classification overrides, the operating-room
procedure codes and the reviewers' final scores — so that the SQL text never changes with the policy.

:func:`param_tables` builds the policy's tables from a :class:`~yibao.dip.policy.DipPolicy`; the catalogue
(:mod:`yibao.dip.catalogue`) and the scoring (:mod:`yibao.dip.scoring`) broadcast them to their steps.
Money is DECIMAL(18,2) (``MONEY``), scores and points DECIMAL(18,4) (``SCORE``), parameters DECIMAL(9,4).
"""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import pyarrow as pa

from yibao.contract.vocab import MONEY
from yibao.dip.policy import TABLE, DipPolicy

__all__ = ["MONEY", "SCORE", "PARAM", "PARAMS_SCHEMA", "YEARS_SCHEMA", "RULES_SCHEMA", "VALID_SCHEMA",
           "PRIMARY_SCHEMA", "COEF_SCHEMA", "SQL_PARAMS", "REVIEW_SCHEMA", "SETTLE_FIELDS", "OVERRIDES_FILE", "read_overrides",
           "read_valid_procedures", "param_tables"]

SCORE = pa.decimal128(18, 4)
PARAM = pa.decimal128(9, 4)
OVERRIDES_FILE = Path(__file__).with_name("procedure_overrides.csv")

# ``dip_params``: one column per number of [catalogue] and [scoring] in the declaration (yibao.dip.policy.TABLE),
# in its order — a decimal as DECIMAL(9,4), an integer as BIGINT; lists and tables travel as their own tables below.
# ``catalogue.core_min_cases`` 0 means "by core_share" and is NULL in SQL.
SQL_SECTIONS = ("catalogue", "scoring")
NULL_WHEN_ZERO = ("catalogue.core_min_cases",)


def _sql_params() -> list[tuple[str, str, pa.DataType]]:
    """(key, column, type) of each number of :data:`SQL_SECTIONS` in the declaration."""
    out = []
    defaults = TABLE.defaults()
    for p in TABLE.params:
        if len(p.path) != 2 or p.path[0] not in SQL_SECTIONS:
            continue
        v = defaults[p.key]
        if isinstance(v, Decimal):
            out.append((p.key, p.path[-1], PARAM))
        elif isinstance(v, int) and not isinstance(v, bool):
            out.append((p.key, p.path[-1], pa.int64()))
    return out


SQL_PARAMS = _sql_params()
PARAMS_SCHEMA = pa.schema([(name, typ) for _, name, typ in SQL_PARAMS])
YEARS_SCHEMA = pa.schema([("year", pa.int32()), ("weight", PARAM)])
RULES_SCHEMA = pa.schema([("prefix", pa.string()), ("proc_class", pa.string())])
VALID_SCHEMA = pa.schema([("code", pa.string())])
PRIMARY_SCHEMA = pa.schema([("group_id", pa.string())])
COEF_SCHEMA = pa.schema([("scope", pa.string()), ("key", pa.string()), ("coefficient", PARAM)])
REVIEW_SCHEMA = pa.schema([("case_id", pa.string()), ("final_score", SCORE)])
# what settlement needs of a case, carried through grouping and scoring (yibao.dip.settlement)
SETTLE_FIELDS = (("scheme", pa.string()), ("settle_year", pa.int32()), ("settle_month", pa.int32()),
                 ("fund_paid", MONEY), ("los_days", pa.int32()), ("principal_dx", pa.string()))


def read_overrides(path: Path = OVERRIDES_FILE) -> pa.Table:
    """The package's procedure classification overrides (prefix → class)."""
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip() and not ln.startswith("#")]
    rows = list(csv.DictReader(lines))
    for r in rows:
        if r["proc_class"] not in ("surgical", "therapeutic", "diagnostic"):
            raise ValueError(f"{path}: prefix {r['prefix']}: unknown proc_class {r['proc_class']!r}")
    rows.sort(key=lambda r: r["prefix"])
    return pa.table({"prefix": [r["prefix"] for r in rows], "proc_class": [r["proc_class"] for r in rows]},
                    schema=RULES_SCHEMA)


def read_valid_procedures(standards: Path | None) -> pa.Table:
    """Operating-room procedure codes (``valid_procedures.csv`` of a CHS-DRG standards dir), or none."""
    codes: list[str] = []
    if standards is not None:
        with (Path(standards) / "valid_procedures.csv").open(encoding="utf-8", newline="") as f:
            codes = sorted({r["code"].strip() for r in csv.DictReader(f) if r["code"].strip()})
    return pa.table({"code": codes}, schema=VALID_SCHEMA)


def _sql_value(policy: DipPolicy, key: str, name: str) -> object:
    # (an attribute of the policy wins: catalogue.build narrows a policy with dataclasses.replace)
    v = getattr(policy, name) if hasattr(policy, name) else policy[key]
    return (v or None) if key in NULL_WHEN_ZERO else v


def param_tables(policy: DipPolicy, years: list[int]) -> dict[str, pa.Table]:
    """Broadcast tables for the SQL steps from a :class:`DipPolicy` and the catalogue's years."""
    p = policy
    params = pa.table({name: [_sql_value(p, key, name)] for key, name, _ in SQL_PARAMS}, schema=PARAMS_SCHEMA)
    pairs = list(zip(years, p.year_weights))
    yrs = pa.table({"year": [y for y, _ in pairs], "weight": [w for _, w in pairs]}, schema=YEARS_SCHEMA)
    coef = [("level", k, v) for k, v in sorted(p.level_coefficient.items())]
    coef += [("institution", k, v) for k, v in sorted(p.institution_coefficient.items())]
    coefs = pa.table({"scope": [c[0] for c in coef], "key": [c[1] for c in coef], "coefficient": [c[2] for c in coef]},
                     schema=COEF_SCHEMA)
    prim = pa.table({"group_id": list(p.primary_care_groups)}, schema=PRIMARY_SCHEMA)
    return {"dip_params": params, "dip_years": yrs, "dip_coefficients": coefs, "dip_primary": prim}

