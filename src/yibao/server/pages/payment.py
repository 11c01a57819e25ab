"""The hospital's own view of its payment (本院病例与盈亏): DIP group and points, DRG group and weight, with names,
deviation, the explanation of the points, and profit or loss per case, department and doctor.

The server does not group or score: it reads what the batch commands wrote for the workspace —

- DIP: ``scored_cases.parquet`` of ``yibao dip score`` in ``WS/results/dip/`` (or the directory named by
  ``YIBAO_DIP_SCORED``);
- DRG: ``cases.csv`` and ``base_rates.csv`` of ``yibao drg settle`` in ``WS/results/drg/`` (or
  ``YIBAO_DRG_SETTLED``).

Names: DRG names are the ``DRG 名称`` column of ``drg settle``'s cases.csv (the standards' names); DIP
group names are made from the CHS-DRG diagnosis and procedure dictionaries (``yibao.dip.build.code_names``,
the same names as the catalogue workbook) — without a standards directory the page says the names are
not available.

Payment − cost (盈亏): the hospital receives the fund's payment for the group plus what the patient paid
(total_cost − fund_paid), so ``payment + patient share − total_cost = fund payment − fund_paid``; the page
shows that difference:

- DRG, settled by group (按 DRG): fund payment = case weight × the year's settlement rate of its scheme
  (``base_rates.csv``, 结算费率), rounded to the fen; settled by item (按项目): fund payment = fund_paid
  (no gain, no loss); outside the agreement (协议期外): 0.
- DIP: fund payment = points × the point value (total-cost convention: minus the patient's share). The point
  value is the real one when there is one (:func:`official_point_values`), first found of:
  1. the year-end clearing of record of the pot ``scheme.inpatient`` (periods store, issued): its settlement
     point value (结算点值);
  2. the year's settlement computed by ``yibao dip settle --out WS/results/dip-settle`` (``summary.json``): its
     settlement point value — computed, not yet issued, and the page says so;
  3. the newest issued month of the year (periods store): that month's prepayment point value (月度预付点值) —
     provisional, and the page says so;
  4. none of these: an **estimate**, Σ fund_paid ÷ Σ points of the scored cases of the same scheme and
     settlement year over the whole region (budget-neutral), and the page says why.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from yibao.contract.standards import find_standards
from yibao.contract.vocab import SCHEME_ZH
from yibao.dip.catalogue import code_names
from yibao.dip.hospital import explain
from yibao.dip.labels import DEVIATION_ZH, STATUS_ZH
from yibao.dip.labels import GROUP_KIND_ZH as KIND_ZH
from yibao.dip.policy import load_policy
from yibao.drg.explain import group_one
from yibao.drg.standards import load_standards
from yibao.store import periods as per

DRG_COLUMNS = {"病例号": "case_id", "机构编码": "institution_id", "险种": "scheme_zh", "结算年度": "settle_year",
               "分组状态": "status", "DRG": "drg", "DRG 名称": "drg_name", "相对权重 RW": "rw", "倍率": "outlier",
               "病例权重": "case_weight", "结算方式": "method", "按项目结算原因": "item_reason",
               "统筹基金记账": "fund_paid", "医疗总费用": "total_cost"}


@dataclass(frozen=True)
class Sources:
    dip: Path | None          # scored_cases.parquet
    drg: Path | None          # cases.csv of drg settle
    drg_rates: Path | None    # base_rates.csv beside it
    notes: tuple[str, ...]


def sources(cfg) -> Sources:
    ws = Path(cfg.workspace)
    dip_dir = Path(os.environ.get("YIBAO_DIP_SCORED") or ws / "results" / "dip")
    drg_dir = Path(os.environ.get("YIBAO_DRG_SETTLED") or ws / "results" / "drg")
    dip = dip_dir / "scored_cases.parquet"
    drg, rates = drg_dir / "cases.csv", drg_dir / "base_rates.csv"
    notes = []
    if not dip.is_file():
        notes.append(f"未找到 DIP 赋分结果（{dip}）：请运行 yibao dip score --out {dip_dir}")
    if not drg.is_file():
        notes.append(f"未找到 DRG 结算结果（{drg}）：请运行 yibao drg settle --out {drg_dir}")
    return Sources(dip if dip.is_file() else None, drg if drg.is_file() else None,
                   rates if rates.is_file() else None, tuple(notes))


@lru_cache(maxsize=8)
def _dip_table(path: str, mtime: float) -> pa.Table:
    return pq.read_table(path)


@lru_cache(maxsize=8)
def _drg_table(path: str, rates: str | None, mtime: float) -> pa.Table:
    con = duckdb.connect()
    try:
        cols = ", ".join(f'"{zh}" AS {en}' for zh, en in DRG_COLUMNS.items())
        t = _arrow(con, f"SELECT {cols} FROM read_csv('{_sql_path(path)}', header = true, all_varchar = true)")
        if rates:
            r = _arrow(con, f"""SELECT "险种" AS scheme_zh, TRY_CAST("费率（元/权重）" AS DECIMAL(18, 6)) AS rate
                                FROM read_csv('{_sql_path(rates)}', header = true, all_varchar = true)
                                WHERE "费率类型" = '结算费率'""")
        else:
            r = pa.table({"scheme_zh": pa.array([], pa.string()), "rate": pa.array([], pa.decimal128(18, 6))})
        con.register("c", t)
        con.register("r", r)
        return _arrow(con, """
            SELECT c.case_id, c.institution_id, c.scheme_zh, TRY_CAST(c.settle_year AS INTEGER) AS settle_year,
                   c.status, c.drg, c.drg_name, TRY_CAST(c.rw AS DECIMAL(18, 4)) AS rw, c.outlier,
                   TRY_CAST(c.case_weight AS DECIMAL(18, 4)) AS case_weight, c.method, c.item_reason,
                   CAST(c.fund_paid AS DECIMAL(18, 2)) AS fund_paid, CAST(c.total_cost AS DECIMAL(18, 2)) AS total_cost,
                   r.rate,
                   CASE WHEN c.method = '按 DRG' THEN
                            CAST(round(TRY_CAST(c.case_weight AS DECIMAL(18, 4)) * r.rate, 2) AS DECIMAL(18, 2))
                        WHEN c.method = '按项目' THEN CAST(c.fund_paid AS DECIMAL(18, 2))
                        WHEN c.method LIKE '协议期外%' THEN CAST(0 AS DECIMAL(18, 2)) END AS payment
            FROM c LEFT JOIN r USING (scheme_zh)""")
    finally:
        con.close()


def _arrow(con, sql: str, params: list | None = None) -> pa.Table:
    """An Arrow table of one query with parameters (DuckDB 1.x ``fetch_arrow_table``, 2.x ``to_arrow_table``)."""
    res = con.execute(sql, params or [])
    return res.to_arrow_table() if hasattr(res, "to_arrow_table") else res.fetch_arrow_table()


def _sql_path(p: str) -> str:
    return str(p).replace("'", "''")


PV_ESTIMATE = "estimate"
ESTIMATE_NOTE = ("尚无该年度已签发的结算期，也没有 yibao dip settle 的年度结算结果：点值为估算，即同险种同年度全区"
                 " Σ统筹记账 ÷ Σ点数（预算中性），以签发的结算单为准")
PV_KIND_ZH = {"clearing": "年终清算点值（已签发）", "settle": "年度结算点值（yibao dip settle 计算，尚未签发）",
              "month": "月度预付点值（已签发，年终清算前的暂定点值）", PV_ESTIMATE: "估算点值"}


def _settle_summary(cfg) -> dict | None:
    d = Path(os.environ.get("YIBAO_DIP_SETTLED") or Path(cfg.workspace) / "results" / "dip-settle")
    f = d / "summary.json"
    if not f.is_file():
        return None
    try:
        return json.loads(f.read_text(encoding="utf-8")) | {"_path": str(d)}
    except (OSError, ValueError):
        return None


def official_point_values(cfg) -> dict[tuple[str, int], dict]:
    """(scheme, year) → the real DIP point value to use: ``value`` (Decimal), ``convention``, ``kind`` (clearing /
    settle / month) and ``source`` (the sentence the page shows). Pairs without one are absent (the page
    estimates them and says so). See the module docstring for the order."""
    out: dict[tuple[str, int], dict] = {}
    months: dict[tuple[str, int], dict] = {}
    store = getattr(cfg, "store", None)
    for p in (per.list_periods(store, status="issued") if store is not None else []):
        if p["setting"] != "inpatient" or p["method"] != "dip":
            continue
        key, sm = (p["scheme"], p["year"]), p["summary"]
        when = f"{p['label']}第 {p['version']} 版，{p['issue_date']} 签发"
        if p["month"] is None and sm.get("settlement_value") not in (None, "None"):
            out[key] = {"value": Decimal(sm["settlement_value"]), "convention": sm.get("convention", "fund"),
                        "kind": "clearing", "source": f"{when}的结算点值"}
        elif p["month"] is not None and sm.get("month_value") not in (None, "None"):
            if key not in months or p["month"] > months[key]["month"]:
                months[key] = {"value": Decimal(sm["month_value"]), "convention": sm.get("convention", "fund"),
                               "kind": "month", "month": p["month"],
                               "source": f"{p['year']} 年尚未签发年终清算，显示最近签发的{when}的月度预付点值（暂定，"
                                         "以年终清算点值为准）"}
    summ = _settle_summary(cfg)
    settled = {}
    if summ and isinstance(summ.get("year"), int):
        for scheme, v in (summ.get("schemes") or {}).items():
            dip = (v or {}).get("dip") or {}
            if dip.get("settlement_point_value") not in (None, "None"):
                settled[(scheme, summ["year"])] = {
                    "value": Decimal(dip["settlement_point_value"]), "convention": dip.get("convention", "fund"),
                    "kind": "settle", "source": f"{summ['year']} 年的年度结算点值（{summ['_path']}，由 yibao dip settle "
                                                "计算；结算期尚未签发年终清算，以签发的结算单为准）"}
    for key, v in settled.items():
        out.setdefault(key, v)
    for key, v in months.items():
        out.setdefault(key, v)
    return out


def dip_cases(src: Sources, official: dict[tuple[str, int], dict] | None = None) -> pa.Table | None:
    """Scored DIP cases with the point value (the real one of ``official`` for its scheme and year, else the
    estimate), its kind (``pv_kind``) and the fund payment (None without the file)."""
    if src.dip is None:
        return None
    t = _dip_table(str(src.dip), src.dip.stat().st_mtime)
    items = sorted((official or {}).items())
    o = pa.table({"scheme": pa.array([k[0] for k, _ in items], pa.string()),
                  "settle_year": pa.array([k[1] for k, _ in items], pa.int64()),
                  "o_value": pa.array([v["value"] for _, v in items], pa.decimal128(24, 6)),
                  "o_total_cost": pa.array([v["convention"] == "total_cost" for _, v in items], pa.bool_()),
                  "pv_kind": pa.array([v["kind"] for _, v in items], pa.string())})
    con = duckdb.connect()
    try:
        con.register("s", t)
        con.register("o", o)
        return _arrow(con, f"""
            WITH pv AS (SELECT scheme, settle_year,
                               CAST(sum(fund_paid) AS DECIMAL(38, 2)) / nullif(sum(points), 0) AS pv_raw
                        FROM s WHERE points IS NOT NULL GROUP BY scheme, settle_year),
                 v AS (SELECT s.*, o.o_value IS NOT NULL AS has_official,
                              o.o_value, coalesce(o.o_total_cost, false) AS o_total_cost,
                              coalesce(o.pv_kind, '{PV_ESTIMATE}') AS pv_kind, pv.pv_raw
                       FROM s LEFT JOIN pv USING (scheme, settle_year)
                       LEFT JOIN o ON o.scheme = s.scheme AND o.settle_year = CAST(s.settle_year AS BIGINT))
            SELECT * EXCLUDE (has_official, o_value, o_total_cost, pv_raw),
                   CASE WHEN has_official THEN CAST(o_value AS DECIMAL(18, 6))
                        ELSE CAST(round(pv_raw, 6) AS DECIMAL(18, 6)) END AS point_value,
                   CASE WHEN points IS NULL THEN NULL
                        WHEN NOT has_official THEN CAST(round(points * pv_raw, 2) AS DECIMAL(18, 2))
                        WHEN o_total_cost THEN CAST(round(points * o_value, 2) - (total_cost - fund_paid) AS DECIMAL(18, 2))
                        ELSE CAST(round(points * o_value, 2) AS DECIMAL(18, 2)) END AS payment
            FROM v""")
    finally:
        con.close()


def drg_cases(src: Sources) -> pa.Table | None:
    if src.drg is None:
        return None
    return _drg_table(str(src.drg), str(src.drg_rates) if src.drg_rates else None, src.drg.stat().st_mtime)


@lru_cache(maxsize=1)
def _names():
    return code_names(find_standards())


def dip_group_name(group_id: str | None) -> str:
    """The Chinese name of a DIP group (``I63.9|-`` → 脑梗死; with its procedures), "" when not available."""
    names = _names()
    if not group_id or names is None:
        return ""
    dx, _, combo = group_id.partition("|")
    name = names.diagnosis(dx) if "." in dx else names.dx.get(dx.lower(), "") or names.diagnosis(dx + ".")
    if combo and combo != "-":
        proc = names.procedures(combo)
        name = f"{name}（{proc}）" if proc else name
    return name


@lru_cache(maxsize=1)
def _policy():
    return load_policy(None)


def _dip_row(r: dict) -> dict:
    return {**r, "group_name": dip_group_name(r["group_id"]),
            "kind_zh": KIND_ZH.get(r["group_kind"], r["group_kind"] or ""),
            "deviation_zh": DEVIATION_ZH.get(r["deviation"] or "", r["deviation"] or ""),
            "status_zh": STATUS_ZH.get(r["status"], r["status"]),
            "explanation": explain(r, _policy()),
            "profit": None if r["payment"] is None else r["payment"] - r["fund_paid"]}


def _drg_row(r: dict) -> dict:
    return {**r, "profit": None if r["payment"] is None else r["payment"] - r["fund_paid"]}


def case_payment(cfg, case_id: str) -> dict:
    """The case's DIP and DRG rows (each None when absent) and the notes of what is missing."""
    src = sources(cfg)
    out = {"dip": None, "drg": None, "notes": list(src.notes), "names": _names() is not None}
    official = official_point_values(cfg)
    dip = dip_cases(src, official)
    if dip is not None:
        rows = dip.filter(pc.equal(dip.column("case_id"), case_id)).to_pylist()
        out["dip"] = _dip_row(rows[0]) if rows else None
        if out["dip"] is not None:
            key = (out["dip"]["scheme"], out["dip"]["settle_year"])
            out["dip"]["pv_label"] = PV_KIND_ZH[out["dip"]["pv_kind"]]
            out["dip"]["pv_source"] = official[key]["source"] if key in official else ESTIMATE_NOTE
    drg = drg_cases(src)
    if drg is not None:
        rows = drg.filter(pc.equal(drg.column("case_id"), case_id)).to_pylist()
        out["drg"] = _drg_row(rows[0]) if rows else None
    return out


SUMMARY_SQL = """
    SELECT {key} AS key, count(*) AS cases, sum(total_cost) AS total_cost, sum(fund_paid) AS fund_paid,
           sum(payment) AS payment, sum(payment - fund_paid) AS profit,
           count(*) FILTER (WHERE payment IS NULL) AS unpaid
    FROM t GROUP BY {key} ORDER BY profit NULLS LAST, key"""


def institution_view(cfg, reader, institution_id: str, scheme: str, year: int | None, page: int,
                     page_size: int = 50) -> dict:
    """One institution's cases under ``scheme`` (``dip`` or ``drg``) with payment and profit, a page of them,
    and the totals by department and by attending doctor (over all its cases of the year)."""
    src = sources(cfg)
    official = official_point_values(cfg) if scheme == "dip" else {}
    table = dip_cases(src, official) if scheme == "dip" else drg_cases(src)
    out = {"available": table is not None, "notes": list(src.notes), "cases": [], "by_dept": [], "by_doctor": [],
           "total": {}, "years": [], "count": 0, "names": _names() is not None or scheme == "drg"}
    if table is None:
        return out
    with reader.cursor() as cur:
        ws_cases = _arrow(cur, "SELECT case_id, dept_code, attending_staff_id FROM cases WHERE institution_id = ?",
                          [institution_id]) if cur is not None else None
    con = duckdb.connect()
    try:
        con.register("p", table)
        if ws_cases is None:
            ws_cases = pa.table({"case_id": pa.array([], pa.string()), "dept_code": pa.array([], pa.string()),
                                 "attending_staff_id": pa.array([], pa.string())})
        con.register("w", ws_cases)
        counts = con.execute("""SELECT settle_year, count(*) FROM p WHERE institution_id = ? AND settle_year IS NOT NULL
                                GROUP BY 1 ORDER BY 1 DESC""", [institution_id]).fetchall()
        out["years"] = [y for y, _ in counts]
        if year is None and counts:  # default: the year with the most cases (the latest of equals)
            year = max(counts, key=lambda c: (c[1], c[0]))[0]
        out["year"] = year
        con.execute("""CREATE TEMP TABLE t AS SELECT p.*, w.dept_code, w.attending_staff_id FROM p
                       LEFT JOIN w USING (case_id) WHERE p.institution_id = ? AND p.settle_year IS NOT DISTINCT FROM ?""",
                    [institution_id, year])
        out["count"] = con.execute("SELECT count(*) FROM t").fetchone()[0]
        order = "profit NULLS LAST, case_id"
        rows = _arrow(con, f"SELECT *, payment - fund_paid AS profit FROM t ORDER BY {order} LIMIT ? OFFSET ?",
                      [page_size, (page - 1) * page_size]).to_pylist()
        conv = _dip_row if scheme == "dip" else _drg_row
        out["cases"] = [conv({k: v for k, v in r.items() if k != "profit"}) for r in rows]
        cols = ["key", "cases", "total_cost", "fund_paid", "payment", "profit", "unpaid"]
        out["by_dept"] = [dict(zip(cols, r)) for r in con.execute(SUMMARY_SQL.format(key="dept_code")).fetchall()]
        out["by_doctor"] = [dict(zip(cols, r)) for r in
                            con.execute(SUMMARY_SQL.format(key="attending_staff_id")).fetchall()]
        tot = con.execute("""SELECT count(*), sum(total_cost), sum(fund_paid), sum(payment), sum(payment - fund_paid),
                                    count(*) FILTER (WHERE payment IS NULL) FROM t""").fetchone()
        out["total"] = dict(zip(cols[1:], tot))
        if scheme == "dip":
            out["point_values"] = [
                {"scheme": SCHEME_ZH.get(sch, sch), "value": pv, "kind": kind, "kind_zh": PV_KIND_ZH[kind],
                 "source": official[(sch, year)]["source"] if (sch, year) in official else ESTIMATE_NOTE}
                for sch, pv, kind in con.execute(
                    """SELECT DISTINCT scheme, point_value, pv_kind FROM p WHERE settle_year IS NOT DISTINCT FROM ?
                       AND point_value IS NOT NULL ORDER BY scheme""", [year]).fetchall()]
            out["estimated"] = any(v["kind"] == PV_ESTIMATE for v in out["point_values"])
        else:
            out["rates"] = con.execute("""SELECT DISTINCT scheme_zh, rate FROM p WHERE rate IS NOT NULL
                                          ORDER BY scheme_zh""").fetchall()
    finally:
        con.close()
    return out




# --- the DRG grouping trail of one case (why this group) ------------------------------------------------------
# Loading the CHS-DRG tables takes seconds, so the first case page starts it in a background thread and
# says so; later pages show the trail (yibao.drg.explain.group_one, the same as `yibao group drg --explain`).

_STD: dict = {}
_STD_LOCK = threading.Lock()


def _load_standards() -> None:
    try:
        path = find_standards()
        _STD["std"] = load_standards(path) if path else None
        _STD["error"] = None if path else "未找到 CHS-DRG 分组标准目录（YIBAO_STANDARDS）"
    except Exception as exc:  # a broken standards directory: say so on the page, keep serving
        _STD["std"], _STD["error"] = None, f"分组标准无法读取：{str(exc).splitlines()[0][:200]}"


def drg_trail(case: dict) -> tuple[str | None, str | None]:
    """(the grouping trail of ``case``, or None; a note when it is not available yet or at all)."""
    with _STD_LOCK:
        if "thread" not in _STD:
            _STD["thread"] = threading.Thread(target=_load_standards, name="yibao-standards", daemon=True)
            _STD["thread"].start()
    if _STD["thread"].is_alive():
        return None, "分组过程说明正在准备（首次读取分组标准需数秒），请稍后刷新本页"
    if _STD.get("std") is None:
        return None, _STD.get("error") or "分组标准不可用"
    if case.get("setting") != "inpatient":
        return None, None
    try:
        return group_one(case, _STD["std"]).explain(), None
    except Exception as exc:  # one case the grouper cannot read: the page still opens
        return None, f"本病例无法给出分组过程：{str(exc).splitlines()[0][:200]}"


__all__ = ["PV_KIND_ZH", "Sources", "case_payment", "dip_group_name", "drg_trail", "institution_view",
           "official_point_values", "sources"]
