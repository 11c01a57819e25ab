"""The DIP catalogue (病种目录库): built from the history's inpatient stays, saved, and read back.

The registered pipeline ``dip_catalogue``:
    ``dip_case_keys`` (rowwise, :mod:`yibao.dip.keys`) → ``dip_combo_counts`` (partitioned by ``dx_cat``) →
    ``dip_threshold`` (global, one row) → ``dip_core_keys`` (global, the core combinations) →
    ``dip_group_cases`` → ``dip_groups`` → ``dip_group_year`` (partitioned: every group lies inside one ICD-10
    category) → ``dip_relative`` → ``dip_catalogue`` (global over the group × year aggregate).

A catalogue directory holds::

    catalogue.csv / .parquet / .xlsx   the groups (病种): key, kind, cases, average cost, score
    manifest.json                      version (content hash), parameters, threshold, counts
    procedure_overrides.csv            the classification overrides used (prefix → class)
    valid_procedures.csv               operating-room codes used (empty without a standards dir)

Everything is written deterministically (no dates, sorted rows, fixed workbook times), so the
same history and parameters give byte-identical files and the same version. Money is DECIMAL(18,2),
scores DECIMAL(18,4); every division goes through :func:`yibao.engine.sqlmoney.div_round` (exact,
四舍五入 ROUND_HALF_UP).
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.compute
import pyarrow.parquet as pq

from yibao.contract.standards import find_standards
from yibao.dip.errors import BadFile, MissingData, at
from yibao.dip.inputs import workspace_sources
from yibao.dip.keys import KEY_CTES, KEY_JOIN
from yibao.dip.labels import GROUP_KIND_ZH, TIER_ZH
from yibao.dip.policy import DipPolicy, canonical_json
from yibao.dip.tables import (
    MONEY,
    RULES_SCHEMA,
    SCORE,
    SETTLE_FIELDS,
    VALID_SCHEMA,
    param_tables,
    read_overrides,
    read_valid_procedures,
)
from yibao.engine.csvfile import csv_bytes
from yibao.engine.excel import table_sheet, write_workbook
from yibao.engine.runner import Pipeline, Step
from yibao.engine.sqlmoney import div_round
from yibao.engine.workspace import Workspace
from yibao.settle.relative import group_year_step, relative_step

__all__ = ["DIP_CATALOGUE", "Catalogue", "CodeNames", "build", "build_tables", "write_catalogue", "read_catalogue",
           "history_years", "catalogue_year_warning", "code_names", "parquet_bytes"]

# --- the pipeline ------------------------------------------------------------------------------

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
DIP_CATALOGUE = Pipeline(
    name="dip_catalogue",
    steps=(CASE_KEYS, COMBO_COUNTS, THRESHOLD, CORE_KEYS, GROUP_CASES, GROUPS, GROUP_YEAR, RELATIVE, CATALOGUE),
    doc="DIP 目录库：由历史住院病例生成核心病种、综合病种及其分值",
)


# --- building and writing ----------------------------------------------------------------------

def parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue().to_pybytes()



def history_years(workspace: Path, policy: DipPolicy, settle_year: int | None = None) -> tuple[list[int], int]:
    """(history years, settlement year). The policy's ``catalogue.years`` when given; else the discharge years of
    inpatient cases **before the settlement year** — ``settle_year``, or the latest discharge year in the data
    (the year still to be settled) — at most ``len(year_weights)`` of them, the latest ones (DIP 技术规范:
    以近三年历史病例为基础: history, not the year being paid)."""
    with Workspace(workspace, read_only=True) as ws:
        years = [r[0] for r in ws.con.execute(
            "SELECT DISTINCT CAST(year(discharge_date) AS INTEGER) FROM main.cases WHERE setting = 'inpatient' "
            "AND discharge_date IS NOT NULL ORDER BY 1").fetchall()]
    if not years:
        raise MissingData(at(workspace, "工作区没有住院结算清单，无法生成病种目录库"))
    target = settle_year if settle_year is not None else years[-1]
    if policy.years:
        return list(policy.years), target
    before = [y for y in years if y < target]
    if not before:
        raise MissingData(at(workspace, f"结算年度 {target} 之前没有住院病例（出院年度 {years}），无法由历史年度生成目录库；"
                                        "请用 --year 指定结算年度，或在政策文件中给出 catalogue.years"))
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
    with workspace_sources(workspace, ("cases",), engine) as (sources, runner):
        out = build_tables(sources, runner, policy, years, rules, valid)
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
            **r, "kind": GROUP_KIND_ZH.get(r["kind"], r["kind"]),
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



def read_catalogue(cat_dir: Path) -> tuple[pa.Table, dict, pa.Table, pa.Table]:
    cat_dir = Path(cat_dir)
    mf = cat_dir / "manifest.json"
    if not mf.exists():
        raise MissingData(at(cat_dir, "不是病种目录库目录（缺少 manifest.json），请先运行 yibao dip build"))
    manifest = json.loads(mf.read_text(encoding="utf-8"))
    cat = pq.read_table(cat_dir / "catalogue.parquet")
    if hashlib.sha256((cat_dir / "catalogue.csv").read_bytes()).hexdigest() != manifest["files"]["catalogue.csv"]:
        raise BadFile(at(cat_dir / "catalogue.csv", f"与目录库版本 {manifest['version']} 的内容不符（文件被改动）"))
    rules = _read_csv_table(cat_dir / "procedure_overrides.csv", RULES_SCHEMA)
    valid = _read_csv_table(cat_dir / "valid_procedures.csv", VALID_SCHEMA)
    return cat, manifest, rules, valid


def _read_csv_table(path: Path, schema: pa.Schema) -> pa.Table:
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    return pa.table({n: [r[n] for r in rows] for n in schema.names}, schema=schema)


