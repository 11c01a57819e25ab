"""Group one case, with the reasons (单病例分组与解释): the hospital coder's "why did this case
land here?".

:func:`group_one` walks the same tables the set-based grouper joins against, in the algorithm's
order, and records each decision in a trail: the pre-checks, every MDC the principal diagnosis
could belong to (entered or not, and why), the ADRGs tried in the entered MDC (the one that
matched, with the evidence of each term of its condition), and the complication level — which
secondary diagnoses counted as MCC or CC, and which were excluded by the principal diagnosis's
exclusion table (with the rows of ``mcc.csv`` / ``cc.csv`` / ``cc_exclusions.csv``).

It is slower than :func:`yibao.drg.grouper.group_table` (plain Python per case) and must give
the same status / MDC / ADRG / DRG; the tests check both on the reference sample.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Mapping

from yibao.drg import conditions as cond
from yibao.drg import fields
from yibao.drg.conditions import VAR_ZH, Bound, Condition
from yibao.drg.labels import CC_LEVEL_ZH, STATUS_ZH, WARNINGS_ZH
from yibao.drg.mapping import map_case
from yibao.drg.standards import Adrg, Mdc, Standards


@dataclass(frozen=True)
class TrailStep:
    """One decision of the trail: ``stage`` (precheck, mdc, adrg, drg, complication, result),
    the rule it concerns (``MDCA``, ``GB1``, ``GB11``, ``mcc.csv:412``…), whether it held, and why."""

    stage: str
    rule: str
    held: bool
    detail: str


@dataclass(frozen=True)
class Complication:
    """A secondary diagnosis found in the MCC or CC list, counted or excluded."""

    code: str
    kind: str                 # mcc | cc
    exclusion_table: int
    row: int | None           # its line in mcc.csv / cc.csv
    excluded: bool
    exclusion_row: int | None  # the principal diagnosis's line in cc_exclusions.csv, when excluded


@dataclass
class GroupResult:
    case_id: str | None
    status: str
    mdc: str | None = None
    adrg: str | None = None
    drg: str | None = None
    drg_name: str | None = None
    mdc_name: str | None = None
    adrg_name: str | None = None
    cc_level: str | None = None
    warnings: tuple[str, ...] = ()
    standards_version: str = ""
    trail: list[TrailStep] = field(default_factory=list)
    complications: list[Complication] = field(default_factory=list)

    @property
    def status_zh(self) -> str:
        return STATUS_ZH.get(self.status, self.status)

    def as_row(self) -> dict[str, Any]:
        """The contract's output row plus the extra columns of the set-based grouper."""
        return {"case_id": self.case_id, "status": self.status, "mdc": self.mdc, "adrg": self.adrg,
                "drg": self.drg, "cc_level": self.cc_level, "warnings": "|".join(self.warnings) or None,
                "standards_version": self.standards_version}

    def explain(self) -> str:
        """The trail as Chinese text, one decision a line."""
        head = f"病例 {self.case_id}：{self.status_zh}"
        if self.mdc:
            head += (f" → MDC{self.mdc} {self.mdc_name or ''}".rstrip() + f" / {self.adrg} {self.adrg_name or ''}".rstrip()
                     + (f" / {self.drg} {self.drg_name or ''}".rstrip() if self.drg else ""))
        lines = [head, f"分组标准版本 {self.standards_version[:12]}"]
        for s in self.trail:
            mark = "✓" if s.held else "✗"
            lines.append(f"  [{s.stage}] {mark} {s.rule}：{s.detail}")
        for w in self.warnings:
            lines.append(f"  [warning] {w}：{WARNINGS_ZH.get(w, w)}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- input


@dataclass(frozen=True)
class Case:
    case_id: str | None
    sex_text: str | None
    sex: float | None
    age_years: float | None
    age_days: float | None
    weight: float | None
    pdx: str | None
    sdx: tuple[str, ...]
    procs: tuple[str, ...]
    los: float | None = None  # length of stay in days: discharge − admission (a same-day stay 0)

    @property
    def all_dx(self) -> tuple[str, ...]:
        return ((self.pdx,) if self.pdx else ()) + self.sdx

    def value(self, var: str) -> float | None:
        return {"SEX": self.sex, "AGE_YEARS": self.age_years, "AGE_DAYS": self.age_days, "WEIGHT": self.weight,
                "LOS": self.los}[var]


def to_case(case: Mapping[str, Any]) -> Case:
    sex_text = fields.text(case.get("sex"))
    return Case(
        case_id=fields.text(case.get("case_id")), sex_text=sex_text,
        sex=float(sex_text) if sex_text in ("1", "2") else None,
        age_years=fields.number(case.get("age_years")), age_days=fields.number(case.get("newborn_age_days")),
        weight=fields.number(case.get("newborn_weight_g")),
        pdx=fields.text(case.get("principal_dx")), sdx=fields.codes(case.get("secondary_dx")),
        procs=fields.codes(case.get("procedures")), los=fields.los_of(case),
    )


# --------------------------------------------------------------------------- conditions


@lru_cache(maxsize=4096)
def _atom(text: str, where: str) -> Condition:
    return cond.parse(text, where=where)


def _bound_text(b: Bound) -> str:
    parts = []
    if b.nonzero:
        parts.append("非空且不为 0")
    elif b.known:
        parts.append("非空")
    if b.lo is not None and b.lo == b.hi and not b.lo_strict and not b.hi_strict:
        return f"= {b.lo:g}"
    if b.lo is not None:
        parts.append(f"{'>' if b.lo_strict else '≥'} {b.lo:g}")
    if b.hi is not None:
        parts.append(f"{'<' if b.hi_strict else '≤'} {b.hi:g}")
    return "，".join(parts)


def _check_atom(std: Standards, text: str, where: str, case: Case, mdc: Mdc | None, adrg: Adrg | None
                ) -> tuple[bool, str]:
    """Whether one atom holds for the case, and the evidence in Chinese."""
    a = _atom(text, where)
    procs, pproc = case.procs, (case.procs[0] if case.procs else None)
    valid = std.valid_procedures
    if text == "TRUE":
        return True, "无条件"
    if a.has_proc:
        return bool(procs), f"有手术操作（{len(procs)} 个）" if procs else "没有手术操作"
    if a.pdx_mdc_list:
        ok = mdc is not None and mdc.code in std.mdc_dx.get(case.pdx or "", ())
        return ok, f"主要诊断 {case.pdx} {'在' if ok else '不在'} MDC{mdc.code if mdc else ''} 的主要诊断列表中"
    if a.pproc_valid:
        ok = pproc is not None and pproc in valid
        return ok, f"主要手术操作 {pproc} {'是' if ok else '不是'}有效手术（valid_procedures.csv）" if pproc \
            else "没有主要手术操作"
    if a.any_proc_valid or a.no_proc_valid:
        hits = [p for p in procs if p in valid]
        if a.any_proc_valid:
            return bool(hits), f"有效手术：{'、'.join(hits)}" if hits else "没有有效手术"
        return not hits, f"有有效手术 {'、'.join(hits)}" if hits else "没有任何有效手术"
    if a.trauma_min is not None:
        regions = sorted({std.trauma_regions[d] for d in case.all_dx if d in std.trauma_regions})
        ok = len(regions) >= a.trauma_min
        return ok, f"创伤部位 {len(regions)} 个（{'、'.join(regions) or '无'}），需要至少 {a.trauma_min} 个"
    if a.dx_lists:
        role, lst = a.dx_lists[0]
        codes = std.adrg_dx.get(adrg.code, {}).get(lst, frozenset()) if adrg else frozenset()
        if role == "PDX":
            ok = case.pdx in codes
            return ok, f"主要诊断 {case.pdx} {'在' if ok else '不在'} {adrg.code} 的诊断列表 {lst} 中"
        if role == "ANY_SDX":
            hits = list(dict.fromkeys(d for d in case.sdx if d in codes))
            return bool(hits), (f"其他诊断 {'、'.join(hits)} 在 {adrg.code} 的诊断列表 {lst} 中" if hits
                                else f"没有其他诊断在 {adrg.code} 的诊断列表 {lst} 中（主要诊断不计）")
        hits = list(dict.fromkeys(d for d in case.all_dx if d in codes))
        return bool(hits), (f"诊断 {'、'.join(hits)} 在 {adrg.code} 的诊断列表 {lst} 中" if hits
                            else f"没有诊断在 {adrg.code} 的诊断列表 {lst} 中")
    if a.proc_lists:
        role, lst = a.proc_lists[0]
        codes = std.adrg_proc.get(adrg.code, {}).get(lst, frozenset()) if adrg else frozenset()
        if role == "PPROC":
            ok = pproc is not None and pproc in codes
            return ok, (f"主要手术操作 {pproc} {'在' if ok else '不在'} {adrg.code} 的手术列表 {lst} 中" if pproc
                        else "没有主要手术操作")
        hits = list(dict.fromkeys(p for p in procs if p in codes))
        return bool(hits), (f"手术操作 {'、'.join(hits)} 在 {adrg.code} 的手术列表 {lst} 中" if hits
                            else f"没有手术操作在 {adrg.code} 的手术列表 {lst} 中")
    if a.proc_group_dnf:
        groups = std.adrg_groups.get(adrg.code, {}) if adrg else {}
        labels = {groups[p] for p in procs if p in groups}
        ok = any(conj <= labels for conj in a.proc_group_dnf)
        found = "、".join(f"{p}（组 {groups[p]}）" for p in procs if p in groups) or "无"
        return ok, f"手术组 {a.proc_groups}：病例的组 {{{','.join(sorted(labels)) or '无'}}}，组内手术 {found}"
    (var, b), = a.bounds.items()
    x = case.value(var)
    ok = b.holds(x)
    shown = "空" if x is None else f"{x:g}"
    return ok, f"{VAR_ZH[var]} {shown}，要求 {_bound_text(b)}"


def _check(std: Standards, c: Condition, where: str, case: Case, mdc: Mdc | None, adrg: Adrg | None
           ) -> tuple[bool, list[tuple[str, bool, str]]]:
    results = [(t, *_check_atom(std, t, where, case, mdc, adrg)) for t in c.atoms]
    return all(ok for _, ok, _ in results), results


def _is_list_atom(text: str) -> bool:
    a = _atom(text, "adrg") if "mdc_diagnoses" not in text else _atom(text, "mdc")
    return bool(a.dx_lists or a.proc_lists or a.proc_group_dnf)


def _summary(results: list[tuple[str, bool, str]], only_failed: bool = False) -> str:
    return "；".join(f"{'' if ok else '不满足：'}{why}" for _, ok, why in results if not (only_failed and ok))


# --------------------------------------------------------------------------- grouping


def precheck(std: Standards, case: Case) -> str | None:
    """The reference grouper's input checks, in its order; None when all pass."""
    if case.sex_text is None:
        return "missing_sex"
    if case.sex_text not in ("1", "2"):
        return "invalid_sex"
    if case.age_years is None:
        return "missing_age"
    if case.age_years == 0 and case.age_days is None:
        return "missing_age_days"
    limit = std.newborn_max_days
    if case.age_years == 0 and limit is not None and case.age_days <= limit and case.weight is None:
        return "missing_newborn_weight"
    if not case.pdx:
        return "missing_dx"
    return None


def complications(std: Standards, case: Case) -> tuple[str, list[Complication]]:
    """The case's complication level and every secondary diagnosis in the MCC / CC lists."""
    cce = std.cc_exclusions.get(case.pdx or "")
    cce_row = std.lines.get("cc_exclusions.csv", {}).get(case.pdx or "")
    found: list[Complication] = []
    for d in case.sdx:
        for kind, table, fname in (("mcc", std.mcc, "mcc.csv"), ("cc", std.cc, "cc.csv")):
            if d in table:
                excluded = cce is not None and table[d] == cce
                found.append(Complication(d, kind, table[d], std.lines.get(fname, {}).get(d), excluded,
                                          cce_row if excluded else None))
    if any(c.kind == "mcc" and not c.excluded for c in found):
        return "mcc", found
    if any(c.kind == "cc" and not c.excluded for c in found):
        return "cc", found
    return "none", found


def group_one(case: Mapping[str, Any], standards: Standards, *, map_codes: bool = False) -> GroupResult:
    """Group one case and explain every decision.

    ``case``: a mapping with the contract's ``cases`` columns (``sex``, ``age_years``,
    ``newborn_age_days``, ``newborn_weight_g``, ``principal_dx``, ``secondary_dx``,
    ``procedures``; absent = blank); lists as lists or ``|``-separated text; codes are trimmed,
    blanks dropped, exactly as ``yibao group drg`` reads a file. ``map_codes``: translate the
    codes through the standards' code maps first (:mod:`yibao.drg.mapping`)."""
    std = standards
    res = GroupResult(case_id=fields.text(case.get("case_id")), status="ungroupable", standards_version=std.short_version)
    trail = res.trail
    if map_codes:
        case, bad_map, codes = map_case(dict(case), std)
        if bad_map:
            trail.append(TrailStep("map", bad_map, False, f"{STATUS_ZH[bad_map]}：{'、'.join(codes)}"))
            res.status = bad_map
            return res
        trail.append(TrailStep("map", "codes", True, "编码已按 diagnosis_map.csv / procedure_map.csv 转换"))
    c = to_case(case)
    bad = precheck(std, c)
    if bad:
        trail.append(TrailStep("precheck", bad, False, STATUS_ZH[bad]))
        res.status = bad
        return res
    trail.append(TrailStep("precheck", "input", True, "性别、年龄、天龄、出生体重、主要诊断校验通过"))
    warnings = []
    unknown_dx = [d for d in c.sdx if d not in std.known_dx]
    if unknown_dx:
        warnings.append("unknown_secondary_dx")
        trail.append(TrailStep("precheck", "secondary_dx", False,
                               "不在分组标准中的其他诊断（不参与分组）：" + "、".join(unknown_dx)))
    unknown_procs = [p for p in c.procs if p not in std.known_proc]
    if unknown_procs:
        warnings.append("unknown_procedure")
        trail.append(TrailStep("precheck", "procedures", False,
                               "不在分组标准中的手术操作（不参与分组）：" + "、".join(unknown_procs)))
    res.warnings = tuple(warnings)

    pdx_mdcs = set(std.mdc_dx.get(c.pdx, ()))
    chosen: Adrg | None = None
    entered_any = sex_fail = age_fail = False
    for m in std.mdcs:
        relevant = m.code in pdx_mdcs or not m.condition.pdx_mdc_list
        ok, results = _check(std, m.condition, "mdc", c, m, None)
        if not ok:
            if relevant:
                trail.append(TrailStep("mdc", f"MDC{m.code}", False, f"未进入（{m.condition.text}）：{_summary(results, True)}"))
                if m.code in pdx_mdcs:
                    failed = {a for a, held, _ in results if not held}
                    sex_fail |= any(_atom(a, "mdc").bounds.keys() & {"SEX"} for a in failed)
                    age_fail |= any(_atom(a, "mdc").bounds.keys() & {"AGE_YEARS", "AGE_DAYS", "WEIGHT"} for a in failed)
            continue
        if m.code in pdx_mdcs:
            entered_any = True
        trail.append(TrailStep("mdc", f"MDC{m.code}", True, f"进入（{m.condition.text}）：{_summary(results)}"))
        tried = 0
        for a in (x for x in std.adrg_order if x.mdc == m.code):
            split = len(a.alternatives) > 1
            for k, alt in enumerate(a.alternatives, start=1):
                ok, results = _check(std, alt, "adrg", c, m, a)
                which = f"的第 {k} 个备选条件（共 {len(a.alternatives)} 个）" if split else ""
                if ok:
                    chosen = a
                    trail.append(TrailStep("adrg", a.code, True, f"第 {a.order_in_mdc} 个 ADRG{which}（{alt.text}）："
                                      f"{_summary(results)}；之前 {tried} 个 ADRG 不满足"))
                    break
                if any(held and _is_list_atom(t) for t, held, _ in results):  # a near miss: a code list matched
                    trail.append(TrailStep("adrg", a.code, False, f"第 {a.order_in_mdc} 个 ADRG{which}（{alt.text}）："
                                      f"{_summary(results)}"))
            if chosen:
                break
            tried += 1
        if chosen:
            break
        trail.append(TrailStep("adrg", f"MDC{m.code}", False, f"该 MDC 的 {tried} 个 ADRG 都不满足，放弃该 MDC，试下一个 MDC"))

    if chosen is None:
        if c.pdx not in std.known_dx:
            res.status = "invalid_dx"
        elif not pdx_mdcs:
            res.status = "unacceptable_principal_dx"
        elif entered_any:
            res.status = "ungroupable"
        elif sex_fail:
            res.status = "sex_conflict"
        elif age_fail:
            res.status = "age_conflict"
        else:
            res.status = "ungroupable"
        trail.append(TrailStep("result", res.status, False, STATUS_ZH[res.status]))
        return res

    level, found = complications(std, c)
    res.complications = found
    cce = std.cc_exclusions.get(c.pdx)
    cce_row = std.lines.get("cc_exclusions.csv", {}).get(c.pdx)
    trail.append(TrailStep("complication", f"cc_exclusions.csv:{cce_row}" if cce_row else "cc_exclusions.csv", True,
                      f"主要诊断 {c.pdx} 的排除表 {cce}" if cce is not None
                      else f"主要诊断 {c.pdx} 没有排除表（不排除任何并发症）"))
    for x in found:
        fname = "mcc.csv" if x.kind == "mcc" else "cc.csv"
        if x.excluded:
            trail.append(TrailStep("complication", f"{fname}:{x.row}", False,
                              f"{x.code} 是 {x.kind.upper()}（排除表 {x.exclusion_table}），但与主要诊断的排除表相同"
                              f"（cc_exclusions.csv 第 {x.exclusion_row} 行），被排除"))
        else:
            trail.append(TrailStep("complication", f"{fname}:{x.row}", True,
                              f"{x.code} 计为 {x.kind.upper()}（排除表 {x.exclusion_table}）"))
    if not found:
        trail.append(TrailStep("complication", "secondary_dx", False, "其他诊断中没有 MCC 或 CC"))
    rule, lacking = chosen.decide(level, c.value)
    listed = "、".join(f"{r.drg}（{r.condition.text}）" for r in chosen.rules)
    facts = f"并发症等级：{CC_LEVEL_ZH[level]}"
    used = {v for r in chosen.rules for v in r.condition.bounds}
    for var in sorted(used):
        x = c.value(var)
        facts += f"；{VAR_ZH[var]} {'空' if x is None else f'{x:g}'}"
    res.mdc, res.adrg, res.cc_level = chosen.mdc, chosen.code, level
    res.mdc_name, res.adrg_name = std.mdc_names.get(chosen.mdc), std.adrg_names.get(chosen.code)
    if lacking is not None:
        res.status = "missing_los" if lacking == "LOS" else f"missing_{lacking.lower()}"
        trail.append(TrailStep("drg", chosen.code, False, f"{facts}；{chosen.code} 的 DRG 依次为 {listed}；"
                          f"判断需要{VAR_ZH[lacking]}，病例没有（{STATUS_ZH.get(res.status, res.status)}）"))
        return res
    if rule is None:
        trail.append(TrailStep("drg", chosen.code, True, f"{facts}；{chosen.code} 的 DRG 依次为 {listed}，都不成立："
                          f"按分组标准，DRG 取 ADRG 代码 {chosen.code}"))
        res.status, res.drg, res.drg_name = "ok", chosen.code, res.adrg_name
        return res
    trail.append(TrailStep("drg", rule.drg, True, f"{facts}；{chosen.code} 的 DRG 依次为 {listed}，"
                      f"第一个成立的是 {rule.drg} {rule.name}"))
    res.status, res.drg, res.drg_name = "ok", rule.drg, rule.name
    return res
