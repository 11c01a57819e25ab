"""The grouping keys of DIP in SQL (分组键): how a stay's principal diagnosis and procedures become its group.

Shared by the catalogue (``dip_case_keys``, :mod:`yibao.dip.catalogue`) and the scoring (``dip_case_points``,
:mod:`yibao.dip.scoring`):

- ``KEY_CTES``: each distinct key row of the stays (diagnosis × procedure entries), classified once;
- ``KEY_JOIN``: how a stay finds its key row;
- ``RESOLVE_CTES``: each key row resolved against a catalogue (core group, else comprehensive group, else
  NO_GROUP), with the group's amounts in exact integer units;
- ``INST_CTE``: each institution's coefficient;
- ``CASE_INPUT_SQL``: the inpatient stays as the scoring step reads them.

Group keys (``group_id``):

- core group (核心病种): ``<dx_sub>|<combo>``, ``dx_sub`` the principal diagnosis's first five
  characters (``K80.1``), ``combo`` the sorted distinct surgical/therapeutic procedure codes
  joined by ``+`` or ``-`` when there are none: ``K80.1|51.2300``, ``K80.1|-``;
- comprehensive group (综合病种): ``<dx_cat>#<tier>``, ``dx_cat`` the first three characters and
  tier ``conservative`` / ``diagnostic`` / ``therapeutic`` / ``surgical`` (the highest class
  among the case's procedures): ``K80#surgical``.
"""

from __future__ import annotations

from yibao.contract.schema import ICD9_PATTERN, ICD10_PATTERN

__all__ = ["KEY_CTES", "KEY_JOIN", "RESOLVE_CTES", "INST_CTE", "CASE_INPUT_SQL"]

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


