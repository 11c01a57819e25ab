"""CHS-DRG grouping, set-based (DRG 分组): one step over all cases against the compiled standards
tables (:mod:`yibao.drg.compile`). No Python runs per case: the per-case steps are whole-column
Arrow/NumPy (an Arrow-function step, docs/adr/0004-arrow-steps.md), the ADRG decision is DuckDB SQL
over the distinct combinations of ADRG inputs (``ADRG_SQL``).

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
4. **DRG**: the ADRG's DRG rules (``drg_rule``) in their order, the first that holds: a rule tests
   the case's complication level — ``mcc`` when some secondary diagnosis is an MCC not excluded by
   the principal diagnosis's exclusion table, else ``cc`` likewise, else ``none`` — and, in versions
   that have them, bounds on the length of stay (``LOS`` = discharge − admission in days) or the
   age. When none holds the DRG is the ADRG code itself (README §4 step 4); when the first rule that
   does not fail on the level needs a length of stay the case lacks, the status is ``missing_los``
   (MDC and ADRG given, no DRG) — the reference grouper crashes there.
5. **Not grouped**: the reason, refined from the reference's single "无法入组" — ``invalid_dx``
   (principal diagnosis not a code of the set), ``unacceptable_principal_dx`` (a known code that
   no MDC accepts as principal), ``sex_conflict`` / ``age_conflict`` (its only MDCs need another
   sex / a newborn), ``ungroupable`` (an MDC was entered but none of its ADRGs matched, or
   multiple-trauma regions too few).

Unknown secondary diagnoses and procedures never block grouping (the reference ignores them):
they are reported in ``warnings``.

Speed (issue 5): a case's secondary codes are found in the code tables by ``pyarrow.compute.index_in``
over the flat list values and their flag bits OR-ed per case through the list offsets (no unnest, no
re-aggregation by case id); steps 2–3 run once per distinct combination of the ADRG inputs (principal
diagnosis, principal procedure, interval positions, flag capabilities), which cases share, and the
result is taken back to each case by its combination number — a case whose secondary codes hit an
ADRG list is its own combination. The output is sorted by ``case_id`` (computed in another thread
while the per-case steps run). ``case_id`` must be unique (the loader's key;
:func:`yibao.drg.cases.read_cases` refuses a file naming a case twice).

Semantics of the reads, as the SQL step had them: ``sex`` is read as text, trimmed of spaces, blank =
missing; ``principal_dx`` blank = missing; numbers are compared on the real line (a file may give
fractions); a missing or blank item in a code list is an unknown code (a warning, never a block).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Mapping

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from yibao.drg.compile import (
    CAP_ANY_VALID,
    CAP_HAS_PROC,
    CAP_NO_VALID,
    CAP_PPROC_VALID,
    CAP_REGIONS,
    FIELD_BITS,
    RULE_FIELD_BITS,
    TABLE_NAMES,
    field_shift,
    rule_field_shift,
)
from yibao.drg.conditions import RULE_VARS, VAR_COLUMN
from yibao.drg.mapping import map_codes as translate
from yibao.engine.columns import codes, firsts
from yibao.engine.runner import LocalRunner, Pipeline, Runner, Step, query_arrow, run_final

PRECHECK_STATUSES = ("missing_sex", "invalid_sex", "missing_age", "missing_age_days", "missing_newborn_weight",
                     "missing_dx")
UNGROUPED_STATUSES = ("invalid_dx", "unacceptable_principal_dx", "sex_conflict", "age_conflict", "ungroupable")
RULE_STATUSES = ("missing_los",)  # an ADRG was reached, its DRG rules need what the case lacks
RESULT_SCHEMA = pa.schema([
    ("case_id", pa.string()), ("status", pa.string()), ("mdc", pa.string()), ("adrg", pa.string()),
    ("drg", pa.string()), ("cc_level", pa.string()), ("warnings", pa.string()), ("standards_version", pa.string()),
])
CONTRACT_COLUMNS = ("case_id", "status", "mdc", "adrg", "drg")
CASE_COLUMNS: dict[str, pa.DataType] = {
    "case_id": pa.string(), "setting": pa.string(), "sex": pa.string(), "age_years": pa.int32(),
    "newborn_age_days": pa.int32(), "newborn_weight_g": pa.int32(), "principal_dx": pa.string(),
    "secondary_dx": pa.list_(pa.string()), "procedures": pa.list_(pa.string()),
    "admit_date": pa.date32(), "discharge_date": pa.date32(),
}


def positions(var: str, x: np.ndarray, meta: Mapping[str, object], *, rule: bool = False) -> np.ndarray:
    """The bit of each case value ``x`` (float, NaN = missing) in the interval field of ``var`` (see
    :class:`~yibao.drg.compile.Intervals`): the number of cuts it passes, the field's last slot when
    missing. ``rule``: the fields of the DRG rules' variables (``rule_*`` cuts) instead of the ADRGs'."""
    c = VAR_COLUMN[var]
    prefix, bits, shift = ("rule_", RULE_FIELD_BITS, rule_field_shift(var)) if rule else ("", FIELD_BITS, field_shift(var))
    ge = np.sort(np.asarray(meta[f"{prefix}{c}_ge"] or [], dtype=np.float64))
    gt = np.sort(np.asarray(meta[f"{prefix}{c}_gt"] or [], dtype=np.float64))
    slot = np.full(len(x), bits - 1, dtype=np.int64)
    known = np.flatnonzero(~np.isnan(x))  # (age in days and birth weight: mostly missing)
    v = x[known]
    slot[known] = np.searchsorted(ge, v, side="right") + np.searchsorted(gt, v, side="left")  # x >= t, x > t
    return np.left_shift(np.int64(1), slot + shift)


def _field_mask(*variables: str) -> int:
    m = 0
    for v in variables:
        m |= ((1 << FIELD_BITS) - 1) << field_shift(v)
    return m


def _holds(a: str, x: str) -> str:
    """SQL: every test of rule row ``a`` but its list tests holds for combination row ``x``: the MDC list
    (``mdc_need`` against the principal diagnosis's MDC bits), the flag tests (``need`` against the
    case's ``caps``) and the variable bounds (the case's interval positions ``pos`` against ``allowed``)."""
    return f"({a}.mdc_need & ~{x}.pdx_mask) = 0 AND ({a}.need & ~{x}.caps) = 0 AND ({x}.pos & ~{a}.allowed) = 0"


# flag bits of a case's secondary codes, region bits above them
F_VALID, F_MCC, F_CC, F_UNKNOWN_DX, F_UNKNOWN_PROC, REGION_SHIFT = 1, 2, 4, 8, 16, 8
SEX_FIELD = _field_mask("SEX")
AGE_FIELDS = _field_mask("AGE_YEARS", "AGE_DAYS", "WEIGHT")

# the step reads these columns of the cases that are not outpatient (numbers as DOUBLE: a file may give
# fractions, and every bound is compared on the real line)
INPUT_SQL = """
SELECT CAST(case_id AS VARCHAR) AS case_id, CAST(sex AS VARCHAR) AS sex,
       CAST(age_years AS DOUBLE) AS age_years, CAST(newborn_age_days AS DOUBLE) AS age_days,
       CAST(newborn_weight_g AS DOUBLE) AS weight, CAST(principal_dx AS VARCHAR) AS principal_dx,
       CAST(secondary_dx AS VARCHAR[]) AS secondary_dx, CAST(procedures AS VARCHAR[]) AS procedures,
       CAST(admit_date AS DATE) AS admit_date, CAST(discharge_date AS DATE) AS discharge_date
FROM cases
WHERE setting IS NULL OR setting <> 'outpatient'
"""

# the ADRG of every distinct combination of ADRG inputs (``cb``; ``cb_hits``: the secondary-code hits of
# the combinations that are one case each), or why there is none
ADRG_SQL = f"""
WITH held AS (  -- (combination, ADRG) pairs whose whole condition holds
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
            SELECT s.cid, h.adrg_no, h.bits FROM cb_hits s JOIN drg_cand h ON h.key = s.key
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
)
SELECT cb.cid, best.adrg_no, why.status AS why
FROM cb LEFT JOIN best ON best.cid = cb.cid LEFT JOIN why ON why.cid = cb.cid
"""

# a case's status as a small integer: the pre-checks, ok, the reasons for no group
STATUSES = (*PRECHECK_STATUSES, "ok", *UNGROUPED_STATUSES, *RULE_STATUSES)
S_OK = STATUSES.index("ok")
NO_PRECHECK = -1
SLICE_ROWS = 50_000  # the per-case steps run in slices of at least this many cases, one thread each


def _numbers(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A numeric column as float64, NaN for missing."""
    return pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False)


def _column(table: pa.Table, name: str, missing: int, dtype=np.int64) -> np.ndarray:
    """A lookup table's column as integers, ``missing`` for nulls, with one more entry (``missing``) at the
    end: the row of a code the table does not have (index ``len(table)``)."""
    col = table.column(name)
    if pa.types.is_boolean(col.type):
        col = pc.cast(col, pa.int8())
    values = pc.fill_null(col, missing).to_numpy().astype(dtype)
    return np.append(values, np.array([missing], dtype=dtype))


def _find(values, known: pa.Array) -> np.ndarray:
    """Row of each value in the lookup table's codes ``known`` (``len(known)`` when absent or missing)."""
    return pc.fill_null(pc.index_in(values, value_set=known), len(known)).to_numpy().astype(np.int64)


def _lists(col) -> tuple[pa.ChunkedArray | pa.Array, np.ndarray, np.ndarray, np.ndarray]:
    """A list column as its flat values, each value's case (row), each value's place in its list, and each
    row's list length (a missing list is empty)."""
    lengths = pc.fill_null(pc.list_value_length(col), 0).to_numpy().astype(np.int64)
    flat = pc.list_flatten(col)
    row = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    starts = np.cumsum(lengths) - lengths
    place = np.arange(len(row), dtype=np.int64) - starts[row]
    return flat, row, place, lengths


def _prechecks(sex: pa.ChunkedArray, age: np.ndarray, days: np.ndarray, weight: np.ndarray, pdx_missing: np.ndarray,
               newborn_max_days) -> np.ndarray:
    """The first pre-check each case fails (index into ``STATUSES``), ``NO_PRECHECK`` when none."""
    sex_missing = pc.fill_null(pc.is_null(sex), True).to_numpy(zero_copy_only=False)
    sex_valid = pc.fill_null(pc.is_in(sex, value_set=pa.array(["1", "2"])), False).to_numpy(zero_copy_only=False)
    newborn = (age == 0) & (days <= newborn_max_days) if newborn_max_days is not None else np.zeros(len(age), bool)
    conditions = [sex_missing, ~sex_valid, np.isnan(age), (age == 0) & np.isnan(days),
                  newborn & np.isnan(weight), pdx_missing]
    return np.select(conditions, [STATUSES.index(s) for s in PRECHECK_STATUSES], NO_PRECHECK).astype(np.int8)


def _combinations(keys: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Each row's combination number (rows agreeing on every key share it) and the first row of each."""
    parts = [k if k.min() >= 0 and int(k.max()).bit_length() <= 20 else codes(k)[0] for k in keys]  # small: as is
    widths = [max(int(c.max()).bit_length(), 1) for c in parts]
    if sum(widths) <= 63:  # one packed integer per row, encoded once
        packed = np.zeros(len(parts[0]), dtype=np.int64)
        shift = 0
        for c, w in zip(parts, widths):
            packed |= c << shift
            shift += w
        cid, _ = codes(packed)
    else:  # pragma: no cover - needs more than 2**63 possible combinations of the distinct values
        _, first, cid = np.unique(np.stack(parts, axis=1), axis=0, return_index=True, return_inverse=True)
        renumber = np.empty(len(first), dtype=np.int64)
        renumber[np.argsort(first, kind="stable")] = np.arange(len(first))
        cid = renumber[cid.reshape(-1)]
    return cid, firsts(cid)


class _Lookups:
    """The compiled standards tables as NumPy arrays indexed by table row; each has one more entry at the end,
    the row of a code the set does not have (``unknown_dx`` / ``unknown_proc``)."""

    def __init__(self, tables: Mapping[str, pa.Table]) -> None:
        dx, proc = tables["drg_dx"], tables["drg_proc"]
        self.meta = tables["drg_meta"].to_pylist()[0]
        self.dx_codes, self.proc_codes = dx.column("code").combine_chunks(), proc.column("code").combine_chunks()
        self.unknown_dx, self.unknown_proc = len(self.dx_codes), len(self.proc_codes)
        self.dx_id, self.dx_mask = _column(dx, "id", 0), _column(dx, "mdc_mask", 0)
        self.dx_trauma, self.dx_hit = _column(dx, "trauma_bit", 0), _column(dx, "sdx_hit", 0).astype(bool)
        self.dx_mcc, self.dx_cc, self.dx_cce = (_column(dx, c, -1) for c in ("mcc_table", "cc_table", "cce_table"))
        if min(self.dx_mcc.min(), self.dx_cc.min(), self.dx_cce.min()) < -1:
            raise ValueError("drg_dx: exclusion table numbers must not be negative")
        self.proc_id, self.proc_hit = _column(proc, "id", 0), _column(proc, "proc_hit", 0).astype(bool)
        self.proc_valid = _column(proc, "valid", 0).astype(bool)


def _case_part(cases: pa.Table, lk: _Lookups) -> dict[str, np.ndarray]:
    """Per case of ``cases``: the first pre-check failed, the principal codes' rows, interval positions,
    flag bits of the secondary codes, capabilities, and whether a secondary code is a hit of some ADRG list
    (``own``); ``hit_row`` / ``hit_key``: those hits (the case's row, the ``drg_cand`` key)."""
    n, meta = cases.num_rows, lk.meta
    sex = pc.utf8_trim(cases.column("sex"), characters=" ")
    sex = pc.if_else(pc.equal(sex, ""), pa.scalar(None, pa.string()), sex)
    age, days, weight = (_numbers(cases.column(c)) for c in ("age_years", "age_days", "weight"))
    pdx_text = cases.column("principal_dx")
    pdx_missing = pc.fill_null(pc.equal(pdx_text, ""), True).to_numpy(zero_copy_only=False)
    precheck = _prechecks(sex, age, days, weight, pdx_missing, meta["newborn_max_days"])
    checked = precheck == NO_PRECHECK
    pdx = _find(pdx_text, lk.dx_codes)
    pdx_mask, cce = lk.dx_mask[pdx], lk.dx_cce[pdx]

    p_flat, p_row, p_place, n_proc = _lists(cases.column("procedures"))
    p_rows = _find(p_flat, lk.proc_codes)
    first = p_place == 0
    pproc = np.full(n, lk.unknown_proc, dtype=np.int64)
    pproc[p_row[first]] = p_rows[first]
    pproc_valid = lk.proc_valid[pproc]

    # interval positions: only where a rule with bounds can be reached
    reach = checked & (bool(meta["pos_always"]) | ((pdx_mask & int(meta["pos_mdc_mask"])) != 0))
    sex_num = np.where(pc.fill_null(pc.equal(sex, "2"), False).to_numpy(zero_copy_only=False), 2.0, 1.0)
    pos = (positions("SEX", sex_num, meta) | positions("AGE_YEARS", age, meta)
           | positions("AGE_DAYS", days, meta) | positions("WEIGHT", weight, meta))
    pos = np.where(reach, pos, 0)
    # the DRG rules' variables: length of stay (discharge − admission, days; a same-day stay 0) and the others
    los = _numbers(pc.days_between(cases.column("admit_date"), cases.column("discharge_date")))
    rule_values = {"SEX": sex_num, "AGE_YEARS": age, "AGE_DAYS": days, "WEIGHT": weight, "LOS": los}
    rpos = np.zeros(n, dtype=np.int64)
    for var in RULE_VARS:
        rpos |= positions(var, rule_values[var], meta, rule=True)

    # secondary diagnoses and further procedures: flag bits OR-ed per case, hits kept
    s_flat, s_row, _, _ = _lists(cases.column("secondary_dx"))
    s_rows = _find(s_flat, lk.dx_codes)
    mcc, cc, case_cce = lk.dx_mcc[s_rows], lk.dx_cc[s_rows], cce[s_row]
    s_flags = (np.where(s_rows == lk.unknown_dx, F_UNKNOWN_DX, 0) | np.where((mcc >= 0) & (mcc != case_cce), F_MCC, 0)
               | np.where((cc >= 0) & (cc != case_cce), F_CC, 0) | (lk.dx_trauma[s_rows] << REGION_SHIFT))
    r_row, r_rows = p_row[~first], p_rows[~first]
    r_flags = np.where(r_rows == lk.unknown_proc, F_UNKNOWN_PROC, np.where(lk.proc_valid[r_rows], F_VALID, 0))
    flags = np.where((n_proc > 0) & (pproc == lk.unknown_proc), F_UNKNOWN_PROC, 0).astype(np.int64)
    np.bitwise_or.at(flags, s_row, s_flags.astype(np.int64))
    np.bitwise_or.at(flags, r_row, r_flags.astype(np.int64))
    s_hit, r_hit = lk.dx_hit[s_rows], lk.proc_hit[r_rows]
    own = np.zeros(n, dtype=bool)
    own[s_row[s_hit]] = True
    own[r_row[r_hit]] = True
    own &= checked

    any_valid = pproc_valid | ((flags & F_VALID) != 0)
    trauma = lk.dx_trauma[pdx] | (flags >> REGION_SHIFT)
    regions = np.bitwise_count(trauma).astype(np.int64)
    caps = (np.where(n_proc > 0, CAP_HAS_PROC, 0) | np.where(pproc_valid, CAP_PPROC_VALID, 0)
            | np.where(any_valid, CAP_ANY_VALID, CAP_NO_VALID)
            | (((np.int64(1) << regions) - 1) << (CAP_REGIONS + 1))).astype(np.int64)
    s_own, r_own = own[s_row] & s_hit, own[r_row] & r_hit
    return {"precheck": precheck, "checked": checked, "pdx": pdx, "pproc": pproc, "pos": pos, "caps": caps,
            "flags": flags, "own": own, "rpos": rpos,
            "hit_row": np.concatenate([s_row[s_own], r_row[r_own]]),
            "hit_key": np.concatenate([lk.dx_id[s_rows[s_own]] * 4 + 1, lk.proc_id[r_rows[r_own]] * 4 + 3])}


def group_cases(tables: Mapping[str, pa.Table], con: duckdb.DuckDBPyConnection, *,
                share_key: np.ndarray | None = None, stats: dict | None = None) -> pa.Table:
    """The grouping of ``tables["cases"]`` (the rows of ``INPUT_SQL``) against the compiled standards tables,
    sorted by ``case_id``: whole-column Arrow/NumPy for the per-case steps (the cases in slices, one thread
    each), DuckDB (``con``) for the ADRG of each distinct combination of ADRG inputs.

    ``share_key`` (benchmarks only): one more integer per case that a combination must agree on — distinct
    values make cases that would share a combination decide it apart; the results are the same. ``stats``:
    filled with the number of ``combinations`` decided."""
    cases = tables["cases"]
    n = cases.num_rows
    lk = _Lookups(tables)
    k = max(1, min(os.cpu_count() or 1, n // SLICE_ROWS))
    bounds = [n * i // k for i in range(k + 1)]
    with ThreadPoolExecutor(max_workers=k + 1, thread_name_prefix="yibao-drg") as pool:
        order = pool.submit(pc.sort_indices, cases.column("case_id"))  # the output order, meanwhile
        parts = list(pool.map(lambda i: _case_part(cases.slice(bounds[i], bounds[i + 1] - bounds[i]), lk), range(k)))
        a = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
        a["hit_row"] = np.concatenate([p["hit_row"] + bounds[i] for i, p in enumerate(parts)])
        del parts
        checked, own, pdx, pproc = a["checked"], a["own"], a["pdx"], a["pproc"]

        # the distinct ADRG inputs of the cases that passed the pre-checks; a case with a secondary-code hit
        # is a combination of its own
        shared = np.flatnonzero(checked & ~own)
        alone = np.flatnonzero(own)
        keys = [pdx[shared], pproc[shared], a["pos"][shared], a["caps"][shared]]
        if share_key is not None:
            keys.append(np.asarray(share_key, dtype=np.int64)[shared])
        cid = np.zeros(n, dtype=np.int64)
        rep = np.zeros(0, dtype=np.int64)
        if len(shared):
            shared_cid, first_row = _combinations(keys)
            cid[shared] = shared_cid
            rep = shared[first_row]
        cid[alone] = len(rep) + np.arange(len(alone), dtype=np.int64)
        rep = np.concatenate([rep, alone])
        cb = pa.table({
            "cid": pa.array(np.arange(len(rep), dtype=np.int64)),
            "pdx_id": pa.array(lk.dx_id[pdx[rep]], mask=pdx[rep] == lk.unknown_dx),
            "pdx_mask": pa.array(lk.dx_mask[pdx[rep]]),
            "pproc_id": pa.array(lk.proc_id[pproc[rep]], mask=pproc[rep] == lk.unknown_proc),
            "pos": pa.array(a["pos"][rep]), "caps": pa.array(a["caps"][rep]),
        })
        if stats is not None:
            stats["combinations"] = len(rep)
        cb_hits = pa.table({"cid": pa.array(cid[a["hit_row"]]), "key": pa.array(a["hit_key"])})
        adrg_of, why_of = _decide(con, cb, cb_hits, tables)

        # each case's result, as row numbers into small arrays of the output strings
        adrg = tables["drg_adrg"]
        flags = a["flags"]
        adrg_row = np.where(checked, adrg_of[cid], -1)
        grouped = adrg_row >= 0
        level = np.where((flags & F_MCC) != 0, 0, np.where((flags & F_CC) != 0, 1, 2))
        drg_row, lacks = _drg_rules(tables, adrg_row, 2 - level, a["rpos"])
        status = np.where(~checked, a["precheck"], np.where(grouped, np.where(lacks, S_MISSING_LOS, S_OK), why_of[cid]))
        warn = np.where(checked, ((flags & F_UNKNOWN_DX) != 0) * 1 + ((flags & F_UNKNOWN_PROC) != 0) * 2, 0)
        columns = {
            "status": (pa.array(STATUSES), status, None),
            "mdc": (adrg.column("mdc").combine_chunks(), adrg_row, grouped),
            "adrg": (adrg.column("adrg").combine_chunks(), adrg_row, grouped),
            "drg": (pa.concat_arrays([tables["drg_rule"].column("drg").combine_chunks(),
                                      adrg.column("adrg").combine_chunks()]),
                    drg_row, grouped & ~lacks),
            "cc_level": (pa.array(["mcc", "cc", "none"]), level, grouped),
            "warnings": (pa.array([None, "unknown_secondary_dx", "unknown_procedure",
                                   "unknown_secondary_dx|unknown_procedure"], pa.string()), warn, warn > 0),
            "standards_version": (pa.array([lk.meta["standards_version"]], pa.string()),
                                  np.zeros(n, dtype=np.int8), None),
        }
        o = order.result().to_numpy()

        def pick(spec: tuple[pa.Array, np.ndarray, np.ndarray | None]) -> pa.Array:
            values, index, valid = spec  # values[index], null where not valid, in the output order
            return pc.take(values, pa.array(index[o].astype(np.int32), mask=None if valid is None else ~valid[o]))

        out = dict(zip(columns, pool.map(pick, columns.values())))
    return pa.table({"case_id": cases.column("case_id").take(o), **out})


S_MISSING_LOS = STATUSES.index("missing_los")
_RULE_NULLS = sum(1 << (rule_field_shift(v) + RULE_FIELD_BITS - 1) for v in RULE_VARS)  # every field's missing slot


def _drg_rules(tables: Mapping[str, pa.Table], adrg_row: np.ndarray, level: np.ndarray, rpos: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """Step 4 over whole columns: per case, its DRG as a row of ``drg_rule`` — or, when no rule holds,
    ``len(drg_rule)`` + its ``drg_adrg`` row (the ADRG code is the DRG) — and whether the first rule that
    does not fail on the complication level needs a variable the case lacks (``lacks``).

    ``level``: 0 none, 1 CC, 2 MCC; ``rpos``: the cases' interval positions in the rule fields. The rules
    of each arm are laid out as a matrix (arm × place), so the loop runs over the places (a few), never over
    the cases."""
    rules, adrg = tables["drg_rule"], tables["drg_adrg"]
    n_rules = rules.num_rows
    rank_row = np.full(int(pc.max(adrg.column("adrg_no")).as_py() or 0) + 2, -1, dtype=np.int64)
    rank_row[adrg.column("adrg_no").to_numpy()] = np.arange(adrg.num_rows)
    arm = rank_row[rules.column("adrg_no").to_numpy()]
    order = np.lexsort((rules.column("rule_no").to_numpy(), arm))
    arm_sorted = arm[order]
    place = np.arange(n_rules) - np.searchsorted(arm_sorted, arm_sorted, side="left")
    width = int(place.max()) + 1 if n_rules else 0
    row_at = np.full((adrg.num_rows + 1, max(width, 1)), -1, dtype=np.int64)  # (the extra arm: not grouped)
    row_at[arm_sorted, place] = order
    need = np.append(rules.column("need").to_numpy().astype(np.int64), 99)     # index -1: no rule there
    allowed = np.append(rules.column("allowed").to_numpy(), 0)
    uses = np.append(rules.column("uses").to_numpy(), 0)
    arm_of = np.where(adrg_row >= 0, adrg_row, adrg.num_rows)
    drg_row = n_rules + np.maximum(adrg_row, 0)
    lacks = np.zeros(len(adrg_row), dtype=bool)
    open_ = adrg_row >= 0
    for j in range(width):
        r = row_at[arm_of, j]
        level_ok = open_ & (level >= need[r])
        missing = level_ok & ((rpos & uses[r] & _RULE_NULLS) != 0)
        held = level_ok & ~missing & ((rpos & ~allowed[r]) == 0)
        drg_row = np.where(held, r, drg_row)
        lacks |= missing
        open_ &= ~(held | missing)
    return drg_row, lacks


def _decide(con: duckdb.DuckDBPyConnection, cb: pa.Table, cb_hits: pa.Table, tables: Mapping[str, pa.Table]
            ) -> tuple[np.ndarray, np.ndarray]:
    """Per combination number: the row of its ADRG in ``drg_adrg`` (-1: none) and the status why not."""
    cur = con.cursor()
    try:
        for name in ("drg_cand", "drg_adrg", "drg_free_all", "drg_mdc_dx"):
            cur.register(name, tables[name])
        cur.register("cb", cb)
        cur.register("cb_hits", cb_hits)
        got = query_arrow(cur, ADRG_SQL)
    finally:
        cur.close()
    n = max(cb.num_rows, 1)  # (one spare entry: looked up, never used, when no case passed the pre-checks)
    rank_row = np.full(int(pc.max(tables["drg_adrg"].column("adrg_no")).as_py() or 0) + 2, -1, dtype=np.int64)
    rank_row[tables["drg_adrg"].column("adrg_no").to_numpy()] = np.arange(tables["drg_adrg"].num_rows)
    cid = got.column("cid").to_numpy()
    adrg_of = np.full(n, -1, dtype=np.int64)
    adrg_of[cid] = rank_row[pc.fill_null(got.column("adrg_no"), -1).to_numpy()]
    why_of = np.full(n, S_OK, dtype=np.int64)
    why = pc.index_in(got.column("why"), value_set=pa.array(STATUSES))
    why_of[cid] = pc.fill_null(why, S_OK).to_numpy()
    return adrg_of, why_of


GROUP_STEP = Step(
    name="drg_group",
    main="cases",
    mode="rowwise",
    broadcast=TABLE_NAMES,
    sql=INPUT_SQL,
    fn=group_cases,
    schema=RESULT_SCHEMA,
    order_by=("case_id",),
    doc="CHS-DRG 分组：编码校验 → MDC → ADRG → DRG（按分组标准表，集合运算）",
)
DRG_GROUP = Pipeline("drg_group", (GROUP_STEP,), doc="CHS-DRG 分组（病例 → MDC/ADRG/DRG）")


NAME_COLUMNS = ("mdc_name", "adrg_name", "drg_name")


def add_names(result: pa.Table, standards) -> pa.Table:
    """``result`` with the names of its MDC, ADRG and DRG codes from the standards (``mdc_name``,
    ``adrg_name``, ``drg_name``; blank where the code is blank or the tables name none), looked up over
    whole columns."""
    out = result
    for level, column in zip(("mdc", "adrg", "drg"), NAME_COLUMNS):
        table = {"mdc": standards.mdc_names, "adrg": standards.adrg_names, "drg": standards.drg_names}[level]
        if level == "drg":  # a DRG that is its ADRG's code (no band held) takes the ADRG's name
            table = {**standards.adrg_names, **table}
        keys = pa.array(list(table), pa.string())
        values = pa.array(list(table.values()), pa.string())
        idx = pc.index_in(result.column(level), value_set=keys)
        out = out.append_column(column, pc.take(values, idx))
    return out


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
