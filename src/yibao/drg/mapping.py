"""Optional code translation before grouping (编码转换, standards README §4 step 0).

With ``--map-codes`` every diagnosis and procedure of a case is replaced by its ``grouper_code``
from ``diagnosis_map.csv`` / ``procedure_map.csv`` before the pre-checks. A case with a code that
has no row in the map is not grouped: status ``unmappable_dx`` (诊断不能转换为分组器支持的编码)
or ``unmappable_procedure`` (手术操作不能转换为分组器支持的编码). The reference grouper has this
mode switched off by default, and so has yibao: the maps do not cover every code the grouping
tables use (the standards README lists the gaps).

Set-based like the grouping: one SQL statement over all cases, joined against the maps.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from yibao.contract.reasons import FatalLoadError
from yibao.drg import fields
from yibao.engine.runner import query_arrow

__all__ = ["map_codes", "map_case"]


MAP_SQL = """
WITH c AS (SELECT row_number() OVER () AS rid, * FROM cases),
dx AS (  -- every diagnosis, principal first, with its position
    SELECT rid, 0 AS pos, principal_dx AS code FROM c WHERE principal_dx IS NOT NULL
    UNION ALL
    SELECT rid, i AS pos, code FROM (SELECT rid, unnest(secondary_dx) AS code,
                                            generate_subscripts(secondary_dx, 1) AS i FROM c)
),
dxm AS (
    SELECT dx.rid, bool_or(m.grouper_code IS NULL) AS unmapped,
           max(m.grouper_code) FILTER (WHERE dx.pos = 0) AS pdx,
           list(m.grouper_code ORDER BY dx.pos) FILTER (WHERE dx.pos > 0) AS sdx
    FROM dx LEFT JOIN drg_dx_map m ON m.source_code = dx.code
    GROUP BY dx.rid
),
pr AS (
    SELECT rid, i AS pos, code FROM (SELECT rid, unnest(procedures) AS code, generate_subscripts(procedures, 1) AS i
                                     FROM c)
),
prm AS (
    SELECT pr.rid, bool_or(m.grouper_code IS NULL) AS unmapped, list(m.grouper_code ORDER BY pr.pos) AS procs
    FROM pr LEFT JOIN drg_proc_map m ON m.source_code = pr.code
    GROUP BY pr.rid
)
SELECT c.* REPLACE (
           CASE WHEN coalesce(d.unmapped, false) OR coalesce(p.unmapped, false) THEN c.principal_dx
                ELSE d.pdx END AS principal_dx,
           CASE WHEN coalesce(d.unmapped, false) OR coalesce(p.unmapped, false) THEN c.secondary_dx
                ELSE coalesce(d.sdx, []) END AS secondary_dx,
           CASE WHEN coalesce(d.unmapped, false) OR coalesce(p.unmapped, false) THEN c.procedures
                ELSE coalesce(p.procs, []) END AS procedures),
       CASE WHEN coalesce(d.unmapped, false) THEN 'unmappable_dx'
            WHEN coalesce(p.unmapped, false) THEN 'unmappable_procedure' END AS map_status
FROM c LEFT JOIN dxm d ON d.rid = c.rid LEFT JOIN prm p ON p.rid = c.rid
ORDER BY c.rid
"""


def _maps(std) -> tuple[pa.Table, pa.Table]:
    if "_map_tables" not in std.__dict__:  # built once per standards object
        std.__dict__["_map_tables"] = (
            pa.table({"source_code": list(std.dx_map), "grouper_code": list(std.dx_map.values())}),
            pa.table({"source_code": list(std.proc_map), "grouper_code": list(std.proc_map.values())}))
    return std.__dict__["_map_tables"]


def map_codes(cases: pa.Table, standards) -> pa.Table:
    """``cases`` with every code translated, plus a ``map_status`` column (null when all codes
    have a map row; then the codes are the grouper's)."""
    if not standards.dx_map or not standards.proc_map:
        raise FatalLoadError(standards.source or "standards",
                             "分组标准没有 diagnosis_map.csv / procedure_map.csv，不能转换编码")
    dx, pr = _maps(standards)
    con = duckdb.connect()
    try:
        con.register("cases", cases)
        con.register("drg_dx_map", dx)
        con.register("drg_proc_map", pr)
        out = query_arrow(con, MAP_SQL)
    finally:
        con.close()
    return out.drop_columns(["rid"]).cast(pa.schema([*cases.schema, ("map_status", pa.string())]))


def map_case(case: dict, standards) -> tuple[dict, str | None, list[str]]:
    """One case translated (for :func:`yibao.drg.explain.group_one`): (case, status, unmapped codes)."""
    pdx = fields.text(case.get("principal_dx"))
    sdx, procs = fields.codes(case.get("secondary_dx")), fields.codes(case.get("procedures"))
    bad_dx = [c for c in ((pdx,) if pdx else ()) + sdx if c not in standards.dx_map]
    bad_proc = [c for c in procs if c not in standards.proc_map]
    if bad_dx:
        return dict(case), "unmappable_dx", bad_dx
    if bad_proc:
        return dict(case), "unmappable_procedure", bad_proc
    out = dict(case)
    out["principal_dx"] = standards.dx_map[pdx] if pdx else None
    out["secondary_dx"] = [standards.dx_map[c] for c in sdx]
    out["procedures"] = [standards.proc_map[c] for c in procs]
    return out, None, []
