"""Versions of CHS-DRG side by side (分组版本管理): what a version holds, what changed between two, and
what a switch does to a region's cases.

A city that moves from one version to another (1.1 → its own subdivision, 1.1 → 2.0) asks three
things, each answered from the tables alone (never from a version's name):

- :func:`describe` — the version id, the counts, and which kinds of conditions and rules it uses
  (``yibao standards show DIR``);
- :func:`diff` — the MDCs, ADRGs and DRGs added, removed or changed in their rules and code lists
  (``yibao standards diff A B``);
- :func:`impact` — the same cases grouped under both: how many move, from which DRG to which, and,
  with a weight table for each version, the change in total weight per institution
  (``yibao standards impact A B``).
"""

from __future__ import annotations

import re
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from yibao.contract.errors import BadOption
from yibao.drg.grouper import group_table
from yibao.drg.payment import SCORE
from yibao.engine.runner import query_arrow
from yibao.engine.workspace import Workspace

_LIST = re.compile(r"\b(dx|proc)\.[A-Za-z0-9_]+")
_NUMBER = re.compile(r"-?\b[0-9]+(\.[0-9]+)?\b")


def atom_kind(atom: str) -> str:
    """An atom's kind: its text with list names and numbers abstracted (``PDX in dx.main`` → ``PDX in dx.L``,
    ``LOS >= 13`` → ``LOS >= n``, ``PROC_GROUPS(1&2|3)`` → ``PROC_GROUPS(expr)``)."""
    if atom.startswith("PROC_GROUPS("):
        return "PROC_GROUPS(expr)"
    return _NUMBER.sub("n", _LIST.sub(lambda m: f"{m.group(1)}.L", atom))


def describe(std) -> dict:
    """Version id, counts, condition and rule kinds of a loaded standards set."""
    atoms: Counter = Counter()
    for m in std.mdcs:
        atoms.update(atom_kind(a) for a in m.condition.atoms)
    for a in std.adrgs.values():
        for c in a.alternatives:
            atoms.update(atom_kind(x) for x in c.atoms)
    rule_atoms: Counter = Counter()
    for a in std.adrgs.values():
        for r in a.rules:
            rule_atoms.update(atom_kind(x) for x in r.condition.atoms)
    kinds = Counter(r.kind for a in std.adrgs.values() for r in a.rules)
    return {
        "version": std.version, "short_version": std.short_version, "source": std.source,
        "counts": {
            "mdcs": len(std.mdcs), "adrgs": len(std.adrgs),
            "adrgs_with_alternatives": sum(1 for a in std.adrgs.values() if len(a.alternatives) > 1),
            "drgs": sum(len(a.rules) for a in std.adrgs.values()),
            "diagnosis_codes": len(std.dx_names), "procedure_codes": len(std.proc_names),
            "mcc": len(std.mcc), "cc": len(std.cc), "cc_exclusions": len(std.cc_exclusions),
            "valid_procedures": len(std.valid_procedures),
        },
        "condition_atoms": dict(sorted(atoms.items())),
        "rule_kinds": dict(sorted(kinds.items())),
        "rule_atoms": dict(sorted(rule_atoms.items())),
        "rule_variables": sorted(std.rule_variables),
        "skipped_rows": [{"file": f, "line": n, "value": v, "why": w} for f, n, v, w in std.skipped],
    }


def _lists(std, code: str) -> dict[str, frozenset[str]]:
    out = {f"dx.{k}": v for k, v in std.adrg_dx.get(code, {}).items()}
    out.update({f"proc.{k}": v for k, v in std.adrg_proc.get(code, {}).items()})
    return out


def diff(a, b) -> list[dict]:
    """What changed from version ``a`` to ``b``: one row per change, ``level`` (mdc, adrg, drg), ``code``,
    ``change`` (added, removed, changed) and a Chinese ``detail`` naming what differs."""
    rows: list[dict] = []

    def add(level: str, code: str, change: str, detail: str) -> None:
        rows.append({"level": level, "code": code, "change": change, "detail": detail})

    ma, mb = a.mdc_by_code, b.mdc_by_code
    for code in sorted(ma.keys() | mb.keys()):
        if code not in mb:
            add("mdc", code, "removed", "")
        elif code not in ma:
            add("mdc", code, "added", mb[code].condition.text)
        else:
            d = []
            if ma[code].order != mb[code].order:
                d.append(f"顺序 {ma[code].order} → {mb[code].order}")
            if ma[code].condition.text != mb[code].condition.text:
                d.append(f"入组条件 {ma[code].condition.text} → {mb[code].condition.text}")
            la = {c for c, ms in a.mdc_dx.items() if code in ms}
            lb = {c for c, ms in b.mdc_dx.items() if code in ms}
            if la != lb:
                d.append(f"主要诊断列表 +{len(lb - la)} −{len(la - lb)}")
            if d:
                add("mdc", code, "changed", "；".join(d))
    aa, ab = a.adrgs, b.adrgs
    for code in sorted(aa.keys() | ab.keys()):
        if code not in ab:
            add("adrg", code, "removed", aa[code].text)
            continue
        if code not in aa:
            add("adrg", code, "added", ab[code].text)
            continue
        x, y = aa[code], ab[code]
        d = []
        if x.mdc != y.mdc:
            d.append(f"MDC {x.mdc} → {y.mdc}")
        if x.order_in_mdc != y.order_in_mdc:
            d.append(f"MDC 内顺序 {x.order_in_mdc} → {y.order_in_mdc}")
        if x.text != y.text:
            d.append(f"条件 {x.text} → {y.text}")
        lx, ly = _lists(a, code), _lists(b, code)
        for name in sorted(lx.keys() | ly.keys()):
            s, t = lx.get(name, frozenset()), ly.get(name, frozenset())
            if s != t:
                d.append(f"列表 {name} +{len(t - s)} −{len(s - t)}")
        if [r.drg for r in x.rules] != [r.drg for r in y.rules]:
            d.append(f"DRG {'、'.join(r.drg for r in x.rules)} → {'、'.join(r.drg for r in y.rules)}")
        if d:
            add("adrg", code, "changed", "；".join(d))
    ra = {r.drg: r for v in aa.values() for r in v.rules}
    rb = {r.drg: r for v in ab.values() for r in v.rules}
    for code in sorted(ra.keys() | rb.keys()):
        if code not in rb:
            add("drg", code, "removed", ra[code].name)
        elif code not in ra:
            add("drg", code, "added", f"{rb[code].name}（{rb[code].condition.text}）")
        else:
            x, y = ra[code], rb[code]
            d = []
            if x.adrg != y.adrg:
                d.append(f"ADRG {x.adrg} → {y.adrg}")
            if x.order != y.order:
                d.append(f"ADRG 内顺序 {x.order} → {y.order}")
            if x.condition.text != y.condition.text:
                d.append(f"规则 {x.condition.text} → {y.condition.text}")
            if x.name != y.name:
                d.append(f"名称 {x.name} → {y.name}")
            if d:
                add("drg", code, "changed", "；".join(d))
    return rows


IMPACT_CASE_SCHEMA = pa.schema([
    ("case_id", pa.string()), ("institution_id", pa.string()),
    ("status_a", pa.string()), ("drg_a", pa.string()), ("status_b", pa.string()), ("drg_b", pa.string()),
    ("moved", pa.bool_()), ("weight_a", SCORE), ("weight_b", SCORE),
])


def _weights_of(weights) -> dict[str, Decimal]:
    return {} if weights is None else {d: w.weight for d, w in weights.rows.items() if w.weight is not None}


def impact(cases: pa.Table, a, b, weights_a=None, weights_b=None) -> dict[str, pa.Table]:
    """Group ``cases`` (a cases table; ``institution_id`` used when present) under versions ``a`` and ``b``.

    Returns ``cases`` (per case: both groupings, moved or not, the weights — RW of its DRG in each
    version's official table, blank without one), ``moves`` (from DRG → to DRG with the number of cases,
    moved pairs only, most first) and ``institutions`` (cases, moved, total weight under each version whose
    table is given, and the change when both are). Grouping is the set-based grouper; the joins are
    whole-column."""
    ga, gb = group_table(cases, a), group_table(cases, b)  # both sorted by case_id, the same cases
    inst = cases.select(["case_id", "institution_id"]) if "institution_id" in cases.column_names else \
        pa.table({"case_id": cases.column("case_id"), "institution_id": pa.nulls(cases.num_rows, pa.string())})
    inst = inst.sort_by("case_id")
    inst = inst.take(pc.index_in(ga.column("case_id"), value_set=inst.column("case_id")))

    def label(g: pa.Table) -> pa.ChunkedArray:  # the DRG, or the status where the case got none
        return pc.if_else(pc.is_valid(g.column("drg")), g.column("drg"),
                          pc.binary_join_element_wise("(", g.column("status"), ")", ""))

    da, db = label(ga), label(gb)
    moved = pc.not_equal(da, db)

    def weights(g: pa.Table, w) -> pa.Array:
        table = _weights_of(w)
        keys = pa.array(list(table), pa.string())
        vals = pa.array(list(table.values()), SCORE)
        return pc.take(vals, pc.index_in(g.column("drg"), value_set=keys))

    per_case = pa.table({
        "case_id": ga.column("case_id"), "institution_id": inst.column("institution_id"),
        "status_a": ga.column("status"), "drg_a": ga.column("drg"),
        "status_b": gb.column("status"), "drg_b": gb.column("drg"), "moved": moved,
        "weight_a": weights(ga, weights_a), "weight_b": weights(gb, weights_b),
    }, schema=IMPACT_CASE_SCHEMA)
    moves = (pa.table({"from": da, "to": db, "moved": moved}).filter(pc.field("moved"))
             .group_by(["from", "to"]).aggregate([("moved", "count")])
             .rename_columns(["from", "to", "cases"]))
    moves = moves.sort_by([("cases", "descending"), ("from", "ascending"), ("to", "ascending")])
    both = weights_a is not None and weights_b is not None
    has_a, has_b = weights_a is not None, weights_b is not None
    agg = per_case.group_by("institution_id").aggregate(
        [("case_id", "count"), ("moved", "sum"), ("weight_a", "sum"), ("weight_b", "sum")])
    rows = []
    for r in sorted(agg.to_pylist(), key=lambda r: (r["institution_id"] is None, r["institution_id"] or "")):
        wa, wb = r["weight_a_sum"], r["weight_b_sum"]
        rows.append({"institution_id": r["institution_id"], "cases": r["case_id_count"],
                     "moved": int(r["moved_sum"] or 0),
                     "weight_a": (wa or Decimal(0)) if has_a else None, "weight_b": (wb or Decimal(0)) if has_b else None,
                     "weight_change": ((wb or Decimal(0)) - (wa or Decimal(0))) if both else None})
    institutions = pa.Table.from_pylist(rows, schema=pa.schema([
        ("institution_id", pa.string()), ("cases", pa.int64()), ("moved", pa.int64()),
        ("weight_a", SCORE), ("weight_b", SCORE),
        ("weight_change", SCORE)]))
    return {"cases": per_case, "moves": moves, "institutions": institutions}


def workspace_cases(workspace: Path | str, year: int | None = None) -> pa.Table:
    """The workspace's inpatient cases (only those settled in ``year`` when given), by ``case_id``: what
    ``yibao standards impact --workspace`` groups under both versions."""
    workspace = Path(workspace)
    if not (workspace / "yibao.duckdb").exists():
        raise BadOption(f"{workspace}：不是 yibao 工作区（缺少 yibao.duckdb），请先运行 yibao load")
    ws = Workspace(workspace, read_only=True)
    try:
        where = "setting = 'inpatient'" + (f" AND year(settle_date) = {int(year)}" if year else "")
        return query_arrow(ws.con, f"SELECT * FROM cases WHERE {where} ORDER BY case_id")
    finally:
        ws.close()
