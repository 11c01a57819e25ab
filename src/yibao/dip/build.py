"""Build, save and read a DIP catalogue (病种目录库); score a workspace's cases against one.

A catalogue directory holds::

    catalogue.csv / .parquet / .xlsx   the groups (病种): key, kind, cases, average cost, score
    manifest.json                      version (content hash), parameters, threshold, counts
    procedure_overrides.csv            the classification overrides used (prefix → class)
    valid_procedures.csv               operating-room codes used (empty without a standards dir)

Everything is written deterministically (no dates, sorted rows, fixed workbook times), so the
same history and parameters give byte-identical files and the same version.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pyarrow as pa
import pyarrow.compute
import pyarrow.parquet as pq

from yibao.contract.readers import detect_encoding
from yibao.contract.standards import find_standards
from yibao.dip.pipelines import (
    DIP_CATALOGUE,
    DIP_SCORING,
    KIND_ZH,
    REASONS_ZH,
    REVIEW_SCHEMA,
    RULES_SCHEMA,
    TIER_ZH,
    VALID_SCHEMA,
    param_tables,
    read_overrides,
    read_valid_procedures,
)
from yibao.dip.policy import DipPolicy, DipPolicyError, canonical_json
from yibao.engine.csvfile import csv_bytes
from yibao.engine.excel import table_sheet, write_workbook
from yibao.engine.runner import query_arrow, run_final
from yibao.engine.select import runner_for

CATALOGUE_ZH = {
    "group_id": "病种编码", "kind": "病种类型", "dx_cat": "诊断类目", "dx_sub": "诊断亚目", "combo": "手术操作组合",
    "tier": "操作层级", "cases": "病例数", "cases_kept": "计入均值病例数", "avg_cost": "病种平均费用（元）",
    "score": "病种分值", "primary_care": "基层病种", "reference_cost": "全部病例平均费用（元）",
}
SCORED_COLUMNS = ("case_id", "institution_id", "group_id", "group_kind", "score", "ratio", "deviation",
                  "coefficient", "points", "status", "reason", "year", "total_cost", "avg_cost", "case_score",
                  "formula_points", "primary_care", "review_rank")
REVIEW_COLUMNS = ("case_id", "institution_id", "group_id", "total_cost", "avg_cost", "ratio", "formula_points",
                  "review_rank", "final_score")


class DipError(DipPolicyError):
    """A problem with a workspace, catalogue or review file (one line naming the file)."""


def parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue().to_pybytes()


def _sources_from_workspace(workspace: Path, engine: str, names: tuple[str, ...]):
    """(sources for the runner, a runner, a closer); DuckDB reads the workspace tables in place."""
    from yibao.contract.schema import TABLES
    from yibao.engine.workspace import Workspace

    if not (Path(workspace) / "yibao.duckdb").exists():
        raise DipError(str(workspace), "不是 yibao 工作区（缺少 yibao.duckdb），请先运行 yibao load")
    ws = Workspace(workspace, read_only=True)
    if engine == "duckdb":
        db = ws.con.execute("SELECT current_database()").fetchall()[0][0]
        return {n: f'"{db}".main.{n}' for n in names}, runner_for("duckdb", con=ws.con), ws
    try:
        src = {n: query_arrow(ws.con, f"SELECT * FROM main.{n}").cast(TABLES[n].arrow_schema()) for n in names}
    finally:
        ws.close()
    return src, runner_for(engine), None


def history_years(workspace: Path, policy: DipPolicy, settle_year: int | None = None) -> tuple[list[int], int]:
    """(history years, settlement year). The policy's ``catalogue.years`` when given; else the discharge years of
    inpatient cases **before the settlement year** — ``settle_year``, or the latest discharge year in the data
    (the year still to be settled) — at most ``len(year_weights)`` of them, the latest ones (DIP 技术规范:
    以近三年历史病例为基础: history, not the year being paid)."""
    from yibao.engine.workspace import Workspace

    with Workspace(workspace, read_only=True) as ws:
        years = [r[0] for r in ws.con.execute(
            "SELECT DISTINCT CAST(year(discharge_date) AS INTEGER) FROM main.cases WHERE setting = 'inpatient' "
            "AND discharge_date IS NOT NULL ORDER BY 1").fetchall()]
    if not years:
        raise DipError(str(workspace), "工作区没有住院结算清单，无法生成病种目录库")
    target = settle_year if settle_year is not None else years[-1]
    if policy.years:
        return list(policy.years), target
    before = [y for y in years if y < target]
    if not before:
        raise DipError(str(workspace), f"结算年度 {target} 之前没有住院病例（出院年度 {years}），无法由历史年度生成目录库；"
                                       "请用 --year 指定结算年度，或在政策文件中给出 catalogue.years")
    return before[-len(policy.year_weights):], target


@dataclass
class Catalogue:
    version: str
    table: pa.Table
    threshold: dict
    manifest: dict


def build_tables(sources: dict, runner, policy: DipPolicy, years: list[int], rules: pa.Table,
                 valid: pa.Table) -> dict[str, pa.Table]:
    src = {**sources, "dip_proc_rules": rules, "dip_proc_valid": valid, **param_tables(policy, years)}
    return runner.run_pipeline(DIP_CATALOGUE, src)


def build(workspace: Path, policy: DipPolicy, out_dir: Path, standards: Path | None = None,
          engine: str = "duckdb", settle_year: int | None = None) -> Catalogue:
    """The catalogue from the history years (:func:`history_years`); without ``catalogue.years`` in the policy the
    years before the settlement year, with the newest of ``year_weights`` (two years of ``1, 2, 7``: ``2, 7``)."""
    years, target = history_years(workspace, policy, settle_year)
    if not policy.years:
        policy = replace(policy, year_weights=tuple(policy.year_weights[-len(years):]))
    rules, valid = read_overrides(), read_valid_procedures(standards)
    sources, runner, ws = _sources_from_workspace(workspace, engine, ("cases",))
    try:
        out = build_tables(sources, runner, policy, years, rules, valid)
    finally:
        if ws is not None:
            ws.close()
    return write_catalogue(out, policy, years, rules, valid, out_dir,
                           {"settle_year": target, "years_from": "policy" if policy.years else "before_settle_year"},
                           names=code_names(find_standards(standards)))


def catalogue_year_warning(version: str, years, settle_year: int | None) -> str | None:
    """A warning when a catalogue's history years include the year being settled (its scores would come from the
    very cases they pay)."""
    years = [int(y) for y in years or []]
    if settle_year is None or settle_year not in years:
        return None
    return (f"注意：病种目录库 {version} 的历史年度 {'、'.join(map(str, years))} 包含结算年度 {settle_year}："
            f"分值由待结算年度自身的病例得出；DIP 技术规范以结算年度之前的历史病例为基础，"
            f"请用 {settle_year} 年之前的年度重建目录库（yibao dip build，catalogue.years）")


def write_catalogue(out: dict[str, pa.Table], policy: DipPolicy, years: list[int], rules: pa.Table,
                    valid: pa.Table, out_dir: Path, extra: dict | None = None,
                    names: "CodeNames | None" = None) -> Catalogue:
    """``extra``: manifest entries outside the version hash (the settlement year the history was chosen for)."""
    cat = out["dip_catalogue"]
    th = out["dip_threshold"].to_pylist()[0]
    keys = out["dip_case_keys"]
    in_years = pa.compute.is_in(keys.column("year"), pa.array(years, pa.int32()))
    hist = keys.filter(in_years)
    reasons: dict[str, int] = {}
    for r in hist.filter(pa.compute.equal(hist.column("status"), "ungroupable")).column("reason").to_pylist():
        reasons[r] = reasons.get(r, 0) + 1
    files = {
        "catalogue.csv": csv_bytes(cat),
        "catalogue.parquet": parquet_bytes(cat),
        "procedure_overrides.csv": csv_bytes(rules),
        "valid_procedures.csv": csv_bytes(valid),
    }
    params = {**policy.catalogue_params(), "years": years}
    digest = hashlib.sha256()
    for name in ("catalogue.csv", "procedure_overrides.csv", "valid_procedures.csv"):
        digest.update(name.encode() + b"\0" + files[name] + b"\0")
    digest.update(canonical_json(params).encode())
    version = "DIP-" + digest.hexdigest()[:12]
    kinds = {k: sum(1 for x in cat.column("kind").to_pylist() if x == k) for k in ("core", "comprehensive")}
    manifest = {
        "version": version,
        "parameters": params,
        "threshold": {k: (str(v) if isinstance(v, Decimal) else v) for k, v in th.items()},
        "groups": {"core": kinds["core"], "comprehensive": kinds["comprehensive"], "total": cat.num_rows},
        "primary_care_groups_found": sorted(g for g, p in zip(cat.column("group_id").to_pylist(),
                                                              cat.column("primary_care").to_pylist()) if p),
        "reference_cost": str(cat.column("reference_cost")[0].as_py()) if cat.num_rows else None,
        "history_cases": {"inpatient": hist.num_rows, "grouped": hist.num_rows - sum(reasons.values()),
                          "ungroupable": dict(sorted(reasons.items()))},
        "rounding": "四舍五入 ROUND_HALF_UP",
        "files": {n: hashlib.sha256(b).hexdigest() for n, b in sorted(files.items())},
        **(extra or {}),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    for n, b in files.items():
        (out_dir / n).write_bytes(b)
    (out_dir / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True) + "\n",
                                           encoding="utf-8")
    _workbook(cat, manifest, out_dir / "catalogue.xlsx", names)
    return Catalogue(version, cat, th, manifest)


@dataclass(frozen=True)
class CodeNames:
    """Diagnosis and procedure names of a CHS-DRG standards directory (display only, never in the version)."""

    dx: dict[str, str]
    proc: dict[str, str]

    def diagnosis(self, dx_sub: str | None) -> str:
        """The name of a five-character subcategory (``K80.1``, ``C61.X``): its ``.x00`` code, else its first
        code (codes compared without case: the dictionary writes ``C61.x00``)."""
        if not dx_sub:
            return ""
        sub = dx_sub.lower()
        for code in (f"{sub}00", f"{sub}00x001", sub):
            if code in self.dx:
                return self.dx[code]
        first = next((c for c in sorted(self.dx) if c.startswith(sub)), None)
        return self.dx[first] if first else ""

    def group(self, group_id: str | None) -> str:
        """A group's name: a core group ``K80.1|51.2300`` → diagnosis name：procedure names; a
        comprehensive group ``K80#surgical`` → ``K80 类目·手术（综合病种）`` (the dictionaries name codes,
        not ICD-10 categories)."""
        if not group_id:
            return ""
        if "|" in group_id:
            sub, combo = group_id.split("|", 1)
            procs = self.procedures(combo)
            return self.diagnosis(sub) + (f"：{procs}" if procs else "")
        cat, _, tier = group_id.partition("#")
        return f"{cat} 类目{('·' + TIER_ZH[tier]) if tier in TIER_ZH else ''}（综合病种）"

    def procedures(self, combo: str | None) -> str:
        if not combo or combo == "-":
            return ""
        return "＋".join(self.proc.get(c.lower(), c) for c in combo.split("+"))


def code_names(standards: Path | None) -> CodeNames | None:
    """The names of ``diagnoses.csv`` and ``procedures.csv`` in a standards directory (None without one)."""
    if standards is None:
        return None
    out = []
    for name in ("diagnoses.csv", "procedures.csv"):
        path = Path(standards) / name
        if not path.is_file():
            return None
        with path.open(encoding="utf-8-sig", newline="") as f:
            out.append({r["code"].strip().lower(): r["name"].strip() for r in csv.DictReader(f) if r.get("code")})
    return CodeNames(*out)


CATALOGUE_SHEET = (
    ("group_id", "病种编码", "code"), ("kind", "病种类型", "text"), ("dx_cat", "诊断类目", "code"),
    ("dx_sub", "诊断亚目", "code"), ("dx_name", "诊断名称", "text"), ("combo", "手术操作组合", "code"),
    ("combo_name", "手术操作名称", "text"), ("tier", "操作层级", "text"), ("cases", "病例数", "count"),
    ("cases_kept", "计入均值病例数", "count"), ("avg_cost", "病种平均费用（元）", "money"), ("score", "病种分值", "score"),
    ("primary_care", "基层病种", "bool"), ("reference_cost", "全部病例平均费用（元）", "money"),
)


def _workbook(cat: pa.Table, manifest: dict, path: Path, names: CodeNames | None = None) -> None:
    rows = []
    for r in cat.to_pylist():
        rows.append({
            **r, "kind": KIND_ZH.get(r["kind"], r["kind"]),
            "combo": None if r["combo"] is None else ("无" if r["combo"] == "-" else r["combo"]),
            "tier": TIER_ZH.get(r["tier"], "") if r["tier"] else None,
            "dx_name": names.diagnosis(r["dx_sub"]) if names else None,
            "combo_name": names.procedures(r["combo"]) if names else None,
        })
    th = manifest["threshold"]
    p = manifest["parameters"]
    notes = [
        f"DIP 病种目录库 {manifest['version']}",
        (f"年度 {p['years']}，权重 {':'.join(p['year_weights'])}；核心病种病例数临界值 {th['core_min_cases']}"
         f"（{'按覆盖比例 ' + p['core_share'] if th['by_share'] else '政策给定'}），核心病种覆盖病例 {th['core_share']}"),
        (f"病种分值 = 病种平均费用（剔除费用排位低于 {p['trim_lower']}、高于 {p['trim_upper']} 的病例，年度加权）"
         f" ÷ 全部病例平均费用 {manifest['reference_cost']} 元 × {p['score_base']}；四舍五入"),
        ("诊断与手术操作名称取自 CHS-DRG 分组标准的诊断、手术操作字典（仅供阅读，不影响目录库版本）" if names else
         "找不到分组标准目录（--standards 或 YIBAO_STANDARDS）：不列诊断与手术操作名称"),
    ]
    skip = () if names else ("dx_name", "combo_name")
    write_workbook(path, [table_sheet("病种目录库", CATALOGUE_SHEET, rows, notes, skip=skip)])


# --- reading a catalogue back, scoring ---------------------------------------------------------

def read_catalogue(cat_dir: Path) -> tuple[pa.Table, dict, pa.Table, pa.Table]:
    cat_dir = Path(cat_dir)
    mf = cat_dir / "manifest.json"
    if not mf.exists():
        raise DipError(str(cat_dir), "不是病种目录库目录（缺少 manifest.json），请先运行 yibao dip build")
    manifest = json.loads(mf.read_text(encoding="utf-8"))
    cat = pq.read_table(cat_dir / "catalogue.parquet")
    if hashlib.sha256((cat_dir / "catalogue.csv").read_bytes()).hexdigest() != manifest["files"]["catalogue.csv"]:
        raise DipError(str(cat_dir / "catalogue.csv"), f"与目录库版本 {manifest['version']} 的内容不符（文件被改动）")
    rules = _read_csv_table(cat_dir / "procedure_overrides.csv", RULES_SCHEMA)
    valid = _read_csv_table(cat_dir / "valid_procedures.csv", VALID_SCHEMA)
    return cat, manifest, rules, valid


def _read_csv_table(path: Path, schema: pa.Schema) -> pa.Table:
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    return pa.table({n: [r[n] for r in rows] for n in schema.names}, schema=schema)


def read_review(path: Path) -> pa.Table:
    """The reviewer's file (特例单议结果): ``case_id`` and ``final_score`` (blank = not yet decided)."""
    with Path(path).open(encoding=detect_encoding(Path(path)), newline="") as f:  # Excel saves GBK/GB18030
        reader = csv.DictReader(f)
        if not reader.fieldnames or "case_id" not in reader.fieldnames or "final_score" not in reader.fieldnames:
            raise DipError(str(path), "特例单议文件应有 case_id 与 final_score 两列")
        ids, scores, seen = [], [], set()
        for line, r in enumerate(reader, start=2):
            text = (r["final_score"] or "").strip()
            if not text:
                continue
            try:
                d = Decimal(text)
            except InvalidOperation:
                raise DipError(str(path), f"第 {line} 行 final_score 不是数字：{text!r}") from None
            if not d.is_finite() or d < 0 or d != d.quantize(Decimal("0.0001")):
                raise DipError(str(path), f"第 {line} 行 final_score 应为 ≥ 0、至多 4 位小数的数：{text!r}")
            cid = r["case_id"].strip()
            if cid in seen:
                raise DipError(str(path), f"第 {line} 行 case_id {cid} 重复")
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
    sources, runner, ws = _sources_from_workspace(workspace, engine, ("cases", "institutions"))
    if year is not None:  # the period scored (and the base of the review cap): cases discharged in ``year``
        cases = sources["cases"]
        if isinstance(cases, str):
            sources["cases"] = f"(SELECT * FROM {cases} WHERE year(discharge_date) = {int(year)})"
        else:
            years = pa.compute.year(cases.column("discharge_date"))
            sources["cases"] = cases.filter(pa.compute.equal(years, int(year)))
    try:
        result = score_tables(sources, runner, policy, cat, rules, valid, rev, final=True)["dip_case_points"]
    finally:
        if ws is not None:
            ws.close()
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
