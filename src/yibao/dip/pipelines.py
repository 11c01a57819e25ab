"""DIP pipelines (按病种分值付费): the catalogue from history, and the grouping and scoring of cases.

Two registered pipelines, so the parity suite runs both on DuckDB and Spark:

``dip_catalogue`` (目录库)
    ``dip_case_keys`` (rowwise) → ``dip_combo_counts`` (partitioned by ``dx_cat``) →
    ``dip_threshold`` (global, one row) → ``dip_core_keys`` (global, the core combinations) →
    ``dip_group_year`` (partitioned by ``dx_cat``: every group lies inside one ICD-10 category) →
    ``dip_catalogue`` (global over the group × year aggregate).
``dip_scoring`` (病例入组与赋分)
    ``dip_case_points`` (partitioned by ``institution_id``, catalogue broadcast): grouping, scoring and the
    special-case review cap in one step — an Arrow-function step whose function is
    :func:`yibao.dip.scoring.score_cases` (docs/adr/0004-arrow-steps.md); it resolves each key row with this
    module's SQL (``KEY_CTES``, ``RESOLVE_CTES``, ``INST_CTE``).

Parameters travel as small broadcast tables built by :func:`param_tables` from a
:class:`~yibao.dip.policy.DipPolicy`, so the SQL text never changes with the policy.

Group keys (``group_id``):

- core group (核心病种): ``<dx_sub>|<combo>``, ``dx_sub`` the principal diagnosis's first five
  characters (``K80.1``), ``combo`` the sorted distinct surgical/therapeutic procedure codes
  joined by ``+`` or ``-`` when there are none: ``K80.1|51.2300``, ``K80.1|-``;
- comprehensive group (综合病种): ``<dx_cat>#<tier>``, ``dx_cat`` the first three characters and
  tier ``conservative`` / ``diagnostic`` / ``therapeutic`` / ``surgical`` (the highest class
  among the case's procedures): ``K80#surgical``.

Money is DECIMAL(18,2), scores and points DECIMAL(18,4); every division goes through
:func:`yibao.engine.sqlmoney.div_round` (exact, 四舍五入 ROUND_HALF_UP).
"""

from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal
from pathlib import Path

import pyarrow as pa

from yibao.contract.schema import CASES, ICD9_PATTERN, ICD10_PATTERN, INSTITUTIONS
from yibao.engine.registry import register
from yibao.engine.runner import LocalRunner, Pipeline, Step
from yibao.engine.sqlmoney import div_round
from yibao.settle.relative import group_year_step, relative_step

MONEY = pa.decimal128(18, 2)
SCORE = pa.decimal128(18, 4)
PARAM = pa.decimal128(9, 4)
OVERRIDES_FILE = Path(__file__).with_name("procedure_overrides.csv")
TIERS = ("conservative", "diagnostic", "therapeutic", "surgical")
TIER_ZH = {"conservative": "保守治疗", "diagnostic": "诊断性操作", "therapeutic": "治疗性操作", "surgical": "手术"}
KIND_ZH = {"core": "核心病种", "comprehensive": "综合病种"}
REASONS_ZH = {
    "NO_PRINCIPAL_DX": "无主要诊断",
    "BAD_PRINCIPAL_DX": "主要诊断编码不符合 ICD-10 医保版格式",
    "BAD_PROCEDURE": "手术操作编码不符合 ICD-9-CM-3 医保版格式",
    "ZERO_COST": "医疗费用总额为零或缺失",
    "NO_GROUP": "目录中既无对应核心病种，也无对应综合病种",
}

# --- parameter tables -----------------------------------------------------------------------

PARAMS_SCHEMA = pa.schema([
    ("core_share", PARAM), ("core_min_cases", pa.int64()), ("trim_lower", PARAM), ("trim_upper", PARAM),
    ("score_base", PARAM), ("high_ratio", PARAM), ("low_ratio", PARAM), ("extreme_ratio", PARAM),
    ("review_share", PARAM),
])
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


def param_tables(policy, years: list[int]) -> dict[str, pa.Table]:
    """Broadcast tables for the SQL steps from a :class:`DipPolicy` and the catalogue's years."""
    p = policy
    params = pa.table({
        "core_share": [p.core_share], "core_min_cases": [p.core_min_cases or None],
        "trim_lower": [p.trim_lower], "trim_upper": [p.trim_upper], "score_base": [p.score_base],
        "high_ratio": [p.high_ratio], "low_ratio": [p.low_ratio], "extreme_ratio": [p.extreme_ratio],
        "review_share": [p.review_share],
    }, schema=PARAMS_SCHEMA)
    pairs = list(zip(years, p.year_weights))
    yrs = pa.table({"year": [y for y, _ in pairs], "weight": [w for _, w in pairs]}, schema=YEARS_SCHEMA)
    coef = [("level", k, v) for k, v in sorted(p.level_coefficient.items())]
    coef += [("institution", k, v) for k, v in sorted(p.institution_coefficient.items())]
    coefs = pa.table({"scope": [c[0] for c in coef], "key": [c[1] for c in coef], "coefficient": [c[2] for c in coef]},
                     schema=COEF_SCHEMA)
    prim = pa.table({"group_id": list(p.primary_care_groups)}, schema=PRIMARY_SCHEMA)
    return {"dip_params": params, "dip_years": yrs, "dip_coefficients": coefs, "dip_primary": prim}


# --- steps ----------------------------------------------------------------------------------

# The grouping keys of inpatient stays, shared by the catalogue (``dip_case_keys``) and scoring (``dip_case_points``).
# Keys depend on few of a stay's fields, so they are worked out once per distinct key row (``kz``) and every stay
# finds its row with one hash join (``KEY_JOIN``):
#
# 1. each distinct procedure entry (as written) is trimmed and classified once (``pc``), each distinct principal
#    diagnosis normalised and checked once (``dx``);
# 2. a stay with at most one procedure entry (most) takes its keys from its (diagnosis, entry) pair: one key row
#    per distinct pair; a stay with several entries is unnested, classified and grouped back by ``case_id`` (the
#    unique key of the input, so every batch still gives its own rows' answer): one key row per such stay (``kk``);
# 3. each key row comes twice (``kz``): for a positive cost and for a zero or missing cost (reason ZERO_COST
#    unless the codes give an earlier reason).
KEY_CTES = f"""
k1 AS (  -- stays with at most one procedure entry: each distinct (diagnosis, entry) pair once; no entry, a NULL and a
         -- blank entry alike mean no procedure (the always-true HAVING only lowers the planner's row estimate, so
         -- that the stays' joins build their hash tables on the key rows)
    SELECT principal_dx AS dx_raw, coalesce(procedures[1], '') AS p_key FROM cases
    WHERE setting = 'inpatient' AND coalesce(len(procedures), 0) <= 1
    GROUP BY ALL HAVING count(*) > 0
),
k2 AS (  -- stays with several procedure entries (few), unnested
    SELECT case_id, principal_dx AS dx_raw, unnest(procedures) AS raw FROM cases
    WHERE setting = 'inpatient' AND len(procedures) >= 2
),
pc AS (  -- each distinct procedure entry (as written) once: the trimmed code and its class (NULL: an empty entry)
    SELECT raw, code,
           CASE WHEN code IS NULL OR code = '' THEN NULL
                WHEN NOT regexp_full_match(code, '{ICD9_PATTERN}') THEN 'bad'
                WHEN override IS NOT NULL THEN override
                WHEN chapter BETWEEN 87 AND 91 THEN 'diagnostic'
                WHEN chapter = 92 THEN CASE WHEN substr(code, 1, 4) IN ('92.0', '92.1') THEN 'diagnostic'
                                            ELSE 'therapeutic' END
                WHEN chapter >= 93 THEN 'therapeutic'
                WHEN valid THEN 'surgical'
                WHEN chapter = 0 THEN 'therapeutic'
                WHEN (SELECT count(*) FROM dip_proc_valid) > 0 THEN 'therapeutic'
                ELSE 'surgical' END AS proc_class
    FROM (
        SELECT raw, code,
               (SELECT arg_max(r.proc_class, length(r.prefix)) FROM dip_proc_rules r
                 WHERE starts_with(p.code, r.prefix)) AS override,
               p.code IN (SELECT code FROM dip_proc_valid) AS valid,
               TRY_CAST(substr(p.code, 1, 2) AS INTEGER) AS chapter
        FROM (SELECT raw, trim(raw) AS code
              FROM (SELECT DISTINCT raw FROM (SELECT p_key AS raw FROM k1 UNION ALL SELECT raw FROM k2))) p
    )
),
dx AS (  -- each distinct principal diagnosis (as written) once: normalised (NULL: blank), reason, sub-category,
         -- category
    SELECT raw, nullif(dx, '') AS dx,
           CASE WHEN dx = '' THEN 'NO_PRINCIPAL_DX'
                WHEN NOT regexp_full_match(dx, '{ICD10_PATTERN}') THEN 'BAD_PRINCIPAL_DX' END AS reason,
           substr(dx, 1, 5) AS dx_sub, substr(dx, 1, 3) AS dx_cat
    FROM (SELECT raw, upper(trim(coalesce(raw, ''))) AS dx
          FROM (SELECT DISTINCT raw FROM (SELECT dx_raw AS raw FROM k1 UNION ALL SELECT dx_raw FROM k2)))
),
kk AS (
    -- at most one procedure entry: one key row per (diagnosis, entry) pair
    SELECT false AS multi, q.dx_raw, q.p_key, d.dx,
           coalesce(d.reason, CASE WHEN p.proc_class = 'bad' THEN 'BAD_PROCEDURE' END) AS reason,
           d.dx_sub, d.dx_cat,
           coalesce(CASE WHEN p.proc_class NOT IN ('bad', 'diagnostic') THEN p.code END, '-') AS combo,
           CASE WHEN p.proc_class IN ('surgical', 'therapeutic', 'diagnostic') THEN p.proc_class
                ELSE 'conservative' END AS tier
    FROM k1 q
    LEFT JOIN dx d ON d.raw IS NOT DISTINCT FROM q.dx_raw
    LEFT JOIN pc p ON p.raw = q.p_key
    UNION ALL
    -- several entries: one key row per stay; the combination is its sorted distinct non-diagnostic codes,
    -- the tier the highest class among its codes
    SELECT true AS multi, m.dx_raw, m.case_id AS p_key, d.dx,
           coalesce(d.reason, CASE WHEN m.bad THEN 'BAD_PROCEDURE' END) AS reason,
           d.dx_sub, d.dx_cat, m.combo, m.tier
    FROM (
        SELECT u.case_id, u.dx_raw,
               coalesce(bool_or(p.proc_class = 'bad'), false) AS bad,
               coalesce(nullif(array_to_string(list_sort(list_distinct(
                   list(p.code) FILTER (WHERE p.proc_class NOT IN ('bad', 'diagnostic')))), '+'), ''), '-') AS combo,
               CASE WHEN bool_or(p.proc_class = 'surgical') THEN 'surgical'
                    WHEN bool_or(p.proc_class = 'therapeutic') THEN 'therapeutic'
                    WHEN bool_or(p.proc_class = 'diagnostic') THEN 'diagnostic'
                    ELSE 'conservative' END AS tier
        FROM k2 u LEFT JOIN pc p USING (raw)
        GROUP BY u.case_id, u.dx_raw HAVING count(*) > 0  -- always true: the estimate, as in k1
    ) m
    LEFT JOIN dx d ON d.raw IS NOT DISTINCT FROM m.dx_raw
),
kz AS (  -- each key row for a positive and for a zero or missing cost; ``why``: the reason a stay is ungroupable
    SELECT kk.*, z.pos, coalesce(kk.reason, CASE WHEN NOT z.pos THEN 'ZERO_COST' END) AS why
    FROM kk, (VALUES (true), (false)) z(pos)
)"""
# a stay ``c`` of ``cases`` finds its key row ``k`` of ``kz`` (a stay with several entries and no case_id finds none)
KEY_JOIN = """k.multi = coalesce(len(c.procedures) >= 2, false)
    AND k.dx_raw IS NOT DISTINCT FROM c.principal_dx
    AND k.p_key = CASE WHEN len(c.procedures) >= 2 THEN c.case_id ELSE coalesce(c.procedures[1], '') END
    AND k.pos = coalesce(c.total_cost > 0, false)"""

CASE_KEYS = Step(
    name="dip_case_keys",
    main="cases",
    mode="rowwise",
    broadcast=("dip_proc_rules", "dip_proc_valid"),
    sql=f"""
WITH {KEY_CTES},
ko AS (  -- the key columns as the step gives them (ungroupable: reason only)
    SELECT multi, dx_raw, p_key, pos, dx,
           CASE WHEN why IS NULL THEN dx_sub END AS dx_sub,
           CASE WHEN why IS NULL THEN dx_cat END AS dx_cat,
           CASE WHEN why IS NULL THEN combo END AS combo,
           CASE WHEN why IS NULL THEN tier END AS tier,
           CASE WHEN why IS NULL THEN 'ok' ELSE 'ungroupable' END AS status,
           why AS reason
    FROM kz
)
SELECT c.case_id, c.institution_id,
       CAST(year(c.discharge_date) AS INTEGER) AS year,
       k.dx_sub, k.dx_cat, k.combo, k.tier,
       CAST(c.total_cost AS DECIMAL(18,2)) AS total_cost,
       k.status, k.reason,
       c.scheme,
       CAST(year(c.settle_date) AS INTEGER) AS settle_year,
       CAST(month(c.settle_date) AS INTEGER) AS settle_month,
       CAST(c.fund_paid AS DECIMAL(18,2)) AS fund_paid,
       CAST(date_diff('day', c.admit_date, c.discharge_date) AS INTEGER) AS los_days,
       k.dx AS principal_dx
FROM cases c JOIN ko k ON {KEY_JOIN}
WHERE c.setting = 'inpatient'
""",
    schema=pa.schema([
        ("case_id", pa.string()), ("institution_id", pa.string()), ("year", pa.int32()),
        ("dx_sub", pa.string()), ("dx_cat", pa.string()), ("combo", pa.string()), ("tier", pa.string()),
        ("total_cost", MONEY), ("status", pa.string()), ("reason", pa.string()),
        *SETTLE_FIELDS,
    ]),
    order_by=("case_id",),
    doc="住院病例的分组键：主要诊断亚目、手术操作组合（诊断性操作不参与）、操作层级；不能入组的原因",
)

COMBO_COUNTS = Step(
    name="dip_combo_counts",
    main="dip_case_keys",
    mode="partitioned",
    partition_by=("dx_cat",),
    broadcast=("dip_years",),
    sql="""
SELECT dx_cat, dx_sub, combo, CAST(count(*) AS BIGINT) AS cases
FROM dip_case_keys
WHERE status = 'ok' AND year IN (SELECT year FROM dip_years)
GROUP BY dx_cat, dx_sub, combo
""",
    schema=pa.schema([("dx_cat", pa.string()), ("dx_sub", pa.string()), ("combo", pa.string()),
                      ("cases", pa.int64())]),
    order_by=("dx_sub", "combo"),
    doc="诊断亚目×操作组合的病例数（目录年度内）",
)

THRESHOLD = Step(
    name="dip_threshold",
    main="dip_combo_counts",
    mode="global",
    broadcast=("dip_params",),
    sql=f"""
WITH tot AS (SELECT CAST(coalesce(sum(cases), 0) AS BIGINT) AS n, CAST(count(*) AS BIGINT) AS combos
             FROM dip_combo_counts),
lv AS (SELECT cases AS k, CAST(sum(sum(cases)) OVER (ORDER BY cases DESC) AS BIGINT) AS cum
       FROM dip_combo_counts GROUP BY cases),
auto AS (SELECT max(lv.k) AS k FROM lv, tot, dip_params p
         WHERE CAST(lv.cum AS DECIMAL(38, 0)) >= p.core_share * CAST(tot.n AS DECIMAL(28, 0))),
t AS (SELECT CAST(coalesce(p.core_min_cases, auto.k, 1) AS BIGINT) AS core_min_cases,
             p.core_min_cases IS NULL AS by_share, tot.n AS total_cases, tot.combos
      FROM tot, auto, dip_params p),
core AS (SELECT CAST(coalesce(sum(cases), 0) AS BIGINT) AS core_cases, CAST(count(*) AS BIGINT) AS core_groups
         FROM dip_combo_counts, t WHERE cases >= t.core_min_cases)
SELECT t.core_min_cases, t.by_share, t.total_cases, t.combos, core.core_groups, core.core_cases,
       {div_round('core.core_cases', 't.total_cases', scale=4)} AS core_share
FROM t, core
""",
    schema=pa.schema([("core_min_cases", pa.int64()), ("by_share", pa.bool_()), ("total_cases", pa.int64()),
                      ("combos", pa.int64()), ("core_groups", pa.int64()), ("core_cases", pa.int64()),
                      ("core_share", SCORE)]),
    order_by=(),
    doc="核心病种的病例数临界值：核心病种仍覆盖 ≥ core_share 病例的最大病例数（或政策给定的固定值）",
)

CORE_KEYS = Step(
    name="dip_core_keys",
    main="dip_combo_counts",
    mode="global",
    broadcast=("dip_threshold",),
    sql="""
SELECT c.dx_cat, c.dx_sub, c.combo, c.cases
FROM dip_combo_counts c, dip_threshold t
WHERE c.cases >= t.core_min_cases
""",
    schema=pa.schema([("dx_cat", pa.string()), ("dx_sub", pa.string()), ("combo", pa.string()),
                      ("cases", pa.int64())]),
    order_by=("dx_sub", "combo"),
    doc="核心病种（诊断亚目×操作组合）",
)

GROUP_CASES = Step(
    name="dip_group_cases",
    main="dip_case_keys",
    mode="rowwise",
    broadcast=("dip_core_keys", "dip_years"),
    sql="""
SELECT CASE WHEN g.dx_sub IS NOT NULL THEN k.dx_sub || '|' || k.combo ELSE k.dx_cat || '#' || k.tier END AS group_id,
       k.year, k.case_id, k.total_cost,
       CASE WHEN g.dx_sub IS NOT NULL THEN 'core' ELSE 'comprehensive' END AS kind,
       k.dx_cat,
       CASE WHEN g.dx_sub IS NOT NULL THEN k.dx_sub END AS dx_sub,
       CASE WHEN g.dx_sub IS NOT NULL THEN k.combo END AS combo,
       CASE WHEN g.dx_sub IS NULL THEN k.tier END AS tier
FROM dip_case_keys k
LEFT JOIN dip_core_keys g ON g.dx_sub = k.dx_sub AND g.combo = k.combo
WHERE k.status = 'ok' AND k.year IN (SELECT year FROM dip_years)
""",
    schema=pa.schema([("group_id", pa.string()), ("year", pa.int32()), ("case_id", pa.string()),
                      ("total_cost", MONEY), ("kind", pa.string()), ("dx_cat", pa.string()), ("dx_sub", pa.string()),
                      ("combo", pa.string()), ("tier", pa.string())]),
    order_by=("case_id",),
    doc="目录年度的可入组病例：所属病种（核心病种：亚目|手术操作组合；综合病种：类目#操作层级）",
)

GROUPS = Step(
    name="dip_groups",
    main="dip_group_cases",
    mode="partitioned",
    partition_by=("group_id",),
    sql="""
SELECT group_id, min(kind) AS kind, min(dx_cat) AS dx_cat, min(dx_sub) AS dx_sub, min(combo) AS combo,
       min(tier) AS tier
FROM dip_group_cases GROUP BY group_id
""",
    schema=pa.schema([("group_id", pa.string()), ("kind", pa.string()), ("dx_cat", pa.string()),
                      ("dx_sub", pa.string()), ("combo", pa.string()), ("tier", pa.string())]),
    order_by=("group_id",),
    doc="病种的描述列（类型、类目、亚目、手术操作组合、操作层级）",
)

# the trimmed, year-weighted group averages and the relative cost × score_base: the rule DRG weights use too
GROUP_YEAR = group_year_step("dip_group_year", "dip_group_cases", "dip_years", "dip_params",
                             doc="病种×年度：病例数、剔除离群病例后的病例数与费用（剔除按病种内费用排位，跨年度合并排位）")
RELATIVE = relative_step("dip_relative", "dip_group_year", "dip_years", "dip_params", base_column="score_base",
                         doc="病种平均费用（年度加权、剔除离群病例）÷ 全部病例平均费用（年度加权）× 1000")

CATALOGUE = Step(
    name="dip_catalogue",
    main="dip_relative",
    mode="global",
    broadcast=("dip_groups", "dip_primary"),
    sql="""
SELECT g.group_id, g.kind, g.dx_cat, g.dx_sub, g.combo, g.tier, r.cases, r.cases_kept, r.avg_cost,
       r.relative AS score, g.group_id IN (SELECT group_id FROM dip_primary) AS primary_care,
       r.reference_cost
FROM dip_relative r JOIN dip_groups g USING (group_id)
""",
    schema=pa.schema([("group_id", pa.string()), ("kind", pa.string()), ("dx_cat", pa.string()),
                      ("dx_sub", pa.string()), ("combo", pa.string()), ("tier", pa.string()),
                      ("cases", pa.int64()), ("cases_kept", pa.int64()), ("avg_cost", MONEY), ("score", SCORE),
                      ("primary_care", pa.bool_()), ("reference_cost", MONEY)]),
    order_by=("group_id",),
    doc="病种目录库：病种平均费用（年度加权、剔除离群病例）÷ 全部病例平均费用（年度加权）× 1000 = 病种分值",
)

# Each key row (``KEY_CTES``) resolved once against the catalogue: the core group (亚目 × 手术操作组合) if the
# catalogue has it, else the comprehensive group (类目 × 层级), else NO_GROUP; with the group's amounts in exact
# integer units (fen for money, 1/10 000 for scores and ratios) and its deviation thresholds in fen.
RESOLVE_CTES = """g AS (  -- per catalogue group, once: exact integer units (fen for money, 1/10 000 for scores and ratios)
    SELECT c.kind, c.dx_sub, c.combo, c.dx_cat, c.tier, c.group_id, c.avg_cost, c.score, c.primary_care,
           nullif(CAST(c.avg_cost * 100 AS BIGINT), 0) AS avg_f,
           CAST(c.score * 10000 AS BIGINT) AS score_u,
           -- deviation thresholds in fen: cost > r × avg ⇔ cost_f > floor(100 r × avg),
           -- cost < r × avg ⇔ cost_f < ceil(100 r × avg)
           CAST(floor(p.extreme_ratio * c.avg_cost * 100) AS BIGINT) AS extreme_f,
           CAST(floor(p.high_ratio * c.avg_cost * 100) AS BIGINT) AS high_f,
           CAST(ceil(p.low_ratio * c.avg_cost * 100) AS BIGINT) AS low_f,
           (CAST(p.high_ratio * 10000 AS BIGINT) - 10000) * nullif(CAST(c.avg_cost * 100 AS BIGINT), 0) AS high_off
    FROM dip_catalogue c, dip_params p
),
kr AS (  -- each key row resolved once: the core group (亚目 × 手术操作组合) if the catalogue has it, else the
         -- comprehensive group (类目 × 层级), else NO_GROUP
    SELECT k.multi, k.dx_raw, k.p_key, k.pos, k.dx,
           coalesce(c1.group_id, c2.group_id) AS group_id,
           c1.group_id IS NOT NULL AS core,
           coalesce(c1.avg_cost, c2.avg_cost) AS avg_cost,
           coalesce(c1.score, c2.score) AS score,
           coalesce(c1.primary_care, c2.primary_care, false) AS primary_care,
           CASE WHEN c1.avg_cost IS NOT NULL THEN c1.avg_f ELSE c2.avg_f END AS avg_f,
           CASE WHEN c1.avg_cost IS NOT NULL THEN c1.extreme_f ELSE c2.extreme_f END AS extreme_f,
           CASE WHEN c1.avg_cost IS NOT NULL THEN c1.high_f ELSE c2.high_f END AS high_f,
           CASE WHEN c1.avg_cost IS NOT NULL THEN c1.low_f ELSE c2.low_f END AS low_f,
           CASE WHEN c1.avg_cost IS NOT NULL THEN c1.high_off ELSE c2.high_off END AS high_off,
           CASE WHEN c1.score IS NOT NULL THEN c1.score_u ELSE c2.score_u END AS score_u,
           k.why IS NULL AND (c1.group_id IS NOT NULL OR c2.group_id IS NOT NULL) AS grouped,
           coalesce(k.why, CASE WHEN c1.group_id IS NULL AND c2.group_id IS NULL THEN 'NO_GROUP' END) AS reason
    FROM kz k
    LEFT JOIN g c1 ON k.why IS NULL AND c1.kind = 'core' AND c1.dx_sub = k.dx_sub AND c1.combo = k.combo
    LEFT JOIN g c2 ON k.why IS NULL AND c2.kind = 'comprehensive' AND c2.dx_cat = k.dx_cat AND c2.tier = k.tier
)"""
# each institution's coefficient (its own, else its level's, else 1)
INST_CTE = """inst AS (  -- per institution, once: its coefficient (its own, else its level's, else 1)
    SELECT ids.institution_id, CAST(coalesce(ci.coefficient, cl.coefficient, 1) AS DECIMAL(9, 4)) AS coefficient
    FROM (SELECT institution_id FROM institutions
          UNION SELECT key FROM dip_coefficients WHERE scope = 'institution') ids
    LEFT JOIN institutions i ON i.institution_id = ids.institution_id
    LEFT JOIN dip_coefficients ci ON ci.scope = 'institution' AND ci.key = ids.institution_id
    LEFT JOIN dip_coefficients cl ON cl.scope = 'level' AND cl.key = CAST(i.level AS VARCHAR)
)"""

# Grouping and scoring in one step, partitioned by institution (the review cap counts an institution's grouped
# cases): an Arrow-function step (docs/adr/0004-arrow-steps.md, :mod:`yibao.dip.scoring`). Its SQL reads the
# inpatient stays; the function works out each distinct key row once in DuckDB (``KEY_CTES``, ``RESOLVE_CTES``),
# gives every stay its key row by index, computes deviation, ratio, case score and points in integer units with the
# SQL below (``yibao.dip.scoring.ARITH_SQL``), counts each institution's grouped stays and ranks its extreme stays
# for the special-case review with NumPy, and builds the sorted result.
CASE_INPUT_SQL = """
SELECT case_id, institution_id, scheme, CAST(year(discharge_date) AS INTEGER) AS year,
       CAST(total_cost AS DECIMAL(18,2)) AS total_cost, CAST(total_cost * 100 AS BIGINT) AS cost_f,
       coalesce(total_cost > 0, false) AS pos,
       CAST(year(settle_date) AS INTEGER) AS settle_year, CAST(month(settle_date) AS INTEGER) AS settle_month,
       CAST(fund_paid AS DECIMAL(18,2)) AS fund_paid,
       CAST(date_diff('day', admit_date, discharge_date) AS INTEGER) AS los_days,
       principal_dx AS dx_raw, coalesce(len(procedures) >= 2, false) AS multi,
       CASE WHEN coalesce(len(procedures) >= 2, false) THEN NULL ELSE coalesce(procedures[1], '') END AS p_key,
       CASE WHEN len(procedures) >= 2 THEN CAST(procedures AS VARCHAR[]) END AS procedures
FROM cases
WHERE setting = 'inpatient'
  -- as the set-based join always had it: a stay needs an institution, and a stay of several procedure
  -- entries its case_id (its key row is its own)
  AND institution_id IS NOT NULL AND NOT (coalesce(len(procedures) >= 2, false) AND case_id IS NULL)
"""


def _score_cases(tables, con):
    """The step's function (imported late: :mod:`yibao.dip.scoring` builds on this module's SQL)."""
    from yibao.dip.scoring import score_cases

    return score_cases(tables, con)


CASE_POINTS = Step(
    name="dip_case_points",
    main="cases",
    mode="partitioned",
    partition_by=("institution_id",),
    broadcast=("dip_proc_rules", "dip_proc_valid", "dip_catalogue", "dip_params", "institutions", "dip_coefficients",
               "dip_review"),
    sql=CASE_INPUT_SQL,
    fn=_score_cases,
    schema=pa.schema([
        ("case_id", pa.string()), ("institution_id", pa.string()), ("year", pa.int32()),
        ("group_id", pa.string()), ("group_kind", pa.string()), ("primary_care", pa.bool_()),
        ("total_cost", MONEY), ("avg_cost", MONEY), ("score", SCORE), ("ratio", SCORE), ("deviation", pa.string()),
        ("case_score", SCORE), ("coefficient", PARAM), ("formula_points", SCORE), ("points", SCORE),
        ("review_rank", pa.int64()), ("review_cap", pa.int64()), ("status", pa.string()), ("reason", pa.string()),
        *SETTLE_FIELDS,
    ]),
    order_by=("case_id",),
    doc="病例入组（核心病种→综合病种→不能入组）、偏差病例赋分、机构系数（基层病种不乘系数）、"
        "特例单议名额（每机构不超过入组病例数 × review_share，按偏离倍数从高到低）与病例最终分值",
)

DIP_CATALOGUE = Pipeline(
    name="dip_catalogue",
    steps=(CASE_KEYS, COMBO_COUNTS, THRESHOLD, CORE_KEYS, GROUP_CASES, GROUPS, GROUP_YEAR, RELATIVE, CATALOGUE),
    doc="DIP 目录库：由历史住院病例生成核心病种、综合病种及其分值",
)
DIP_SCORING = Pipeline(
    name="dip_scoring",
    steps=(CASE_POINTS,),
    doc="DIP 病例入组与赋分：偏差病例、机构系数、特例单议",
)


# --- the example region (fixtures) ------------------------------------------------------------

def toy_cases(rows: list[tuple]) -> pa.Table:
    """Cases from ``(case_id, institution_id, principal_dx, procedures, total_cost, settle_year[, setting])``."""
    schema = CASES.arrow_schema()
    recs = []
    for r in rows:
        cid, inst, dx, procs, cost, yr = r[:6]
        setting = r[6] if len(r) > 6 else "inpatient"
        d = date(yr, 6, 15)
        recs.append({
            "case_id": cid, "person_id": "P" + cid, "institution_id": inst, "scheme": "employee", "sex": "1",
            "age_years": 50, "setting": setting, "admit_date": d, "discharge_date": d, "principal_dx": dx,
            "procedures": procs, "total_cost": None if cost is None else Decimal(cost),
            "fund_paid": Decimal("0.00"), "self_pay": Decimal("0.00"), "out_of_pocket_excluded": Decimal("0.00"),
            "settle_date": d,
        })
    return pa.table({f.name: pa.array([r.get(f.name) for r in recs], f.type) for f in schema}, schema=schema)


def toy_institutions() -> pa.Table:
    inst = [("H3", 3), ("H2", 2), ("P1", 1)]
    return pa.table({
        "institution_id": [i for i, _ in inst], "name": ["三级医院", "二级医院", "卫生院"],
        "kind": ["hospital", "hospital", "primary"], "level": [lv for _, lv in inst],
        "category": ["general"] * 3, "region_code": ["440200"] * 3,
        "agreement_start": [date(2015, 1, 1)] * 3, "agreement_end": [None] * 3,
    }, schema=INSTITUTIONS.arrow_schema())


def example_region() -> pa.Table:
    """A small region over 2023–2025: gallstones with/without surgery, pneumonia, and bad rows."""
    rows: list[tuple] = []
    n = 0
    for yr in (2023, 2024, 2025):
        for i in range(8):
            inst = ("H3", "H2", "P1")[i % 3]
            n += 1
            rows.append((f"E{n:04d}", inst, "K80.100x001", ["51.2300", "88.7601"], f"{12000 + 500 * i + 300 * (yr - 2023)}.00", yr))
            n += 1
            rows.append((f"E{n:04d}", inst, "J18.900", [], f"{4000 + 200 * i}.50", yr))
            n += 1
            rows.append((f"E{n:04d}", inst, "K80.100", [], f"{3000 + 100 * i}.00", yr))
        n += 1
        rows.append((f"E{n:04d}", "H3", "K80.200", ["99.2500"], "9000.00", yr))
        n += 1
        rows.append((f"E{n:04d}", "H2", "J18.000", ["45.1300x004"], "5200.00", yr))
    rows += [
        ("E9001", "H3", "K80.100", ["51.2300"], "90000.00", 2025),    # extreme
        ("E9002", "H2", "J18.900", [], "900.00", 2025),              # low
        ("E9003", "H3", None, [], "1000.00", 2025),                  # no dx
        ("E9004", "H3", "K8O.1", [], "1000.00", 2025),               # malformed dx
        ("E9005", "P1", "J18.900", ["5I.23"], "1000.00", 2025),      # malformed procedure
        ("E9006", "P1", "J18.900", [], "0.00", 2025),                # zero cost
        ("E9007", "H3", "J18.900", [], "500.00", 2025, "outpatient"),  # not inpatient: not in DIP
    ]
    return toy_cases(rows)


def example_params() -> dict[str, pa.Table]:
    from yibao.dip.policy import load_policy

    pol = load_policy()
    tables = param_tables(pol, [2023, 2024, 2025])
    tables["dip_primary"] = pa.table({"group_id": ["J18.9|-"]}, schema=PRIMARY_SCHEMA)
    tables["dip_coefficients"] = pa.table({"scope": ["level", "level", "institution"], "key": ["3", "2", "P1"],
                                           "coefficient": [Decimal("1.1"), Decimal("0.9"), Decimal("0.8")]},
                                          schema=COEF_SCHEMA)
    return tables


def catalogue_fixture() -> dict[str, pa.Table]:
    return {"cases": example_region(), "dip_proc_rules": read_overrides(), "dip_proc_valid": read_valid_procedures(None),
            **example_params()}


def scoring_fixture() -> dict[str, pa.Table]:
    src = catalogue_fixture()
    runner = LocalRunner()
    try:
        cat = runner.run_pipeline(DIP_CATALOGUE, src)["dip_catalogue"]
    finally:
        runner.close()
    review = pa.table({"case_id": ["E9001"], "final_score": [Decimal("2500.0000")]}, schema=REVIEW_SCHEMA)
    return {**src, "dip_catalogue": cat, "institutions": toy_institutions(), "dip_review": review}


register(DIP_CATALOGUE, fixture=catalogue_fixture)
register(DIP_SCORING, fixture=scoring_fixture)


# --- settlement aggregates (yibao.dip.settlement) ----------------------------------------------------
from yibao.dip.settlement import DIP_PER_CAPITA, DIP_SETTLE_UNITS, example_settle_sources_outside  # noqa: E402

register(DIP_SETTLE_UNITS, fixture=example_settle_sources_outside)
register(DIP_PER_CAPITA, fixture=example_settle_sources_outside)
from yibao.dip.settlement import OUTSIDE_AGREEMENT, example_agreement_sources  # noqa: E402

register(OUTSIDE_AGREEMENT, fixture=example_agreement_sources)
from yibao.dip.indicators import DIP_INDICATORS, indicators_fixture  # noqa: E402

register(DIP_INDICATORS, fixture=indicators_fixture)
