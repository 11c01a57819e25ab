"""DIP grouping and scoring of stays (病例入组与赋分): the ``dip_scoring`` pipeline and its function.

An Arrow-function step (docs/adr/0004-arrow-steps.md): the step's SQL (``CASE_INPUT_SQL``) reads the inpatient
stays, and :func:`score_cases` computes, over whole columns — never a Python loop per stay:
The registered pipeline ``dip_scoring`` is one step, ``dip_case_points`` (partitioned by ``institution_id``, the
catalogue broadcast): grouping, scoring and the special-case review cap — an Arrow-function step
(docs/adr/0004-arrow-steps.md) whose function is :func:`score_cases`. :func:`score` runs it over a workspace
against a saved catalogue (:mod:`yibao.dip.catalogue`) and writes ``scored_cases.csv`` / ``.parquet``,
``review_queue.csv`` and ``summary.json``.


1. **Key rows.** A stay's group depends on its principal diagnosis and procedure entries only. Stays with at most
   one entry share a key row per distinct (diagnosis, entry) pair (found by dictionary-encoding both columns and
   the pair); a stay with several entries is its own key row. DuckDB resolves each key row once, for a positive
   and for a zero or missing cost, with the catalogue (``KEY_CTES``, ``RESOLVE_CTES`` of
   :mod:`yibao.dip.keys`: the core group, else the comprehensive group, else NO_GROUP; the group's amounts
   in integer units and its deviation thresholds in fen). Each stay takes its key row's answer by index.
2. **Deviation, ratio, case score, points** of the grouped stays: DuckDB over their integer columns
   (``ARITH_SQL``; the high- and low-cost scores in HUGEINT), every quotient ROUND_HALF_UP as ``(2n + d) // 2d``.
3. **Special-case review** (特例单议): per institution, the cap ``floor(grouped stays × review_share)`` and the
   extreme stays ranked by ratio (highest first), then cost (highest first), then case id — NumPy counts and a
   lexicographic sort; the first ``cap`` are in review and take their final score when the review file gives one.
4. **The result** sorted by case id: the order is computed in another thread while the rest runs, and every
   column is taken in it (money and scores rebuilt exactly as decimals from their integer units).
"""

from __future__ import annotations

import csv
import json
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Mapping

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from yibao.contract.readers import detect_encoding
from yibao.dip.catalogue import catalogue_year_warning, parquet_bytes, read_catalogue
from yibao.dip.errors import DipPolicyError
from yibao.dip.inputs import workspace_sources
from yibao.dip.keys import CASE_INPUT_SQL, INST_CTE, KEY_CTES, RESOLVE_CTES
from yibao.dip.labels import REASONS_ZH
from yibao.dip.policy import DipPolicy
from yibao.dip.tables import MONEY, PARAM, REVIEW_SCHEMA, SCORE, SETTLE_FIELDS, param_tables
from yibao.engine.columns import codes, decimal, firsts, unscaled
from yibao.engine.csvfile import csv_bytes
from yibao.engine.runner import Pipeline, Step, query_arrow, run_final

__all__ = ["DIP_SCORING", "CASE_POINTS", "score_cases", "score", "score_tables", "write_scores", "read_review",
           "SCORED_COLUMNS", "REVIEW_COLUMNS"]

# each key row (registered as ``cases``: kid, case_id, setting, principal_dx, procedures, multi) resolved for both
# cost signs, ordered by (kid, pos)
KEYS_SQL = f"""
WITH {KEY_CTES},
{RESOLVE_CTES}
SELECT q.kid, k.pos, k.group_id, k.core, k.avg_cost, k.score, k.primary_care, k.avg_f, k.extreme_f, k.high_f,
       k.low_f, k.high_off, k.score_u, k.grouped, k.reason, k.dx
FROM cases q
JOIN kr k ON k.multi = q.multi AND k.dx_raw IS NOT DISTINCT FROM q.principal_dx
         AND k.p_key = CASE WHEN q.multi THEN q.case_id ELSE coalesce(q.procedures[1], '') END
ORDER BY q.kid, k.pos
"""
INST_SQL = f"WITH {INST_CTE} SELECT institution_id, CAST(coefficient * 10000 AS BIGINT) AS coef_u FROM inst"
# the grouped stays (registered as ``sc``), in integer units; ``dev``: 0 normal, 1 low, 2 high, 3 extreme
ARITH_SQL = """
SELECT i,
       CASE WHEN cost_f > extreme_f THEN 3 WHEN cost_f > high_f THEN 2 WHEN cost_f < low_f THEN 1 ELSE 0 END AS dev,
       -- every quotient below is ROUND_HALF_UP(n / d) = (2n + d) // 2d on non-negative integers
       (2 * cost_f * 10000 + avg_f) // (2 * avg_f) AS ratio_u,
       case_score_u,
       -- points = case score × coefficient, in 1/10 000
       (2 * case_score_u * coef_u + 10000) // 20000 AS points_u
FROM (
    SELECT *,
           -- score × ((cost / avg − high_ratio) + 1) = score × (cost − (high_ratio − 1) × avg) / avg
           CASE WHEN cost_f > high_f THEN CAST(
                    (2 * CAST(score_u AS HUGEINT) * (cost_f * 10000 - high_off) + avg_f * 10000)
                    // (2 * CAST(avg_f AS HUGEINT) * 10000) AS BIGINT)
                -- score × cost / avg
                WHEN cost_f < low_f THEN CAST(
                    (2 * CAST(score_u AS HUGEINT) * cost_f + avg_f) // (2 * CAST(avg_f AS HUGEINT)) AS BIGINT)
                ELSE score_u END AS case_score_u
    FROM sc
)
"""
DEVIATIONS = pa.array(["normal", "low", "high", "extreme"])
STATUSES = pa.array(["ungroupable", "scored", "review", "reviewed"])
KINDS = pa.array(["comprehensive", "core"])


def _key_rows(cases: pa.Table) -> tuple[np.ndarray, pa.Table]:
    """Each stay's key row and the key rows (kid, case_id, setting, principal_dx, procedures, multi): one per
    distinct (diagnosis, entry) pair of the stays with at most one entry, one per distinct (diagnosis, list of
    entries) of the stays with several — represented by its first stay (whose case id names it in ``KEY_CTES``)."""
    multi = cases.column("multi").to_numpy(zero_copy_only=False)
    dx, _ = codes(cases.column("dx_raw"))
    pk, pk_values = codes(cases.column("p_key"))  # NULL for the stays with several entries
    several = np.flatnonzero(multi)
    n_lists = 0
    if len(several):  # a list of entries as the text of its entries' codes (-1: a NULL entry): "3,17,-1"
        procs = cases.column("procedures").take(pa.array(several)).combine_chunks()
        entry, _ = codes(pc.list_flatten(procs))
        text = pa.ListArray.from_arrays(procs.offsets, pa.array(entry).cast(pa.string()))
        lists, distinct = codes(pc.binary_join(text, ","))
        n_lists = len(distinct)
        pk = pk.copy()
        pk[several] = len(pk_values) + lists  # (after every single entry's code)
    key, _ = codes(pa.array((dx + 1) * (len(pk_values) + n_lists + 1) + (pk + 1)))
    rep = firsts(key)  # each key row's first stay
    procs = cases.column("procedures").take(pa.array(rep)).combine_chunks().cast(pa.list_(pa.string()))
    one = pa.ListArray.from_arrays(pa.array(np.arange(len(rep) + 1, dtype=np.int32)),
                                   cases.column("p_key").take(pa.array(rep)).combine_chunks())
    first_multi = multi[rep]
    keys = pa.table({
        "kid": pa.array(np.arange(len(rep), dtype=np.int64)),
        "case_id": cases.column("case_id").take(pa.array(rep)),
        "setting": pa.array(["inpatient"] * len(rep), pa.string()),
        "principal_dx": cases.column("dx_raw").take(pa.array(rep)),
        "procedures": pc.if_else(pa.array(first_multi), procs, one.cast(pa.list_(pa.string()))),
        "multi": pa.array(first_multi),
    })
    return key, keys


def _query(con: duckdb.DuckDBPyConnection, sql: str, tables: Mapping[str, pa.Table]) -> pa.Table:
    cur = con.cursor()
    try:
        for name, table in tables.items():
            cur.register(name, table)
        return query_arrow(cur, sql)
    finally:
        cur.close()


def _ints(col, missing: int = 0) -> np.ndarray:
    return pc.fill_null(col, missing).to_numpy().astype(np.int64)


def _arith(con: duckdb.DuckDBPyConnection, g: np.ndarray, cost_f: np.ndarray, coef: np.ndarray, kr: pa.Table,
           kg: np.ndarray, numpy: bool = True):
    """Deviation, ratio, case score and points of the grouped stays ``g`` (their key rows ``kg``), in parts:
    ``(stays, {dev, ratio, ratio_ok, score, score_ok, points})``. A stay of normal cost (the case score is the
    group's score) whose numbers all stay far below 2^63 is computed in NumPy with the SQL's integer formulas;
    the others — high or low cost (their scores need 128-bit products), a missing amount, or larger
    numbers — by ``ARITH_SQL`` in DuckDB."""
    key = {}
    key_ok = np.ones(kr.num_rows, dtype=bool)
    for c in ("avg_f", "extreme_f", "high_f", "low_f", "score_u"):  # per key row, then taken per stay
        key[c] = _ints(kr.column(c))
        key_ok &= pc.is_valid(kr.column(c)).to_numpy(zero_copy_only=False)
    limit = 4 * 10**14  # 2 · cost · 10 000 and 2 · score · coefficient stay below 2^63 ≈ 9.2 · 10^18
    key_ok &= (key["avg_f"] > 0) & (key["avg_f"] < limit) & (key["score_u"] >= 0)
    cf, cu = cost_f[g], coef[g]
    su_max = int(key["score_u"][key_ok].max()) if key_ok.any() else 0
    if not numpy or len(g) and not (0 <= cf.min() and cf.max() < limit and 0 <= cu.min()
                                    and su_max * int(cu.max()) < limit * 10**4):
        key_ok[:] = False  # numbers this large go through DuckDB (which raises on an overflow)
    v = {c: a[kg] for c, a in key.items()}
    plain = key_ok[kg] & (cf <= v["high_f"]) & (cf >= v["low_f"])
    p = np.flatnonzero(plain)
    cf, af, su, cu = cf[p], v["avg_f"][p], v["score_u"][p], cu[p]
    yield g[p], {
        "dev": np.where(cf > v["extreme_f"][p], 3, 0),  # (not above high_f, not below low_f)
        "ratio": (2 * cf * 10000 + af) // (2 * af), "ratio_ok": True,
        "score": su, "score_ok": True, "points": (2 * su * cu + 10000) // 20000,
    }
    rest = np.flatnonzero(~plain)
    if not len(rest):
        return
    sc = pa.table({
        "i": pa.array(np.arange(len(rest), dtype=np.int64)), "cost_f": pa.array(cost_f[g[rest]]),
        **{c: kr.column(c).take(pa.array(kg[rest])) for c in ("avg_f", "extreme_f", "high_f", "low_f", "high_off",
                                                                "score_u")},
        "coef_u": pa.array(coef[g[rest]]),
    })
    ar = _query(con, ARITH_SQL, {"sc": sc})
    yield g[rest[_ints(ar.column("i"))]], {
        "dev": _ints(ar.column("dev")),
        "ratio": _ints(ar.column("ratio_u")), "ratio_ok": pc.is_valid(ar.column("ratio_u")).to_numpy(zero_copy_only=False),
        "score": _ints(ar.column("case_score_u")),
        "score_ok": pc.is_valid(ar.column("case_score_u")).to_numpy(zero_copy_only=False),
        "points": _ints(ar.column("points_u")),
    }


def score_cases(tables: Mapping[str, pa.Table], con: duckdb.DuckDBPyConnection, *, numpy: bool = True) -> pa.Table:
    """The ``dip_case_points`` rows of ``tables["cases"]`` (the rows of ``CASE_INPUT_SQL``), sorted by case id.
    ``numpy=False``: every grouped stay's arithmetic in DuckDB (tests compare the two)."""
    cases = tables["cases"]
    n = cases.num_rows
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="yibao-dip") as pool:
        order = pool.submit(pc.sort_indices, cases.column("case_id"))  # the output order, meanwhile

        # 1. key rows, resolved once each for both cost signs; every stay takes its own by index
        kid, keys = _key_rows(cases)
        small = {name: tables[name] for name in ("dip_proc_rules", "dip_proc_valid", "dip_catalogue", "dip_params")}
        kr = _query(con, KEYS_SQL, {"cases": keys, **small})
        if kr.num_rows != 2 * keys.num_rows:
            raise RuntimeError(f"DIP key rows: {kr.num_rows} resolved for {keys.num_rows} keys")
        k = kid * 2 + cases.column("pos").to_numpy(zero_copy_only=False).astype(np.int64)
        grouped = pc.fill_null(kr.column("grouped"), False).to_numpy(zero_copy_only=False)[k]
        g = np.flatnonzero(grouped)

        # institution coefficients (primary-care groups take none)
        inst, inst_values = codes(cases.column("institution_id"))
        coef = _query(con, INST_SQL, {"institutions": tables["institutions"],
                                      "dip_coefficients": tables["dip_coefficients"]})
        at = pc.index_in(inst_values, value_set=coef.column("institution_id").combine_chunks())
        coef_u = np.where(pc.is_valid(at).to_numpy(zero_copy_only=False),
                          _ints(coef.column("coef_u"), 10000)[_ints(at)], 10000) if len(coef) else \
            np.full(len(inst_values), 10000, dtype=np.int64)
        primary = pc.fill_null(kr.column("primary_care"), False).to_numpy(zero_copy_only=False)[k]
        case_coef = np.where(primary, 10000, coef_u[np.maximum(inst, 0)])

        # 2. deviation, ratio, case score and points of the grouped stays, in integer units
        cost_f = _ints(cases.column("cost_f"))
        dev, ratio_u, score_u, points_u = (np.zeros(n, dtype=np.int64) for _ in range(4))
        ratio_ok, score_ok = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
        for rows, got in _arith(con, g, cost_f, case_coef, kr, k[g], numpy):
            dev[rows], ratio_u[rows], score_u[rows], points_u[rows] = (got[c] for c in ("dev", "ratio", "score", "points"))
            ratio_ok[rows], score_ok[rows] = got["ratio_ok"], got["score_ok"]

        # 3. special-case review: each institution's cap, its extreme stays in review order
        share_units, _ = unscaled(tables["dip_params"].column("review_share").cast(PARAM))
        grouped_per_inst = np.bincount(inst[g], minlength=len(inst_values))
        cap = (grouped_per_inst * int(share_units[0])) // 10000
        o = order.result().to_numpy()
        rank_of = np.empty(n, dtype=np.int64)
        rank_of[o] = np.arange(n, dtype=np.int64)  # each stay's place in case-id order
        ext = g[dev[g] == 3]
        by = np.lexsort((rank_of[ext], -cost_f[ext], np.where(ratio_ok[ext], -ratio_u[ext], np.iinfo(np.int64).max),
                         inst[ext]))
        ext = ext[by]
        starts = np.searchsorted(inst[ext], inst[ext], side="left")
        review_rank = np.zeros(n, dtype=np.int64)
        review_rank[ext] = np.arange(len(ext), dtype=np.int64) - starts + 1
        in_review = np.zeros(n, dtype=bool)
        in_review[ext] = review_rank[ext] <= cap[inst[ext]]
        final_u, has_final = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool)
        rv = np.flatnonzero(in_review)
        review = tables["dip_review"]
        if len(rv) and review.num_rows:
            at = pc.index_in(cases.column("case_id").take(rv), value_set=review.column("case_id").combine_chunks())
            found = pc.is_valid(at).to_numpy(zero_copy_only=False)
            units, valid = unscaled(review.column("final_score").cast(SCORE))
            row = _ints(at)
            final_u[rv] = np.where(found, units[row], 0)
            has_final[rv] = found & valid[row]
        reviewed = in_review & has_final
        status = np.where(~grouped, 0, np.where(reviewed, 3, np.where(in_review, 2, 1)))

        # 4. the result, in case-id order
        ko = k[o]
        go = grouped[o]

        def key_col(name: str) -> pa.Array:
            return kr.column(name).take(pa.array(ko))

        def small_col(values: pa.Array, index: np.ndarray, valid: np.ndarray | None) -> pa.Array:
            return pc.take(values, pa.array(index[o].astype(np.int32), mask=None if valid is None else ~valid[o]))

        def case_col(name: str) -> pa.Array:
            return cases.column(name).take(pa.array(o))

        builders = {
            "case_id": lambda: case_col("case_id"),
            "institution_id": lambda: case_col("institution_id"),
            "year": lambda: case_col("year"),
            "group_id": lambda: key_col("group_id"),
            "group_kind": lambda: small_col(KINDS, pc.fill_null(kr.column("core"), False).to_numpy(
                zero_copy_only=False).astype(np.int64)[k], grouped),
            "primary_care": lambda: pa.array(primary[o]),
            "total_cost": lambda: case_col("total_cost"),
            "avg_cost": lambda: key_col("avg_cost"),
            "score": lambda: key_col("score"),
            "ratio": lambda: decimal(ratio_u[o], (go & ratio_ok[o]), SCORE),
            "deviation": lambda: small_col(DEVIATIONS, dev, grouped),
            "case_score": lambda: decimal(score_u[o], go & score_ok[o], SCORE),
            "coefficient": lambda: decimal(case_coef[o], go, PARAM),
            "formula_points": lambda: decimal(points_u[o], go & score_ok[o], SCORE),
            "points": lambda: decimal(np.where(reviewed, final_u, points_u)[o],
                                      go & np.where(reviewed, True, score_ok)[o], SCORE),
            "review_rank": lambda: pa.array(review_rank[o], mask=review_rank[o] == 0),
            "review_cap": lambda: pa.array(cap[np.maximum(inst, 0)][o]),
            "status": lambda: small_col(STATUSES, status, None),
            "reason": lambda: key_col("reason"),
            "scheme": lambda: case_col("scheme"),
            "settle_year": lambda: case_col("settle_year"),
            "settle_month": lambda: case_col("settle_month"),
            "fund_paid": lambda: case_col("fund_paid"),
            "los_days": lambda: case_col("los_days"),
            "principal_dx": lambda: key_col("dx"),
        }
        columns = list(pool.map(lambda f: f(), builders.values()))
    return pa.table(columns, names=list(builders))



# --- the pipeline ------------------------------------------------------------------------------

# Grouping and scoring in one step, partitioned by institution (the review cap counts an institution's grouped
# cases): an Arrow-function step (docs/adr/0004-arrow-steps.md, :mod:`yibao.dip.scoring`). Its SQL reads the
# inpatient stays; the function works out each distinct key row once in DuckDB (``KEY_CTES``, ``RESOLVE_CTES``),
# gives every stay its key row by index, computes deviation, ratio, case score and points in integer units with the
# SQL below (``yibao.dip.scoring.ARITH_SQL``), counts each institution's grouped stays and ranks its extreme stays
# for the special-case review with NumPy, and builds the sorted result.

CASE_POINTS = Step(
    name="dip_case_points",
    main="cases",
    mode="partitioned",
    partition_by=("institution_id",),
    broadcast=("dip_proc_rules", "dip_proc_valid", "dip_catalogue", "dip_params", "institutions", "dip_coefficients",
               "dip_review"),
    sql=CASE_INPUT_SQL,
    fn=score_cases,
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

DIP_SCORING = Pipeline(
    name="dip_scoring",
    steps=(CASE_POINTS,),
    doc="DIP 病例入组与赋分：偏差病例、机构系数、特例单议",
)


# --- scoring a workspace, writing the result -----------------------------------------------------

SCORED_COLUMNS = ("case_id", "institution_id", "group_id", "group_kind", "score", "ratio", "deviation",
                  "coefficient", "points", "status", "reason", "year", "total_cost", "avg_cost", "case_score",
                  "formula_points", "primary_care", "review_rank")
REVIEW_COLUMNS = ("case_id", "institution_id", "group_id", "total_cost", "avg_cost", "ratio", "formula_points",
                  "review_rank", "final_score")


def read_review(path: Path) -> pa.Table:
    """The reviewer's file (特例单议结果): ``case_id`` and ``final_score`` (blank = not yet decided)."""
    with Path(path).open(encoding=detect_encoding(Path(path)), newline="") as f:  # Excel saves GBK/GB18030
        reader = csv.DictReader(f)
        if not reader.fieldnames or "case_id" not in reader.fieldnames or "final_score" not in reader.fieldnames:
            raise DipPolicyError(str(path), "特例单议文件应有 case_id 与 final_score 两列")
        ids, scores, seen = [], [], set()
        for line, r in enumerate(reader, start=2):
            text = (r["final_score"] or "").strip()
            if not text:
                continue
            try:
                d = Decimal(text)
            except InvalidOperation:
                raise DipPolicyError(str(path), f"第 {line} 行 final_score 不是数字：{text!r}") from None
            if not d.is_finite() or d < 0 or d != d.quantize(Decimal("0.0001")):
                raise DipPolicyError(str(path), f"第 {line} 行 final_score 应为 ≥ 0、至多 4 位小数的数：{text!r}")
            cid = r["case_id"].strip()
            if cid in seen:
                raise DipPolicyError(str(path), f"第 {line} 行 case_id {cid} 重复")
            seen.add(cid)
            ids.append(cid)
            scores.append(d.quantize(Decimal("0.0001")))
    return pa.table({"case_id": ids, "final_score": scores}, schema=REVIEW_SCHEMA)


def score_tables(sources: dict, runner, policy: DipPolicy, catalogue: pa.Table, rules: pa.Table,
                 valid: pa.Table, review: pa.Table | None = None, final: bool = False) -> dict[str, pa.Table]:
    """The DIP_SCORING pipeline's tables; ``final=True``: only ``dip_case_points``, fused on DuckDB."""
    params = param_tables(policy, [])
    primary = set(policy.primary_care_groups)
    if primary:  # the scoring policy may flag primary-care groups on an existing catalogue too
        flags = [p or g in primary for g, p in zip(catalogue.column("group_id").to_pylist(),
                                                     catalogue.column("primary_care").to_pylist())]
        catalogue = catalogue.set_column(catalogue.schema.get_field_index("primary_care"), "primary_care",
                                         pa.array(flags, pa.bool_()))
    src = {**sources, "dip_catalogue": catalogue, "dip_proc_rules": rules, "dip_proc_valid": valid,
           "dip_params": params["dip_params"], "dip_coefficients": params["dip_coefficients"],
           "dip_review": review if review is not None else REVIEW_SCHEMA.empty_table()}
    if final:
        return {DIP_SCORING.steps[-1].name: run_final(runner, DIP_SCORING, src)}
    return runner.run_pipeline(DIP_SCORING, src)


def score(workspace: Path, cat_dir: Path, policy: DipPolicy, out_dir: Path, review: Path | None = None,
          engine: str = "duckdb", year: int | None = None) -> dict:
    cat, manifest, rules, valid = read_catalogue(cat_dir)
    rev = read_review(review) if review is not None else None
    with workspace_sources(workspace, ("cases", "institutions"), engine) as (sources, runner):
        if year is not None:  # the period scored (and the base of the review cap): cases discharged in ``year``
            cases = sources["cases"]
            if isinstance(cases, str):
                sources["cases"] = f"(SELECT * FROM {cases} WHERE year(discharge_date) = {int(year)})"
            elif not isinstance(cases, pa.Table):  # a Spark DataFrame of a Parquet region
                sources["cases"] = cases.where(f"year(discharge_date) = {int(year)}")
            else:
                years = pa.compute.year(cases.column("discharge_date"))
                sources["cases"] = cases.filter(pa.compute.equal(years, int(year)))
        result = score_tables(sources, runner, policy, cat, rules, valid, rev, final=True)["dip_case_points"]
    # the year being settled: the one asked for, else the latest discharge year scored
    latest = pa.compute.max(result.column("year")).as_py() if result.num_rows else None
    target = year if year is not None else latest
    years = manifest.get("parameters", {}).get("years", [])
    warning = catalogue_year_warning(manifest["version"], years, target)
    return write_scores(result, manifest, out_dir, rev, {"catalogue_years": years,
                                                         "warnings": [warning] if warning else []})


def write_scores(result: pa.Table, manifest: dict, out_dir: Path, review: pa.Table | None = None,
                 extra: dict | None = None) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "scored_cases.csv").write_bytes(csv_bytes(result, SCORED_COLUMNS))
    (out_dir / "scored_cases.parquet").write_bytes(parquet_bytes(result))
    queue = result.filter(pa.compute.is_in(result.column("status"), pa.array(["review", "reviewed"])))
    queue = queue.sort_by([("institution_id", "ascending"), ("review_rank", "ascending")])
    finals = {} if review is None else dict(zip(review.column("case_id").to_pylist(),
                                                review.column("final_score").to_pylist()))
    q = queue.append_column("final_score", pa.array([finals.get(c) for c in queue.column("case_id").to_pylist()],
                                                    REVIEW_SCHEMA.field("final_score").type))
    (out_dir / "review_queue.csv").write_bytes(csv_bytes(q, REVIEW_COLUMNS))
    reasons = _count(result.column("reason"))
    dev = _count(result.column("deviation"))
    total = pa.compute.sum(result.column("points")).as_py()
    summary = {
        "catalogue_version": manifest["version"],
        "cases": result.num_rows,
        "status": dict(sorted(_count(result.column("status")).items())),
        "group_kind": dict(sorted(_count(result.column("group_kind")).items())),
        "deviation": dict(sorted(dev.items())),
        "extreme_flagged": dev.get("extreme", 0),
        "review_queue": queue.num_rows,
        "ungroupable": {r: {"count": n, "zh": REASONS_ZH.get(r, r)} for r, n in sorted(reasons.items())},
        "points_total": str(Decimal("0.0000") if total is None else total.quantize(Decimal("0.0000"))),
        **(extra or {}),
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2, sort_keys=True) + "\n",
                                          encoding="utf-8")
    return summary


def _count(column) -> dict:
    """How many times each non-null value occurs (Arrow's value counts)."""
    return {r["values"]: r["counts"] for r in pa.compute.value_counts(column).to_pylist() if r["values"] is not None}
