"""CHS-DRG grouping, set-based (DRG 分组): one SQL step over all cases, joined against the
compiled standards tables (:mod:`yibao.drg.compile`). No Python runs per case.

The step, in the order of the algorithm (standards README §4):

1. **Pre-checks** (编码校验, in the manner of the Medicare Code Editor): the reference grouper's
   input checks, each a status reason code, never an exception — ``missing_sex``/``invalid_sex``,
   ``missing_age``, ``missing_age_days`` (age 0 without age in days), ``missing_newborn_weight``
   (age 0, a newborn by the scheme's age limit, no birth weight), ``missing_dx``.
2. **Candidates**: every (case, ADRG) pair that a code of the case can make true — the principal
   diagnosis against the ``PDX`` lists (and the MDC lists for ADRGs without a list test), the
   principal procedure against the ``PPROC`` lists, every diagnosis / procedure against the
   ``ANY_DX`` / ``ANY_PROC`` lists and procedure groups. Each hit carries the bit of the list it
   satisfied; hits of one pair are OR-ed.
3. **First match**: a candidate holds when its MDC's entry condition and its own condition both
   hold (list bits, procedure groups, procedures, trauma regions, sex / age / age in days /
   weight bounds — all columns of ``drg_adrg``). The ADRG is the holding candidate of smallest
   rank: MDC order first, then the ADRG's order inside its MDC — which is "first MDC entered
   whose ADRGs match, first ADRG that matches".
4. **DRG**: the case's complication level — ``mcc`` when some secondary diagnosis is an MCC not
   excluded by the principal diagnosis's exclusion table, else ``cc`` likewise, else ``none`` —
   picks the ADRG's first DRG rule that holds (``drg_mcc`` / ``drg_cc`` / ``drg_none``).
5. **Not grouped**: the reason, refined from the reference's single "无法入组" — ``invalid_dx``
   (principal diagnosis not a code of the set), ``unacceptable_principal_dx`` (a known code that
   no MDC accepts as principal), ``sex_conflict`` / ``age_conflict`` (its only MDCs need another
   sex / a newborn), ``ungroupable`` (an MDC was entered but none of its ADRGs matched, or
   multiple-trauma regions too few).

Unknown secondary diagnoses and procedures never block grouping (the reference ignores them):
they are reported in ``warnings``.

Speed (issue 5): secondary codes are kept only when they count (a CC/MCC, trauma region, unknown code,
valid procedure, or a hit of some ADRG's list); steps 2–3 run once per distinct combination of the
ADRG inputs (principal diagnosis, principal procedure, interval positions, flag capabilities), which
cases share, and the result is joined back to each case — a case whose secondary codes hit an ADRG
list is its own combination. Steps are keyed by ``case_id``, which must be unique (the loader's key;
:func:`yibao.drg.cases.read_cases` refuses a file naming a case twice).
"""

from __future__ import annotations


import pyarrow as pa

from yibao.drg.compile import (CAP_ANY_VALID, CAP_HAS_PROC, CAP_NO_VALID, CAP_PPROC_VALID, CAP_REGIONS, FIELD_BITS,
                               NULL_SLOT, TABLE_NAMES, field_shift)
from yibao.drg.conditions import VAR_COLUMN
from yibao.engine.runner import LocalRunner, Pipeline, Runner, Step, run_final

STATUS_ZH: dict[str, str] = {
    "ok": "分组成功",
    "missing_sex": "性别为空",
    "invalid_sex": "性别不是 1（男）或 2（女）",
    "missing_age": "年龄为空",
    "missing_age_days": "年龄为 0 岁但天龄为空",
    "missing_newborn_weight": "新生儿（天龄不超过分组标准的新生儿期）出生体重为空",
    "missing_dx": "主要诊断为空",
    "invalid_dx": "主要诊断不是分组标准中的编码",
    "unacceptable_principal_dx": "主要诊断不能作为任何 MDC 的主要诊断",
    "sex_conflict": "主要诊断与性别不符（只属于另一性别的 MDC）",
    "age_conflict": "主要诊断与年龄不符（只属于新生儿 MDC）",
    "ungroupable": "无法入组（进入的 MDC 中没有匹配的 ADRG）",
    "unmappable_dx": "诊断不能转换为分组器支持的编码（--map-codes）",
    "unmappable_procedure": "手术操作不能转换为分组器支持的编码（--map-codes）",
}
PRECHECK_STATUSES = ("missing_sex", "invalid_sex", "missing_age", "missing_age_days", "missing_newborn_weight",
                     "missing_dx")
UNGROUPED_STATUSES = ("invalid_dx", "unacceptable_principal_dx", "sex_conflict", "age_conflict", "ungroupable")
WARNINGS_ZH: dict[str, str] = {
    "unknown_secondary_dx": "有其他诊断不是分组标准中的编码（不参与分组）",
    "unknown_procedure": "有手术操作不是分组标准中的编码（不参与分组）",
}
LEVEL_ZH = {"mcc": "伴严重并发症或合并症（MCC）", "cc": "伴并发症或合并症（CC）", "none": "不伴并发症或合并症"}

RESULT_SCHEMA = pa.schema([
    ("case_id", pa.string()), ("status", pa.string()), ("mdc", pa.string()), ("adrg", pa.string()),
    ("drg", pa.string()), ("cc_level", pa.string()), ("warnings", pa.string()), ("standards_version", pa.string()),
])
CONTRACT_COLUMNS = ("case_id", "status", "mdc", "adrg", "drg")
CASE_COLUMNS: dict[str, pa.DataType] = {
    "case_id": pa.string(), "setting": pa.string(), "sex": pa.string(), "age_years": pa.int32(),
    "newborn_age_days": pa.int32(), "newborn_weight_g": pa.int32(), "principal_dx": pa.string(),
    "secondary_dx": pa.list_(pa.string()), "procedures": pa.list_(pa.string()),
}


def _position_sql(var: str, x: str) -> str:
    """SQL: the bit of case value ``x`` in the interval field of ``var`` (see :class:`~yibao.drg.compile.Intervals`)."""
    c, shift = VAR_COLUMN[var], field_shift(var)
    return (f"(CAST(1 AS BIGINT) << ({shift} + CASE WHEN {x} IS NULL THEN {NULL_SLOT}"
            f" ELSE len(list_filter(meta.{c}_ge, lambda t: {x} >= t))"
            f" + len(list_filter(meta.{c}_gt, lambda t: {x} > t)) END))")


def _field_mask(*variables: str) -> int:
    m = 0
    for v in variables:
        m |= ((1 << FIELD_BITS) - 1) << field_shift(v)
    return m


def _holds(a: str, x: str) -> str:
    """SQL: every test of rule row ``a`` but its list tests holds for case row ``x``: the MDC list
    (``mdc_need`` against the principal diagnosis's MDC bits), the flag tests (``need`` against the
    case's ``caps``) and the variable bounds (the case's interval positions ``pos`` against ``allowed``)."""
    return f"({a}.mdc_need & ~{x}.pdx_mask) = 0 AND ({a}.need & ~{x}.caps) = 0 AND ({x}.pos & ~{a}.allowed) = 0"


# flag bits of a case's secondary codes (s2.flags), region bits above them
F_VALID, F_MCC, F_CC, F_UNKNOWN_DX, F_UNKNOWN_PROC, REGION_SHIFT = 1, 2, 4, 8, 16, 8
SEX_FIELD = _field_mask("SEX")
AGE_FIELDS = _field_mask("AGE_YEARS", "AGE_DAYS", "WEIGHT")

GROUP_SQL = f"""
WITH meta AS (SELECT * FROM drg_meta LIMIT 1),
c1 AS (
    SELECT c0.*,
           CASE WHEN sex_text IS NULL THEN 'missing_sex'
                WHEN sex_text NOT IN ('1', '2') THEN 'invalid_sex'
                WHEN age_years IS NULL THEN 'missing_age'
                WHEN age_years = 0 AND age_days IS NULL THEN 'missing_age_days'
                WHEN age_years = 0 AND age_days <= meta.newborn_max_days AND weight IS NULL
                     THEN 'missing_newborn_weight'
                WHEN pdx IS NULL THEN 'missing_dx' END AS precheck
    FROM (
        SELECT case_id, nullif(trim(CAST(sex AS VARCHAR)), '') AS sex_text,
               age_years, newborn_age_days AS age_days, newborn_weight_g AS weight,
               nullif(principal_dx, '') AS pdx, secondary_dx AS sdx, procedures AS procs
        FROM cases
        WHERE setting IS NULL OR setting <> 'outpatient'
    ) c0, meta
),
p1 AS MATERIALIZED (  -- every case with its principal diagnosis and procedure (pre-check failures too: they
    -- are carried along to the result, not grouped)
    SELECT c.case_id AS rid, c.precheck, c.sdx, c.procs, coalesce(len(c.procs), 0) AS n_proc,
           CASE WHEN c.precheck IS NOT NULL THEN 0
                WHEN meta.pos_always OR (coalesce(d.mdc_mask, 0) & meta.pos_mdc_mask) <> 0 THEN
               {_position_sql("SEX", "CAST(c.sex_text AS INTEGER)")} | {_position_sql("AGE_YEARS", "c.age_years")}
               | {_position_sql("AGE_DAYS", "c.age_days")} | {_position_sql("WEIGHT", "c.weight")}
           ELSE 0 END AS pos,  -- 0: no rule with bounds is reachable, nothing to test
           d.id AS pdx_id, coalesce(d.mdc_mask, 0) AS pdx_mask, d.cce_table AS cce,
           coalesce(d.trauma_bit, 0) AS pdx_trauma,
           p.id AS pproc_id, coalesce(p.valid, false) AS pproc_valid
    FROM c1 c  -- case_id is unique (the loader's key) and keys every step below
    CROSS JOIN meta
    LEFT JOIN drg_dx d ON d.code = c.pdx
    LEFT JOIN drg_proc p ON p.code = c.procs[1]
),
s2 AS (  -- secondary diagnoses and further procedures that count, one row each, as flag bits
    -- (kept: a flag set, or a hit of some ADRG in that role — most secondary codes are neither)
    SELECT * FROM (
        SELECT x.rid, d.id * 4 + 1 AS key, coalesce(d.sdx_hit, false) AS hit,
               CASE WHEN d.id IS NULL THEN {F_UNKNOWN_DX} ELSE 0 END
               | CASE WHEN d.mcc_table IS NOT NULL AND d.mcc_table IS DISTINCT FROM x.cce THEN {F_MCC} ELSE 0 END
               | CASE WHEN d.cc_table IS NOT NULL AND d.cc_table IS DISTINCT FROM x.cce THEN {F_CC} ELSE 0 END
               | (coalesce(d.trauma_bit, 0) << {REGION_SHIFT}) AS flags
        FROM (SELECT rid, cce, unnest(sdx) AS code FROM p1 WHERE precheck IS NULL) x
        LEFT JOIN drg_dx d ON d.code = x.code
        UNION ALL
        SELECT x.rid, p.id * 4 + 3 AS key, coalesce(p.proc_hit, false) AS hit,
               CASE WHEN p.id IS NULL THEN {F_UNKNOWN_PROC} WHEN p.valid THEN {F_VALID} ELSE 0 END AS flags
        FROM (SELECT rid, unnest(procs[2:]) AS code FROM p1 WHERE precheck IS NULL AND n_proc > 1) x
        LEFT JOIN drg_proc p ON p.code = x.code
    ) WHERE flags <> 0 OR hit
),
f AS MATERIALIZED (  -- one row per case: pos (interval positions), caps (flag tests it passes), flags
    SELECT y.rid, y.precheck, y.pos, y.pdx_id, y.pdx_mask, y.pproc_id, y.flags,
           CAST(CASE WHEN y.n_proc > 0 THEN {CAP_HAS_PROC} ELSE 0 END
                | CASE WHEN y.pproc_valid THEN {CAP_PPROC_VALID} ELSE 0 END
                | CASE WHEN y.any_valid THEN {CAP_ANY_VALID} ELSE {CAP_NO_VALID} END
                | (((CAST(1 AS BIGINT) << y.n_regions) - 1) << {CAP_REGIONS + 1}) AS BIGINT) AS caps,
           CASE WHEN y.s2_hit THEN y.rid END AS own, y.hit_keys
    FROM (
        SELECT p1.rid, p1.precheck, p1.pos, p1.n_proc, p1.pdx_id, p1.pdx_mask, p1.pproc_id, p1.pproc_valid,
               CAST(coalesce(g.flags, 0)
                    | CASE WHEN p1.n_proc > 0 AND p1.pproc_id IS NULL THEN {F_UNKNOWN_PROC} ELSE 0 END AS BIGINT)
                   AS flags,
               p1.pproc_valid OR coalesce(g.flags & {F_VALID} <> 0, false) AS any_valid,
               bit_count(p1.pdx_trauma | (coalesce(g.flags, 0) >> {REGION_SHIFT})) AS n_regions,
               g.hit_keys IS NOT NULL AS s2_hit, g.hit_keys
        FROM p1 LEFT JOIN (SELECT rid, bit_or(flags) AS flags, list(key) FILTER (WHERE hit) AS hit_keys
                           FROM s2 GROUP BY rid) g
             ON g.rid = p1.rid
    ) y
),
cb AS MATERIALIZED (  -- the distinct ADRG inputs: cases that agree on them get the same ADRG, decided once;
    -- a case whose secondary codes hit some ADRG's list is its own combination (``own``)
    SELECT row_number() OVER () AS cid, *
    FROM (SELECT DISTINCT pdx_id, pdx_mask, pproc_id, pos, caps, own FROM f WHERE precheck IS NULL)
),
held AS (  -- (combination, ADRG) pairs whose whole condition holds
    -- a hit that alone decides its ADRG's list tests: tested on the hit row itself
    SELECT f.cid, h.adrg_no FROM cb f JOIN drg_cand h ON h.key = f.pdx_id * 4
    WHERE NOT h.multi AND {_holds("h", "f")}
    UNION ALL
    SELECT f.cid, h.adrg_no FROM cb f JOIN drg_cand h ON h.key = f.pproc_id * 4 + 2
    WHERE NOT h.multi AND {_holds("h", "f")}
    UNION ALL
    -- several list tests, or hits through secondary codes: OR the bits of all hits first
    SELECT f.cid, k.adrg_no
    FROM (
        SELECT cid, adrg_no, bit_or(bits) AS bits
        FROM (
            SELECT f.cid, h.adrg_no, h.bits FROM cb f JOIN drg_cand h ON h.key = f.pdx_id * 4 WHERE h.multi
            UNION ALL
            SELECT f.cid, h.adrg_no, h.bits FROM cb f JOIN drg_cand h ON h.key = f.pproc_id * 4 + 2 WHERE h.multi
            UNION ALL
            SELECT f.cid, h.adrg_no, h.bits
            FROM cb f JOIN (SELECT rid, unnest(hit_keys) AS key FROM f WHERE own IS NOT NULL) s ON s.rid = f.own
            JOIN drg_cand h ON h.key = s.key
            UNION ALL
            SELECT f.cid, a.adrg_no, 0 AS bits FROM cb f CROSS JOIN drg_free_all a
        )
        GROUP BY cid, adrg_no
    ) k
    JOIN drg_adrg a ON a.adrg_no = k.adrg_no
    JOIN cb f ON f.cid = k.cid
    WHERE (k.bits & a.req_mask) = a.req_mask
      AND (a.proc_dnf IS NULL OR list_bool_or(list_transform(a.proc_dnf, lambda m: (k.bits & m) = m)))
      AND {_holds("a", "f")}
),
best AS (SELECT cid, min(adrg_no) AS adrg_no FROM held GROUP BY cid),
why AS (  -- why a combination that passed the pre-checks entered no group
    SELECT l.cid,
           CASE WHEN any_value(l.pdx_id) IS NULL THEN 'invalid_dx'
                WHEN any_value(l.pdx_mask) = 0 THEN 'unacceptable_principal_dx'
                WHEN bool_or((m.need & ~l.caps) = 0 AND (l.pos & ~m.allowed) = 0) THEN 'ungroupable'
                WHEN bool_or((l.pos & ~m.allowed & {SEX_FIELD}) <> 0) THEN 'sex_conflict'
                WHEN bool_or((l.pos & ~m.allowed & {AGE_FIELDS}) <> 0) THEN 'age_conflict'
                ELSE 'ungroupable' END AS status
    FROM (SELECT cb.* FROM cb ANTI JOIN best ON best.cid = cb.cid) l
    LEFT JOIN drg_mdc_dx m ON m.id = l.pdx_id
    GROUP BY l.cid
),
res AS MATERIALIZED (  -- each combination's ADRG (or why none), keyed for the join back to its cases
    SELECT cb.pdx_id, cb.pproc_id, cb.pos, cb.caps, cb.own, best.adrg_no, why.status AS why
    FROM cb LEFT JOIN best ON best.cid = cb.cid LEFT JOIN why ON why.cid = cb.cid
)
SELECT f.rid AS case_id,
       coalesce(f.precheck, CASE WHEN r.adrg_no IS NOT NULL THEN 'ok' END, r.why) AS status,
       a.mdc, a.adrg,
       CASE WHEN f.flags & {F_MCC} <> 0 THEN a.drg_mcc WHEN f.flags & {F_CC} <> 0 THEN a.drg_cc ELSE a.drg_none END
           AS drg,
       CASE WHEN r.adrg_no IS NULL THEN NULL WHEN f.flags & {F_MCC} <> 0 THEN 'mcc'
            WHEN f.flags & {F_CC} <> 0 THEN 'cc' ELSE 'none' END AS cc_level,
       CASE WHEN f.precheck IS NULL THEN
           nullif(concat_ws('|', CASE WHEN f.flags & {F_UNKNOWN_DX} <> 0 THEN 'unknown_secondary_dx' END,
                                 CASE WHEN f.flags & {F_UNKNOWN_PROC} <> 0 THEN 'unknown_procedure' END), '')
       END AS warnings,
       meta.standards_version
FROM f
CROSS JOIN meta
LEFT JOIN res r ON f.precheck IS NULL AND r.pdx_id IS NOT DISTINCT FROM f.pdx_id AND r.pproc_id IS NOT DISTINCT FROM f.pproc_id
          AND r.pos = f.pos AND r.caps = f.caps AND r.own IS NOT DISTINCT FROM f.own
LEFT JOIN drg_adrg a ON a.adrg_no = r.adrg_no
"""

GROUP_STEP = Step(
    name="drg_group",
    main="cases",
    mode="rowwise",
    broadcast=TABLE_NAMES,
    sql=GROUP_SQL,
    schema=RESULT_SCHEMA,
    order_by=("case_id",),
    doc="CHS-DRG 分组：编码校验 → MDC → ADRG → DRG（按分组标准表，集合运算）",
)
DRG_GROUP = Pipeline("drg_group", (GROUP_STEP,), doc="CHS-DRG 分组（病例 → MDC/ADRG/DRG）")


def conform_cases(table: pa.Table) -> pa.Table:
    """The columns the step reads; absent columns become nulls of their contract type. Numbers
    may be integers (as loaded) or DOUBLE (as read from a file by :mod:`yibao.drg.cases`)."""
    cols = {}
    for name, typ in CASE_COLUMNS.items():
        if name in table.column_names:
            col = table.column(name)
            numeric = pa.types.is_integer(col.type) or pa.types.is_floating(col.type)
            cols[name] = col if col.type == typ or (pa.types.is_integer(typ) and numeric) else col.cast(typ)
        else:
            cols[name] = pa.nulls(table.num_rows, typ)
    return pa.table(cols)


def group_table(cases: pa.Table | str, standards, runner: Runner | None = None, *, map_codes: bool = False
                ) -> pa.Table:
    """Group a cases table → one row per case that is not outpatient (``RESULT_SCHEMA``, sorted by
    ``case_id``). ``cases``: an Arrow table (see :func:`conform_cases`) or, with a
    :class:`~yibao.engine.runner.LocalRunner`, the name of a table in its DuckDB connection.
    ``map_codes``: translate the codes first (:mod:`yibao.drg.mapping`; Arrow input only)."""
    unmapped = None
    if map_codes:
        import pyarrow.compute as pc

        from yibao.drg.mapping import map_codes as translate

        if not isinstance(cases, pa.Table):
            raise TypeError("map_codes needs the cases as an Arrow table")
        mapped = translate(conform_cases(cases), standards)
        failed = pc.is_valid(mapped.column("map_status"))
        inpatient = pc.fill_null(pc.not_equal(mapped.column("setting"), "outpatient"), True)
        bad = mapped.filter(pc.and_(failed, inpatient))
        n = bad.num_rows
        unmapped = pa.table({
            "case_id": bad.column("case_id"), "status": bad.column("map_status"),
            **{c: pa.nulls(n, pa.string()) for c in ("mdc", "adrg", "drg", "cc_level", "warnings")},
            "standards_version": pa.array([standards.short_version] * n, pa.string())}, schema=RESULT_SCHEMA)
        cases = mapped.filter(pc.invert(failed)).drop_columns(["map_status"])
    sources: dict[str, object] = dict(standards.tables())
    sources["cases"] = conform_cases(cases) if isinstance(cases, pa.Table) else cases
    own = runner is None
    runner = runner or LocalRunner()
    try:
        result = run_final(runner, DRG_GROUP, sources)
    finally:
        if own:
            runner.close()
    if unmapped is not None and unmapped.num_rows:
        result = pa.concat_tables([result, unmapped]).sort_by([("case_id", "ascending")]).combine_chunks()
    return result
