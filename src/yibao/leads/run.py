"""``yibao leads``: features, scores and the ranked lead list of a settlement year; evaluation against labels.

Outputs (CSV, UTF-8 with BOM, rows in a fixed order):

- ``leads.csv`` — the contract's file ``rank,level,institution_id,staff_id,score,reasons``: institutions
  first, then doctors, each ranked 1..n (ties of the score by ``institution_id``, ``staff_id``).
- ``leads_features.csv`` — every feature of every entity: value, peer group, peer median, robust z.
- ``leads_cases.csv`` — the cases behind the top ``TOP_CASES`` leads of each level.
- ``leads_model.csv`` — every feature of the model: computed or not, and from which input / why not.
- ``leads_evaluation.csv`` — with ``--evaluate``: precision@k per level and the rank of every labelled scheme.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from yibao.contract.errors import BadFile, MissingData
from yibao.engine.csvfile import rows_csv
from yibao.engine.runner import query_arrow
from yibao.engine.workspace import Workspace
from yibao.leads.features import FEATURES, active, compute_features
from yibao.leads.inputs import offdays, read_dip, read_findings, read_grouped
from yibao.leads.score import score_level

LEVELS = ("institution", "doctor")
SOURCE = {f.name: f.source for f in FEATURES}
TOP_CASES = 10
KS = (5, 10, 20)
LEADS_COLUMNS = ("rank", "level", "institution_id", "staff_id", "score", "reasons")


@dataclass
class LeadsResult:
    year: int
    cases: int
    counts: dict[str, int]
    unattended: int
    leads: list[dict]
    files: tuple[str, ...]
    evaluation: list[dict] = field(default_factory=list)
    model: list[dict] = field(default_factory=list)  # per feature: computed or not, and why


def _cases_rows(con, leads: list[dict]) -> list[list]:
    top = [(o["level"], o["rank"], o["institution_id"], o["staff_id"]) for o in leads if o["rank"] <= TOP_CASES]
    if not top:
        return []
    con.register("lead_top", pa.table({"level": [t[0] for t in top], "rnk": [t[1] for t in top],
                                       "institution_id": [t[2] for t in top], "staff_id": [t[3] for t in top]}))
    t = query_arrow(con, """
        SELECT t.level, t.rnk, c.institution_id, coalesce(c.staff_id, '') AS staff_id, c.case_id, c.person_id,
               c.setting, c.dept_code, c.dx3, CAST(c.admit_date AS VARCHAR) AS admit_date,
               CAST(c.discharge_date AS VARCHAR) AS discharge_date, c.los, round(c.exp_los, 1) AS exp_los,
               coalesce(c.drg, '') AS drg,
               CAST(c.total_cost AS VARCHAR) AS total_cost,
               CAST(CAST(sign(c.exp_cost_sum_fen) * ((2 * abs(c.exp_cost_sum_fen) + c.exp_cost_n) // nullif(2 * c.exp_cost_n, 0))
                         AS DECIMAL(18, 0)) * 0.01::DECIMAL(3, 2) AS VARCHAR) AS exp_cost, c.multi_dx, c.readmit15, c.offday,
               coalesce(CAST(c.findings AS VARCHAR), '') AS findings
        FROM lead_top t JOIN lead_cases c ON c.institution_id = t.institution_id
             AND (t.level = 'institution' OR c.staff_id = t.staff_id)
        ORDER BY t.level DESC, t.rnk, c.case_id""")
    con.unregister("lead_top")
    def cell(v):
        if isinstance(v, bool):
            return "是" if v else "否"
        if isinstance(v, float):
            return f"{v:.1f}"
        return v
    return [[cell(v) for v in r.values()] for r in t.to_pylist()]


CASES_HEADER = ("level", "rank", "institution_id", "staff_id", "case_id", "person_id", "setting", "dept_code",
                "dx_category", "admit_date", "discharge_date", "los", "expected_los", "drg", "total_cost",
                "expected_cost", "multi_dx", "readmit15", "offday_admission", "findings")
MODEL_HEADER = ("feature", "feature_zh", "computed", "note")
FEATURES_HEADER = ("level", "institution_id", "staff_id", "peer_group", "cases", "feature", "feature_zh", "value",
                   "peer_median", "robust_z")


@dataclass(frozen=True)
class Inputs:
    """Optional results of other commands (paths; see :mod:`yibao.leads.inputs`)."""
    drg_grouped: Path | None = None
    dip_scored: Path | None = None
    findings: Path | None = None


def compute(workspace: Path, year: int, periods: pa.Table | None = None, inputs: Inputs = Inputs()
            ) -> tuple[list[dict], list[dict], list, int, int, list[dict]]:
    grouped = read_grouped(inputs.drg_grouped) if inputs.drg_grouped is not None else None
    dip = read_dip(inputs.dip_scored) if inputs.dip_scored is not None else None
    fnd = read_findings(inputs.findings) if inputs.findings is not None else None
    off, covered = offdays(year)
    have = {k for k, t in (("drg", grouped), ("dip", dip), ("findings", fnd)) if t is not None}
    feats, model = active(have)
    for m in model:
        if m["feature"] == "offday_share" and not covered:
            m["note"] = f"节假日日历（holidays_cn.csv）未覆盖 {year} 年：该年只按周六、周日计"
        if m["feature"] == "offday_share" and covered:
            m["note"] = "周六、周日与法定节假日（holidays_cn.csv，扣除调休上班日）"
    with Workspace(workspace, read_only=True) as ws:
        con = ws.con
        n = con.execute("SELECT count(*) FROM main.cases WHERE year(settle_date) = ?", [year]).fetchall()[0][0]
        if n == 0:
            years = [r[0] for r in con.execute(
                "SELECT DISTINCT year(settle_date) FROM main.cases WHERE settle_date IS NOT NULL ORDER BY 1").fetchall()]
            raise MissingData(f"{workspace}: 没有 {year} 年结算的病例（工作区中有结算年度："
                              f"{'、'.join(map(str, years)) or '无'}）")
        tables = compute_features(con, year, periods, grouped=grouped, dip=dip, findings=fnd, offdays=off)
        for m, src in (("drg", "drg"), ("dip", "dip_points"), ("findings", "findings")):
            if m in have:  # how many of the year's cases the input matched
                k = con.execute(f"SELECT count(*) FROM lead_cases WHERE {src} IS NOT NULL AND "
                                f"{'findings > 0' if m == 'findings' else 'true'}").fetchall()[0][0]
                for row in model:
                    if row["computed"] == "是" and SOURCE[row["feature"]] == m:
                        row["note"] += f"：匹配 {year} 年结算病例 {k:,} 例"
        leads, long = [], []
        for lv in LEVELS:
            o, lg = score_level(tables[lv], lv, feats)
            leads += o
            long += lg
        unattended = con.execute("SELECT count(*) FROM lead_cases WHERE staff_id IS NULL").fetchall()[0][0]
        cases = _cases_rows(con, leads)
    return leads, long, cases, n, unattended, model


def read_labels(path: Path) -> list[dict]:
    """scheme_labels.csv: ``level,institution_id,staff_id,scheme``."""
    try:
        with Path(path).open(encoding="utf-8-sig", newline="") as f:
            r = csv.DictReader(f)
            need = {"level", "institution_id", "staff_id", "scheme"}
            if not need <= set(r.fieldnames or []):
                raise BadFile(f"{path}: 缺少列 {'、'.join(sorted(need - set(r.fieldnames or [])))}")
            rows = [{k: (row.get(k) or "").strip() for k in need} for row in r]
    except UnicodeDecodeError as exc:
        raise BadFile(f"{path}: 不是 UTF-8 编码（字节位置 {exc.start}）") from None
    except OSError as exc:
        raise BadFile(f"{path}: 无法读取（{exc.strerror}）") from None
    bad = [x for x in rows if x["level"] not in LEVELS]
    if bad:
        raise BadFile(f"{path}: level 应为 institution 或 doctor（{bad[0]['level']!r}）")
    return rows


def evaluate(leads: list[dict], labels: list[dict]) -> list[dict]:
    """precision@k per level (k = 5, 10, 20) and the rank of every labelled scheme (blank: not in the list)."""
    rank = {(o["level"], o["institution_id"], o["staff_id"] if o["level"] == "doctor" else ""): o["rank"] for o in leads}
    pos = {(x["level"], x["institution_id"], x["staff_id"] if x["level"] == "doctor" else "") for x in labels}
    out = []
    for lv in LEVELS:
        ranked = sorted((o for o in leads if o["level"] == lv), key=lambda o: o["rank"])
        for k in KS:
            top = ranked[:k]
            hits = sum(1 for o in top if (lv, o["institution_id"], o["staff_id"] if lv == "doctor" else "") in pos)
            out.append({"kind": "precision", "level": lv, "k": k, "scheme": "", "institution_id": "", "staff_id": "",
                        "value": f"{hits / k:.4f}" if top else "", "hits": hits, "entities": len(ranked)})
    for x in sorted(labels, key=lambda x: (x["level"], x["institution_id"], x["staff_id"], x["scheme"])):
        key = (x["level"], x["institution_id"], x["staff_id"] if x["level"] == "doctor" else "")
        out.append({"kind": "scheme_rank", "level": x["level"], "k": "", "scheme": x["scheme"],
                    "institution_id": x["institution_id"], "staff_id": x["staff_id"],
                    "value": rank.get(key, ""), "hits": "", "entities": ""})
    return out


def leads(workspace: Path, year: int, out_dir: Path, *, periods: pa.Table | None = None,
          labels: Path | None = None, inputs: Inputs = Inputs()) -> LeadsResult:
    """Compute and write every output (see the module doc)."""
    lab = read_labels(labels) if labels is not None else None
    rows, long, cases, n, unattended, model = compute(Path(workspace), year, periods, inputs)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "leads.csv").write_bytes(rows_csv(LEADS_COLUMNS, (
        [o["rank"], o["level"], o["institution_id"], o["staff_id"], str(o["score"]), o["reasons"]] for o in rows)))
    (out / "leads_features.csv").write_bytes(rows_csv(FEATURES_HEADER, (
        [r[h] for h in FEATURES_HEADER] for r in long)))
    (out / "leads_cases.csv").write_bytes(rows_csv(CASES_HEADER, cases))
    (out / "leads_model.csv").write_bytes(rows_csv(MODEL_HEADER, ([m[h] for h in MODEL_HEADER] for m in model)))
    files = ["leads.csv", "leads_features.csv", "leads_cases.csv", "leads_model.csv"]
    ev: list[dict] = []
    if lab is not None:
        ev = evaluate(rows, lab)
        hdr = ("kind", "level", "k", "scheme", "institution_id", "staff_id", "value", "hits", "entities")
        (out / "leads_evaluation.csv").write_bytes(rows_csv(hdr, ([e[h] for h in hdr] for e in ev)))
        files.append("leads_evaluation.csv")
    counts = {lv: sum(1 for o in rows if o["level"] == lv) for lv in LEVELS}
    return LeadsResult(year, n, counts, unattended, rows, tuple(files), ev, model)
