"""Pre-check before discharge or upload (事前预审): one case → DIP group and points, DRG group and weight, findings.

A hospital's system (HIS) or the pre-check page sends one case as it stands — the settlement-list fields and
its fee lines, in the input of :mod:`yibao.review.check` — and gets back, without anything being stored but
an audit event:

- its **DIP** group (病种) with its name, kind, score, cost ratio, deviation, coefficient and points, and the
  Chinese explanation of the points (:func:`yibao.dip.hospital.explain`);
- its **DRG** group with the MDC, ADRG and DRG names, the grouping trail (:func:`yibao.drg.explain.group_one`),
  the relative weight (RW), outlier class, coefficient and case weight, or why it is paid by item;
- **every review finding**, the one-case rules (:class:`yibao.review.check.Checker`) and the rules that need
  the person's history, read from the workspace: readmission within N days (分解住院, C04), overlapping stays
  (C03), outpatient visits per month (C09) and services after death (C02, the death date from ``insured``).

What it needs is loaded once, on first use, and reloaded when the workspace's database file changes: the rule
set with the checker's indexes, the persons' earlier cases (sorted by person, an offset per person), the
insured persons' sex, birth and death dates, the DIP catalogue (``$YIBAO_DIP_CATALOGUE`` or
``WS/results/dip-catalogue``, written by ``yibao dip build``; else built from the workspace's history years)
with every group key of the history resolved once, and the DRG standards (``$YIBAO_STANDARDS`` or
``../shared/standards/chs-drg-1.1``) with weights from the workspace's history years (``$YIBAO_DRG_WEIGHTS``: a city's published
table instead).

The single-case arithmetic (DIP points, DRG case weight, the three history rules) is written here for one
case in exact integer units, the very formulas of the set-based pipelines (``dip_case_points``,
``drg_case_pay``, the review's ``overlapping_stay``, ``split_admission``, ``visit_frequency`` SQL);
``tests/server/test_precheck.py`` compares them with those pipelines on every case of a workspace. A DIP key
(diagnosis, procedures) not seen in the history is resolved by the DIP scoring function itself (slower, tens of
milliseconds, once per key). Choice and figures: docs/precheck.md.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import os
import re
import threading
import time
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.concurrency import run_in_threadpool

from yibao.contract.errors import MissingData, RefusedInput
from yibao.contract.schema import TABLES
from yibao.contract.standards import cc_tables, find_standards
from yibao.dip import catalogue as dip_catalogue
from yibao.dip import scoring as dip_scoring
from yibao.dip.hospital import explain as dip_explain
from yibao.dip.labels import GROUP_KIND_ZH as KIND_ZH
from yibao.dip.labels import REASONS_ZH
from yibao.dip.policy import DipPolicy, DipPolicyError
from yibao.dip.policy import load_policy as load_dip_policy
from yibao.dip.tables import param_tables, read_overrides, read_valid_procedures
from yibao.drg.explain import group_one
from yibao.drg.grouper import group_table
from yibao.drg.labels import ITEM_ZH, OUTLIER_ZH
from yibao.drg.payment import DRG_WEIGHTS
from yibao.drg.policy import DrgPolicy, history_years, load_payment_policy
from yibao.drg.policy import param_tables as drg_param_tables
from yibao.drg.standards import load_standards
from yibao.drg.weights import official_weights, read_weights
from yibao.engine.runner import LocalRunner, query_arrow
from yibao.engine.select import runner_for
from yibao.engine.workspace import DB_FILE
from yibao.engine.wslock import connect_for_read
from yibao.review.check import Checker, CheckError, case_facts, evaluate_case
from yibao.review.logic import PERSON, SET_LOGIC
from yibao.review.ruleset import RuleSet, load_rules
from yibao.review.run import SOURCE_TABLES, learned
from yibao.server.pages import PageError, PageRoute, add_nav, render, require
from yibao.server.pages.core import check_csrf
from yibao.staff import periods_from_workspace
from yibao.store import audit
from yibao.store.users import ROLES

DIP_CATALOGUE_ENV = "YIBAO_DIP_CATALOGUE"
DRG_WEIGHTS_ENV = "YIBAO_DRG_WEIGHTS"
DEVIATION_ZH = {"normal": "正常", "low": "低倍率", "high": "高倍率", "extreme": "极高倍率（特例单议）"}
FEN = Decimal("0.01")
U4 = Decimal("0.0001")
OTHER_INSTITUTION = "其他机构"

_HISTORY_SQL = """
SELECT c.case_id, c.person_id, c.institution_id, i.kind AS inst_kind, c.setting, c.admit_date, c.discharge_date,
       c.principal_dx, c.discharge_mode, c.fund_paid
FROM main.cases c LEFT JOIN main.institutions i ON i.institution_id = c.institution_id
WHERE c.person_id IS NOT NULL
ORDER BY c.person_id, c.admit_date, c.case_id
"""


class PrecheckUnavailable(RefusedInput):
    """The workspace cannot answer a pre-check (no data loaded yet)."""


def catalogue_dir(workspace: Path) -> Path | None:
    """The DIP catalogue the server uses: ``$YIBAO_DIP_CATALOGUE``, else ``WS/results/dip-catalogue`` (written by
    ``yibao dip build --out``), when it holds a catalogue; None: build one from the workspace's history."""
    env = os.environ.get(DIP_CATALOGUE_ENV)
    for p in ([Path(env)] if env else []) + [Path(workspace) / "results" / "dip-catalogue"]:
        if (p / "manifest.json").is_file():
            return p
    return None


def _offsets(col: pa.ChunkedArray) -> tuple[dict[str, int], np.ndarray]:
    """Each value's first row in a column sorted by it, and the rows where each run starts (plus the end): the
    run of value ``v`` is ``[starts[i], starts[i + 1])`` with ``i = at[v]``. Only strings and ints in the dict:
    the garbage collector does not track it (no pauses of a full collection over a million tuples)."""
    ids = np.asarray(col.to_numpy(zero_copy_only=False), dtype=object)
    if not len(ids):
        return {}, np.zeros(1, dtype=np.int64)
    starts = np.concatenate([[0], np.flatnonzero(ids[1:] != ids[:-1]) + 1])
    return dict(zip(ids[starts].tolist(), range(len(starts)))), np.concatenate([starts, [len(ids)]]).astype(np.int64)


def _text(v) -> str:
    """A value as the review's SQL writes it into a message (CAST … AS VARCHAR)."""
    if v is None:
        return ""
    if isinstance(v, Decimal):
        return f"{v:.2f}" if v.as_tuple().exponent == -2 else str(v)
    if isinstance(v, dt.date):
        return v.isoformat()
    return str(v)


def _half_up_div(n: int, d: int) -> int:
    """ROUND_HALF_UP(n / d) on non-negative integers: (2n + d) // 2d, as the pipelines' SQL."""
    return (2 * n + d) // (2 * d)


def _u(v: Decimal, scale: int) -> int:
    return int((Decimal(v) * scale).to_integral_value())


@dataclass
class Loaded:
    """Everything a pre-check reads, loaded once from one state of the workspace."""

    mtime: float
    rs: RuleSet
    checker: Checker
    hist: dict[str, np.ndarray]  # the persons' cases by column (_HISTORY_SQL), sorted by person; dates as days
    hist_at: dict[str, int]  # person_id → its run in ``hist_starts``
    hist_starts: np.ndarray
    history_days: int | None  # the longest look-back of the history rules (C04's max_gap_days); None: all cases
    insured_at: dict[str, int]  # person_id → its row of ``insured``
    insured: dict[str, np.ndarray]  # sex, birth_date, death_date (days) by row
    institutions: dict[str, dict]
    dip_policy: DipPolicy
    dip_catalogue: pa.Table
    dip_groups: dict[str, dict]
    dip_keys: dict[tuple, tuple[str | None, str | None]]  # (dx, procedures) → (group_id, reason) of a positive cost
    dip_rules: pa.Table
    dip_valid: pa.Table
    dip_coef: dict[tuple[str, str], Decimal]
    dip_version: str
    dip_source: str
    dip_names: object | None
    drg_policy: DrgPolicy | None
    drg_std: object | None
    drg_weights: dict[str, dict]
    drg_source: str
    basis: dict[str, str] = field(default_factory=dict)  # rule id → its basis (依据)
    load_seconds: float = 0.0
    dip_lock: threading.Lock = field(default_factory=threading.Lock)


class Precheck:
    """The pre-check of one workspace; thread-safe, loaded on first use (``load()`` to warm it)."""

    def __init__(self, workspace: Path, wait_seconds: float = 30.0) -> None:
        self.workspace = Path(workspace)
        self.db = self.workspace / DB_FILE
        self.wait_seconds = wait_seconds
        self._lock = threading.Lock()
        self._loaded: Loaded | None = None

    # --- loading ----------------------------------------------------------------------------------------
    def load(self) -> Loaded:
        cur = self._loaded
        try:
            mtime = self.db.stat().st_mtime
        except FileNotFoundError:
            raise PrecheckUnavailable(f"{self.workspace}：工作区尚未装载数据（缺少 {DB_FILE}），无法预审") from None
        if cur is not None and cur.mtime == mtime:
            return cur
        with self._lock:
            if self._loaded is not None and self._loaded.mtime == mtime:
                return self._loaded
            self._loaded = self._load(mtime)
            return self._loaded

    def _load(self, mtime: float) -> Loaded:
        t0 = time.perf_counter()
        rs = load_rules()
        periods = periods_from_workspace(self.workspace)
        con = connect_for_read(self.db, self.wait_seconds)
        try:
            cat = query_arrow(con, "SELECT * FROM main.catalog").cast(TABLES["catalog"].arrow_schema())
            inst = query_arrow(con, "SELECT * FROM main.institutions").cast(TABLES["institutions"].arrow_schema())
            # what the review learns from the workspace (L10 reference prices, C06 diagnosis profiles, C07
            # accompanying items with the CHS-DRG complication tables when found): the pre-check judges a case
            # against the same references as the review of the workspace
            qdb = con.execute("SELECT current_database()").fetchall()[0][0]
            std = find_standards()
            cc = cc_tables(std) if std is not None else None
            lr = learned({t: f'"{qdb}".main.{t}' for t in SOURCE_TABLES}, rs, LocalRunner(con), standards=cc)
            checker = Checker(cat, inst, rs, periods, lr.references, lr.dx_profiles, lr.dx_evidence, cc)
            hist_t = query_arrow(con, _HISTORY_SQL)
            ins_t = query_arrow(con, "SELECT person_id, sex, birth_date, death_date FROM main.insured")
            insured_at = dict(zip(ins_t.column("person_id").to_pylist(), range(ins_t.num_rows)))
            ins = _columns(ins_t, ("sex", "birth_date", "death_date"))
            institutions = {r["institution_id"]: r for r in inst.to_pylist()}
            db = con.execute("SELECT current_database()").fetchall()[0][0]
            try:
                dip = self._load_dip(con, db, inst)
            except (DipPolicyError, MissingData) as exc:  # e.g. no history year before the year being settled
                dip = {"dip_policy": None, "dip_catalogue": None, "dip_groups": {}, "dip_keys": {}, "dip_rules": None,
                       "dip_valid": None, "dip_coef": {}, "dip_version": "", "dip_names": None,
                       "dip_source": f"无法生成病种目录库：{getattr(exc, 'problem', None) or exc.message}"}
            drg = self._load_drg(con, db)
        finally:
            con.close()
        hist_at, hist_starts = _offsets(hist_t.column("person_id"))
        hist = _columns(hist_t, _HISTORY_COLUMNS)
        del hist_t
        days = _history_window(rs)
        out = Loaded(mtime=mtime, rs=rs, checker=checker, hist=hist, hist_at=hist_at, hist_starts=hist_starts,
                     history_days=days,
                     insured_at=insured_at, insured=ins, institutions=institutions, **dip, **drg,
                     basis={r.id: r.basis for r in reversed(rs.rules)}, load_seconds=time.perf_counter() - t0)
        gc.collect()
        gc.freeze()  # what is loaded stays: later collections do not walk it again
        return out

    def _load_dip(self, con, db: str, inst: pa.Table) -> dict:
        policy = load_dip_policy()
        cases_rel = f'"{db}".main.cases'
        runner = runner_for("duckdb", con=con)
        cat_dir = catalogue_dir(self.workspace)
        if cat_dir is not None:
            cat, manifest, rules, valid = dip_catalogue.read_catalogue(Path(cat_dir))
            version, source = manifest.get("version", ""), f"目录库 {cat_dir}"
        else:
            years, target = dip_catalogue.history_years(self.workspace, policy)
            built = policy if policy.years else replace(policy, year_weights=tuple(policy.year_weights[-len(years):]))
            rules, valid = read_overrides(), read_valid_procedures(find_standards(None))
            cat = dip_catalogue.build_tables({"cases": cases_rel}, runner, built, years, rules, valid)["dip_catalogue"]
            version = ""
            source = f"由工作区历史年度 {'、'.join(map(str, years))} 生成（结算年度 {target}）"
        # every group key of the history resolved once by the DIP scoring itself
        scored = dip_scoring.score_tables({"cases": cases_rel, "institutions": f'"{db}".main.institutions'}, runner,
                                        policy, cat, rules, valid, final=True)["dip_case_points"]
        cur = con.cursor()
        try:
            cur.register("_scored", scored.select(["case_id", "group_id", "reason"]))
            keys = cur.execute(f"""SELECT DISTINCT c.principal_dx, c.procedures, s.group_id, s.reason
                                   FROM _scored s JOIN {cases_rel} c ON c.case_id = s.case_id
                                   WHERE c.total_cost > 0""").fetchall()
        finally:
            cur.close()
        dip_keys = {(dx or "", _procs(procs)): (g, r) for dx, procs, g, r in keys}
        coef = {}
        for r in param_tables(policy, [])["dip_coefficients"].to_pylist():
            coef[(r["scope"], r["key"])] = r["coefficient"]
        return {"dip_policy": policy, "dip_catalogue": cat, "dip_groups": {r["group_id"]: r for r in cat.to_pylist()},
                "dip_keys": dip_keys, "dip_rules": rules, "dip_valid": valid, "dip_coef": coef,
                "dip_version": version, "dip_source": source,
                "dip_names": dip_catalogue.code_names(find_standards(None))}

    def _load_drg(self, con, db: str) -> dict:
        sdir = find_standards(None)
        if sdir is None:
            return {"drg_policy": None, "drg_std": None, "drg_weights": {},
                    "drg_source": "未找到 CHS-DRG 分组标准目录（YIBAO_STANDARDS），不做 DRG 分组"}
        std = load_standards(sdir)
        policy = load_payment_policy()
        runner = runner_for("duckdb", con=con)
        cases = f'"{db}".main.cases'
        grouped = group_table(f"(SELECT * FROM {cases} WHERE setting = 'inpatient')", std, runner)
        years = [r[0] for r in con.execute(
            f"SELECT DISTINCT CAST(year(discharge_date) AS INTEGER) FROM {cases} WHERE setting = 'inpatient' "
            "AND discharge_date IS NOT NULL ORDER BY 1").fetchall()]
        target = years[-1] if years else dt.date.today().year
        hist = history_years(years, target, policy)
        src = {"drg_grouped": grouped, "cases": cases, **drg_param_tables(policy, target, hist)}
        weights = runner.run_pipeline(DRG_WEIGHTS, src)["drg_weights"]
        wfile = os.environ.get(DRG_WEIGHTS_ENV)
        if wfile:
            weights = official_weights(read_weights(Path(wfile)), weights)
            source = f"官方权重表 {wfile}"
        else:
            source = f"由工作区历史年度 {'、'.join(map(str, hist)) or '（无）'} 计算"
        return {"drg_policy": policy, "drg_std": std, "drg_weights": {r["group_id"]: r for r in weights.to_pylist()},
                "drg_source": f"分组标准 {std.short_version}；权重{source}"}

    # --- one case -----------------------------------------------------------------------------------------
    def check(self, case: dict, *, viewer_institution: str | None = None) -> dict:
        """The pre-check answer of one case. ``viewer_institution``: a hospital user's institution (other
        institutions' cases in the history are named only as 其他机构)."""
        t_load = time.perf_counter()
        L = self.load()
        t0 = time.perf_counter()  # the answer's time (the first call also loads: ``load`` below)
        u0 = time.thread_time()  # CPU time of this thread: what the answer costs without waiting for a core
        if not isinstance(case, dict):
            raise CheckError("输入应为一个病例（JSON 对象）")
        case = dict(case)
        pid = case.get("person_id")
        row = L.insured_at.get(str(pid)) if pid not in (None, "") else None
        if row is not None:  # the person's facts of record where the case does not give them
            sex, birth, death = (L.insured[k][row] for k in ("sex", "birth_date", "death_date"))
            if case.get("death_date") in (None, "") and death != _NO_DAY:
                case["death_date"] = _day(death).isoformat()
            if case.get("sex") in (None, "") and sex:
                case["sex"] = sex
            if case.get("age_years") in (None, "") and case.get("birth_date") in (None, "") and birth != _NO_DAY:
                case["birth_date"] = _day(birth).isoformat()
        if case.get("age_years") in (None, "") and case.get("birth_date") not in (None, ""):
            try:  # whole years at admission, as the review's case facts (the DRG grouper reads age_years)
                b = dt.date.fromisoformat(str(case["birth_date"]))
                a = dt.date.fromisoformat(str(case.get("admit_date")))
                case["age_years"] = a.year - b.year - ((a.month, a.day) < (b.month, b.day))
            except ValueError:
                pass  # the checker names the bad date
        t1, u1 = time.perf_counter(), time.thread_time()
        crow, person, lines = L.checker.parse(case)
        c = case_facts(crow, person, L.checker.look)
        th = time.perf_counter()
        hist_rows = self._history(L, c)
        th2 = time.perf_counter()
        rows = evaluate_case(L.rs, L.checker.look, c, lines, [c, *hist_rows], redact=_redactor(viewer_institution))
        res = L.checker.answer(c["case_id"], rows)
        t2, u2 = time.perf_counter(), time.thread_time()
        findings = res["findings"]
        person_rules = _history_rule_ids(L.rs)
        for f in findings:
            f["scope"] = "history" if f["rule_id"] in person_rules else "case"
            f["severity_zh"] = "拒付" if f["severity"] == "reject" else "提示"
            f["basis"] = L.basis[f["rule_id"]]
        reject = Decimal(res["reject_amount"])
        inpatient = c["setting"] == "inpatient"
        dip = self._dip(L, c) if inpatient else None
        drg = self._drg(L, case, c) if inpatient else None
        t3, u3 = time.perf_counter(), time.thread_time()
        return {
            "case_id": res["case_id"], "institution_id": c["institution_id"], "setting": c["setting"],
            "total_cost": f"{c['total_cost']:.2f}",
            "dip": dip, "drg": drg,
            "grouping_note": None if inpatient else "门诊病例不参与 DIP/DRG 分组",
            "findings": findings, "reject_amount": f"{reject:.2f}",
            "history": {"cases": len(hist_rows), "rules": sorted(person_rules)},
            "sources": {"dip": L.dip_source, "drg": L.drg_source},
            "timing_ms": {"rules": round((t2 - t1) * 1000, 3), "history": round((th2 - th) * 1000, 3),
                          "total": round((t3 - t0) * 1000, 3),
                          "load": round((t0 - t_load) * 1000, 3),
                          "cpu_rules": round((u2 - u1) * 1000, 3), "cpu_total": round((u3 - u0) * 1000, 3)},
        }

    @staticmethod
    def _history(L: Loaded, c: dict) -> list[dict]:
        """The person's other cases of the workspace (the fields of ``_HISTORY_SQL``), those that can matter: with
        a known window (``history_days``), the cases discharged on or after the earliest day a history rule looks
        back to."""
        i = L.hist_at.get(c["person_id"])
        if i is None:
            return []
        start, stop = int(L.hist_starts[i]), int(L.hist_starts[i + 1])
        rows = range(start, stop)
        h = L.hist
        if stop - start > 8 and L.history_days is not None:
            a = c["admit_date"]
            bound = (min(a - dt.timedelta(days=L.history_days), a.replace(day=1)) - _EPOCH).days
            dis = h["discharge_date"][start:stop]
            rows = (start + np.flatnonzero((dis >= bound) | (dis == _NO_DAY))).tolist()
        cid = c["case_id"]
        out = []
        for j in rows:
            if h["case_id"][j] == cid:  # the case itself, if uploaded before, is replaced by the input
                continue
            r = {k: h[k][j] for k in _HISTORY_COLUMNS}
            r["admit_date"], r["discharge_date"] = _day(r["admit_date"]), _day(r["discharge_date"])
            r["fund_paid"] = _fen_value(r["fund_paid"])
            out.append(r)
        return out

    # --- DIP ----------------------------------------------------------------------------------------------
    def _dip(self, L: Loaded, c: dict) -> dict:
        pol = L.dip_policy
        if pol is None:
            return {"status": "unavailable", "reason_zh": L.dip_source}
        key = (c["principal_dx"], _procs(c["procedures"]))
        hit = L.dip_keys.get(key) if c["total_cost"] > 0 else None
        if hit is None:  # a key the history never had (or a zero cost): the DIP scoring function resolves it
            row = self._dip_scored(L, c)
            if c["total_cost"] > 0:
                L.dip_keys[key] = (row["group_id"] if row["status"] != "ungroupable" else None, row["reason"])
        else:
            row = self._dip_row(L, c, *hit)
        names = L.dip_names
        row["group_name"] = names.group(row["group_id"]) if names and row.get("group_id") else None
        row["explanation"] = dip_explain(row, pol)
        out = {k: (f"{v:.4f}" if isinstance(v, Decimal) and k in ("score", "ratio", "case_score", "coefficient",
                                                                   "formula_points", "points")
                   else f"{v:.2f}" if isinstance(v, Decimal) else v) for k, v in row.items()}
        out["group_kind_zh"] = KIND_ZH.get(row.get("group_kind"))
        out["deviation_zh"] = DEVIATION_ZH.get(row.get("deviation"))
        out["reason_zh"] = REASONS_ZH.get(row.get("reason")) if row.get("reason") else None
        out["catalogue_version"] = L.dip_version
        return out

    def _dip_row(self, L: Loaded, c: dict, group_id: str | None, reason: str | None) -> dict:
        base = {"case_id": c["case_id"], "institution_id": c["institution_id"], "total_cost": c["total_cost"]}
        if group_id is None:
            return {**base, "group_id": None, "group_kind": None, "primary_care": False, "avg_cost": None,
                    "score": None, "ratio": None, "deviation": None, "case_score": None, "coefficient": None,
                    "formula_points": None, "points": None, "status": "ungroupable", "reason": reason}
        g = L.dip_groups[group_id]
        pol = L.dip_policy
        avg, score = g["avg_cost"], g["score"]
        avg_f, score_u, cost_f = _u(avg, 100), _u(score, 10000), _u(c["total_cost"], 100)
        extreme_f = int((pol.extreme_ratio * avg * 100).__floor__())
        high_f = int((pol.high_ratio * avg * 100).__floor__())
        low_f = int((pol.low_ratio * avg * 100).__ceil__())
        high_off = (_u(pol.high_ratio, 10000) - 10000) * avg_f
        dev = "extreme" if cost_f > extreme_f else "high" if cost_f > high_f else "low" if cost_f < low_f else "normal"
        ratio_u = _half_up_div(cost_f * 10000, avg_f)
        if cost_f > high_f:
            cs_u = (2 * score_u * (cost_f * 10000 - high_off) + avg_f * 10000) // (2 * avg_f * 10000)
        elif cost_f < low_f:
            cs_u = _half_up_div(score_u * cost_f, avg_f)
        else:
            cs_u = score_u
        if g["primary_care"] or group_id in set(pol.primary_care_groups):
            coef_u, primary = 10000, True
        else:
            lvl = L.institutions.get(c["institution_id"], {}).get("level")
            coef = L.dip_coef.get(("institution", c["institution_id"]),
                                  L.dip_coef.get(("level", str(lvl)), Decimal(1)) if lvl is not None else Decimal(1))
            coef_u, primary = _u(coef, 10000), False
        points_u = (2 * cs_u * coef_u + 10000) // 20000
        d4 = lambda n: (Decimal(n) * U4).quantize(U4)  # noqa: E731
        return {**base, "group_id": group_id, "group_kind": g["kind"], "primary_care": primary, "avg_cost": avg,
                "score": score, "ratio": d4(ratio_u), "deviation": dev, "case_score": d4(cs_u),
                "coefficient": d4(coef_u), "formula_points": d4(points_u), "points": d4(points_u),
                "status": "scored", "reason": None}

    def _dip_scored(self, L: Loaded, c: dict) -> dict:
        """The DIP scoring pipeline on the one case (the key is new: tens of milliseconds)."""
        row = {n: None for n in TABLES["cases"].arrow_schema().names}
        row.update(case_id=c["case_id"], person_id=c["person_id"], institution_id=c["institution_id"] or "",
                   setting="inpatient", admit_date=c["admit_date"], discharge_date=c["discharge_date"],
                   settle_date=c["discharge_date"], principal_dx=c["principal_dx"],
                   procedures=c["procedures"] or None, total_cost=c["total_cost"], fund_paid=c["fund_paid"],
                   scheme=c["scheme"])
        schema = TABLES["cases"].arrow_schema()
        one = pa.table({f.name: [row.get(f.name)] for f in schema}, schema=schema)
        inst = pa.Table.from_pylist(list(L.institutions.values()), schema=TABLES["institutions"].arrow_schema()) \
            if L.institutions else TABLES["institutions"].arrow_schema().empty_table()
        with L.dip_lock:
            out = dip_scoring.score_tables({"cases": one, "institutions": inst}, runner_for("duckdb"), L.dip_policy,
                                         L.dip_catalogue, L.dip_rules, L.dip_valid, final=True)["dip_case_points"]
        r = out.to_pylist()[0]
        if r["status"] in ("review", "reviewed"):  # a pre-check is not in the special-case review cap
            r["status"] = "scored"
        return {k: r.get(k) for k in ("case_id", "institution_id", "total_cost", "group_id", "group_kind",
                                      "primary_care", "avg_cost", "score", "ratio", "deviation", "case_score",
                                      "coefficient", "formula_points", "points", "status", "reason")}

    # --- DRG ----------------------------------------------------------------------------------------------
    def _drg(self, L: Loaded, case: dict, c: dict) -> dict | None:
        if L.drg_std is None:
            return {"status": "unavailable", "status_zh": L.drg_source}
        g = group_one({**case, "case_id": c["case_id"]}, L.drg_std)
        out = {"status": g.status, "status_zh": g.status_zh, "mdc": g.mdc, "mdc_name": g.mdc_name, "adrg": g.adrg,
               "adrg_name": g.adrg_name, "drg": g.drg, "drg_name": g.drg_name, "cc_level": g.cc_level,
               "warnings": list(g.warnings), "standards_version": g.standards_version,
               "trail": [{"stage": s.stage, "rule": s.rule, "held": s.held, "detail": s.detail} for s in g.trail]}
        out.update(drg_case_weight(L.drg_policy, L.drg_weights, L.institutions, c, g.status, g.drg))
        return out


def drg_case_weight(p: DrgPolicy, weights: dict[str, dict], institutions: dict[str, dict], c: dict,
                    status: str, drg: str | None) -> dict:
    """RW, outlier, coefficient and case weight of one case (the formulas of ``drg_case_pay``), or why it is paid
    by item."""
    los = (c["discharge_date"] - c["admit_date"]).days
    dx = (c["principal_dx"] or "").strip().upper()
    reason = None
    if status != "ok" or drg is None:
        reason = "not_grouped"
    elif p["payment.short_stay_days"] > 0 and los <= p["payment.short_stay_days"]:
        reason = "short_stay"
    elif los >= p["payment.long_stay_days"]:
        reason = "long_stay"
    elif any(dx.startswith(x) for x in p.per_diem_prefixes):
        reason = "per_diem"
    w = weights.get(drg) if drg else None
    rw, avg = (w.get("relative"), w.get("avg_cost")) if w else (None, None)
    if reason is None and w is not None and rw is None:
        reason = "listed_by_item"
    elif reason is None and (rw is None or avg is None or avg <= 0):
        reason = "no_weight"
    base = {"los_days": los, "rw": f"{rw:.4f}" if rw is not None else None,
            "avg_cost": f"{avg:.2f}" if avg is not None else None}
    if reason is not None:
        return {**base, "method": "item", "item_reason": reason, "item_reason_zh": ITEM_ZH.get(reason),
                "outlier": None, "outlier_zh": None, "coefficient": None, "adjusted_weight": None, "case_weight": None}
    lvl = institutions.get(c["institution_id"], {}).get("level")
    coef = p["payment.institution_coefficient"].get(c["institution_id"],
                                         p.level_coefficient.get(str(lvl), Decimal(1)) if lvl is not None else Decimal(1))
    coef = Decimal(coef).quantize(U4)
    cost_f, avg_f, rw_u, high_u = _u(c["total_cost"], 100), _u(avg, 100), _u(rw, 10000), _u(p["payment.high_ratio"], 10000)
    if c["total_cost"] > p["payment.high_ratio"] * avg:
        outlier = "high"
        adj = (2 * rw_u * (cost_f * 10000 - (high_u - 10000) * avg_f) + avg_f * 10000) // (2 * avg_f * 10000)
    elif c["total_cost"] < p["payment.low_ratio"] * avg:
        outlier, adj = "low", _half_up_div(rw_u * cost_f, avg_f)
    else:
        outlier, adj = "normal", rw_u
    cw = (2 * adj * _u(coef, 10000) + 10000) // 20000
    return {**base, "method": "drg", "item_reason": None, "item_reason_zh": None, "outlier": outlier,
            "outlier_zh": OUTLIER_ZH[outlier], "coefficient": f"{coef:.4f}",
            "adjusted_weight": f"{Decimal(adj) * U4:.4f}", "case_weight": f"{Decimal(cw) * U4:.4f}"}


# --- the person's history -------------------------------------------------------------------------------------

_HISTORY_COLUMNS = ("case_id", "person_id", "institution_id", "inst_kind", "setting", "admit_date", "discharge_date",
                    "principal_dx", "discharge_mode", "fund_paid")
_EPOCH = dt.date(1970, 1, 1)
_EPOCH_ORDINAL = _EPOCH.toordinal()
_NO_DAY = -(2**31)  # a missing date in the day columns
# person logics that read the case alone (no other case of the person) …
_CASE_ONLY = frozenset({"after_death", "low_standard_admission", "suspended_attending", "outside_agreement",
                        "out_of_catalog_share", "cash_share", "total_cost_over"})
# … and those over the person's other cases whose look-back is known: the days before admission (the calendar
# month of the admission is always kept). Any other person logic gets every case of the person.
_WINDOWS = {"overlapping_stay": lambda p: 0, "split_admission": lambda p: int(p["max_gap_days"]),
            "visit_frequency": lambda p: 0}


def _columns(t: pa.Table, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Columns as numpy arrays: dates as days since 1970 (``_NO_DAY`` for none), money as fen (``_NO_DAY`` for
    none; :func:`_fen_value` gives the Decimal back), text as Python strings — one string object per distinct
    value (a million cases name a few hundred institutions and a few thousand diagnoses)."""
    out = {}
    for n in names:
        col = t.column(n).combine_chunks() if t.num_rows else pa.array([], t.column(n).type)
        if pa.types.is_date(col.type):
            out[n] = pc.fill_null(col.cast(pa.int32()), _NO_DAY).to_numpy().astype(np.int64)
        elif pa.types.is_decimal(col.type):
            fen = pc.fill_null(col.cast(pa.decimal128(18, 2)), pa.scalar(0, pa.decimal128(18, 2)))
            v = np.frombuffer(fen.buffers()[1], dtype=np.int64).reshape(-1, 2)[fen.offset:fen.offset + len(fen), 0]
            out[n] = np.where(col.is_null().to_numpy(zero_copy_only=False), _NO_DAY, v).astype(np.int64)
        elif pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            enc = pc.dictionary_encode(col)
            values = np.asarray(enc.dictionary.to_numpy(zero_copy_only=False), dtype=object)
            idx = enc.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
            out[n] = np.append(values, None)[idx]  # (index -1: the appended None)
        else:
            out[n] = np.asarray(col.to_numpy(zero_copy_only=False), dtype=object)
    return out


def _fen_value(v) -> Decimal | None:
    v = int(v)
    return None if v == _NO_DAY else Decimal(v).scaleb(-2)


def _day(v) -> dt.date | None:
    v = int(v)
    return None if v == _NO_DAY else dt.date.fromordinal(_EPOCH_ORDINAL + v)


def _person_logics(rs: RuleSet) -> list:
    return [r for r in rs.enabled if r.logic in SET_LOGIC and SET_LOGIC[r.logic].shape == PERSON
            and r.logic not in _CASE_ONLY]


def _history_window(rs: RuleSet) -> int | None:
    """The longest look-back (days) of the enabled rules over a person's other cases; None: a rule of unknown
    window is enabled, every case of the person is read."""
    days = 0
    for r in _person_logics(rs):
        if r.logic not in _WINDOWS:
            return None
        days = max(days, _WINDOWS[r.logic](r.params))
    return days


def _history_rule_ids(rs: RuleSet) -> frozenset[str]:
    """The enabled rules given the person's other cases (the answer's ``history.rules``, scope ``history``)."""
    return frozenset(r.id for r in _person_logics(rs))


def _redactor(viewer: str | None):
    """For a hospital user: another institution's case in a finding's evidence is named only as 他院病例 / 其他机构
    (the overlap is the reminder; whose case it is, is not theirs to know)."""
    if viewer is None:
        return None

    def redact(ev: dict) -> dict:
        if ev.get("other_institution") not in (None, viewer):
            ev = {**ev, "other_institution": OTHER_INSTITUTION, "other_case": "他院病例"}
        if ev.get("prev_case") and ev.get("prev_institution") not in (None, viewer):
            ev = {**ev, "prev_case": "他院病例"}
        return ev
    return redact


def _procs(v) -> tuple[str, ...]:
    if v is None:
        return ()
    if isinstance(v, str):
        v = v.split("|")
    return tuple(x.strip() for x in v if x is not None and str(x).strip())


__all__ = ["DIP_CATALOGUE_ENV", "DRG_WEIGHTS_ENV", "catalogue_dir", "Precheck", "PrecheckUnavailable",
           "PRECHECK_ROLES", "drg_case_weight", "router", "run_precheck", "service"]


# --- the HTTP API ---------------------------------------------------------------------------------------------

PRECHECK_ROLES = frozenset({"admin", "agency", "supervisor", "hospital"})  # the auditor reads, never pre-checks
_SERVICE_LOCK = threading.Lock()
router = APIRouter()


def service(app) -> Precheck:
    """The app's pre-check (one per app, made on first use)."""
    svc = getattr(app.state, "precheck", None)
    if svc is None:
        with _SERVICE_LOCK:
            svc = getattr(app.state, "precheck", None)
            if svc is None:
                s = app.state.settings
                svc = Precheck(s.workspace, getattr(s, "read_wait_seconds", 30.0))
                app.state.precheck = svc
    return svc


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def run_precheck(request: Request, case: object, user) -> dict | JSONResponse:
    """One pre-check for ``user`` (roles and institution checked), with its audit event; the answer or an error."""
    if user.role not in PRECHECK_ROLES:
        return _error(403, "forbidden", f"角色“{ROLES[user.role]}”（{user.role}）无权使用事前预审")
    if not isinstance(case, dict):
        return _error(422, "invalid_request", "请求参数不合法：输入应为一个病例（JSON 对象）")
    viewer = None
    if user.role == "hospital":
        given = case.get("institution_id")
        if given in (None, ""):
            case = {**case, "institution_id": user.institution_id}
        elif given != user.institution_id:
            return _error(403, "forbidden", f"医疗机构用户只能预审本机构（{user.institution_id}）的病例")
        viewer = user.institution_id
    try:
        out = service(request.app).check(case, viewer_institution=viewer)
    except PrecheckUnavailable as exc:
        return _error(503, "workspace_empty", exc.message)
    except RefusedInput as exc:  # CheckError: one Chinese line naming the field
        return _error(422, "invalid_request", f"请求参数不合法：{exc.message}")
    n_rej = sum(1 for f in out["findings"] if f["severity"] == "reject")
    audit.record(request.app.state.settings.store, actor=user.username, role=user.role, action="precheck",
                 object=f"precheck:{out['case_id']}", client=request.client.host if request.client else "",
                 detail={"institution_id": out["institution_id"], "findings": len(out["findings"]), "reject": n_rej})
    return out


@router.post("/api/precheck", summary="事前预审：一个病例的 DIP 病种与分值、DRG 分组与权重、全部审核提示（不保存）")
async def precheck_api(request: Request):
    try:
        body = await request.json()
    except ValueError:
        return _error(400, "bad_request", "请求体不是有效的 JSON")
    out = await run_in_threadpool(run_precheck, request, body, request.state.user)
    return out if isinstance(out, JSONResponse) else JSONResponse(out)


# --- the page (事前预审) ----------------------------------------------------------------------------------------

pages = APIRouter(route_class=PageRoute, include_in_schema=False)
add_nav("/precheck", "事前预审", PRECHECK_ROLES)
FORM_FIELDS = ("case_id", "person_id", "institution_id", "setting", "scheme", "admit_date", "discharge_date", "sex",
               "age_years", "dept_code", "attending_staff_id", "principal_dx", "secondary_dx", "procedures",
               "discharge_mode", "total_cost", "fund_paid", "self_pay", "out_of_pocket_excluded", "lines")
LINE_FIELDS = ("item_code", "item_name", "quantity", "unit_price", "service_date", "fee_category", "item_kind",
               "amount", "staff_id")


def case_from_form(form: dict) -> dict:
    """The pre-check input from the page's form (lines: one per row, comma or tab separated)."""
    case = {k: (form.get(k) or "").strip() for k in FORM_FIELDS if k != "lines"}
    case = {k: v for k, v in case.items() if v != ""}
    for k in ("secondary_dx", "procedures"):
        if k in case:
            case[k] = [x.strip() for x in case[k].split("|") if x.strip()]
    case["emergency"] = form.get("emergency") == "1"
    lines = []
    for n, raw in enumerate((form.get("lines") or "").splitlines(), 1):
        if not raw.strip():
            continue
        parts = [p.strip() for p in re.split(r"\t|,|，", raw)]
        if len(parts) < 4:
            raise CheckError(f"费用明细第 {n} 行：至少需要 项目编码、项目名称、数量、单价 四项")
        ln = {k: v for k, v in zip(LINE_FIELDS, parts) if v != ""}
        ln["line_no"] = len(lines) + 1
        lines.append(ln)
    case["lines"] = lines
    return case


def _form_of_case(con, case_id: str) -> dict | None:
    row = con.execute("SELECT case_id, person_id, institution_id, setting, scheme, admit_date, discharge_date, sex, "
                      "age_years, dept_code, attending_staff_id, principal_dx, secondary_dx, procedures, "
                      "discharge_mode, total_cost, fund_paid, self_pay, out_of_pocket_excluded, emergency "
                      "FROM main.cases WHERE case_id = ?", [case_id]).fetchone()
    if row is None:
        return None
    keys = ("case_id", "person_id", "institution_id", "setting", "scheme", "admit_date", "discharge_date", "sex",
            "age_years", "dept_code", "attending_staff_id", "principal_dx", "secondary_dx", "procedures",
            "discharge_mode", "total_cost", "fund_paid", "self_pay", "out_of_pocket_excluded", "emergency")
    f = dict(zip(keys, row))
    for k in ("secondary_dx", "procedures"):
        f[k] = "|".join(f[k] or [])
    lines = con.execute("SELECT item_code, item_name, quantity, unit_price, service_date, fee_category, item_kind, "
                        "amount, staff_id FROM main.fee_items WHERE case_id = ? ORDER BY line_no", [case_id]).fetchall()
    f["lines"] = "\n".join(",".join("" if v is None else _text(v) if not isinstance(v, Decimal) or k != "quantity"
                                    else f"{v.normalize():f}" for k, v in zip(LINE_FIELDS, ln)) for ln in lines)
    return {k: ("" if v is None else _text(v) if not isinstance(v, bool) else v) for k, v in f.items()}


def _example(request: Request, s) -> tuple[dict, str | None]:
    """The form prefilled from a case of the workspace (``?from_case=``; a hospital: its own only, else 404)."""
    svc = service(request.app)
    cid = request.query_params.get("from_case")
    try:
        con = connect_for_read(svc.db, svc.wait_seconds) if svc.db.exists() else None
    except duckdb.Error:
        con = None
    if con is None:
        return {}, None
    try:
        inst = s.user.institution_id if s.role == "hospital" else None
        ex = con.execute("SELECT min(case_id) FROM main.cases WHERE setting = 'inpatient'"
                         + (" AND institution_id = ?" if inst else ""), [inst] if inst else []).fetchone()[0]
        form = {}
        if cid:
            form = _form_of_case(con, cid) or {}
            if not form or (inst and form.get("institution_id") != inst):
                raise PageError(404, f"未找到病例 {cid}")
        return form, ex
    finally:
        con.close()


@pages.get("/precheck", response_class=HTMLResponse)
def precheck_page(request: Request):
    s = require(request, PRECHECK_ROLES)
    form, example = _example(request, s)
    if s.role == "hospital":
        form["institution_id"] = s.user.institution_id
    form.setdefault("setting", "inpatient")
    return render(request, "precheck/form.html", {"title": "事前预审", "f": form, "example": example,
                                                   "fixed_institution": s.role == "hospital"})


@pages.post("/precheck", response_class=HTMLResponse)
async def precheck_submit(request: Request):
    s = require(request, PRECHECK_ROLES)
    data = dict(await request.form())
    check_csrf(s, str(data.get("csrf", "")))
    if s.role == "hospital":
        data["institution_id"] = s.user.institution_id
    ctx = {"title": "事前预审", "f": data, "fixed_institution": s.role == "hospital"}
    try:
        case = case_from_form(data)
    except CheckError as exc:
        return render(request, "precheck/form.html", {**ctx, "error": exc.message}, status=422)
    out = await run_in_threadpool(run_precheck, request, case, s.user)
    if isinstance(out, JSONResponse):
        msg = json.loads(out.body)["error"]["message"]
        return render(request, "precheck/form.html", {**ctx, "error": msg}, status=out.status_code)
    return render(request, "precheck/form.html", {**ctx, "out": out})


router.include_router(pages)
