"""The DIP commands as library functions: one per ``yibao dip`` command (build, score, hospital, indicators,
settle, simulate).

Each takes the command's inputs as paths and parsed values, reads its DIP policy, does the work, writes its
files into ``out`` and returns a :class:`Done`: the result and the lines the command reports, in order (``out``:
standard output, ``err``: warnings). ``out`` is a directory, or a context manager that gives one on entry — the
CLI passes its atomic output directory (:class:`yibao.engine.outdir.OutputDir`), which is entered only when
there is something to write, so a refused input leaves an earlier output in place.

What DIP takes of the budget year (its pots, its clearing bands and scores, its ``[statement]`` issuer) comes in
as a :class:`BudgetYear`: the interfaces read the budget policy (:mod:`yibao.budget`); DIP never imports it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.compute as pc

from yibao.contract.vocab import SCHEME_ZH
from yibao.dip import catalogue, scoring
from yibao.dip.catalogue import catalogue_year_warning
from yibao.dip.hospital import hospital_view
from yibao.dip.indicators import indicators as indicator_rows
from yibao.dip.inputs import read_scored_for_settlement
from yibao.dip.policy import DipPolicy, load_policy
from yibao.dip.reports import write_year
from yibao.dip.settlement import DipYear, run_settlement
from yibao.dip.simulate import compare, load_scenario, write_comparison
from yibao.settle.agreement import exclusions_line
from yibao.settle.deductions import read_deductions, summary_line
from yibao.settle.period import partial_year_warning
from yibao.settle.pots import Budgets, require_settle_year
from yibao.settle.report import issuer_from, read_deduction_lines

__all__ = ["Done", "BudgetYear", "build", "score", "hospital", "indicators", "settle", "simulate"]

Out = Path | AbstractContextManager


@dataclass
class Done:
    """What a command did: ``result`` and the lines it reports, in order (``("out", text)`` or ``("err", text)``)."""

    result: Any = None
    lines: list[tuple[str, str]] = field(default_factory=list)

    def say(self, text: str) -> None:
        self.lines.append(("out", text))

    def warn(self, text: str | None) -> None:
        if text:
            self.lines.append(("err", text))


@dataclass(frozen=True)
class BudgetYear:
    """What DIP settles against, from the budget policy: the year, the pots, the clearing section (结余留用、超支分担
    bands with ``scores`` and ``default_score``), the policy's raw tables (for ``[statement]``) and its path."""

    year: int
    budgets: Budgets
    clearing: Any
    raw: Mapping
    path: Path


def _opened(out: Out) -> AbstractContextManager:
    return nullcontext(Path(out)) if isinstance(out, (str, os.PathLike)) else out


def _shown(out: Out) -> Path:
    return Path(out) if isinstance(out, (str, os.PathLike)) else getattr(out, "given", out)


def build(workspace: Path, out: Out, policy: Path | None = None, standards: Path | None = None,
          engine: str = "duckdb", year: int | None = None) -> Done:
    """``yibao dip build``: the catalogue from the history (:func:`yibao.dip.catalogue.build`)."""
    pol = load_policy(policy)
    with _opened(out) as tmp:
        cat = catalogue.build(workspace, pol, tmp, standards=standards, engine=engine, settle_year=year)
    done = Done(cat)
    th, m = cat.threshold, cat.manifest
    ys, weights = m["parameters"]["years"], m["parameters"].get("year_weights", [])
    how = ("政策文件 catalogue.years 给定" if m.get("years_from") == "policy"
           else f"结算年度 {m['settle_year']} 之前的 {len(ys)} 个年度，未给 catalogue.years 时自动选取")
    ws_ = ":".join(str(Decimal(w).normalize()) for w in weights)
    done.say(f"病种目录库 {cat.version}：历史年度 {'、'.join(map(str, ys))}（{how}；年度权重 {ws_}），"
             f"核心病种 {m['groups']['core']} 个，综合病种 {m['groups']['comprehensive']} 个")
    done.warn(catalogue_year_warning(cat.version, ys, m.get("settle_year")))
    done.say(f"核心病种病例数临界值 {th['core_min_cases']}，核心病种覆盖病例 {th['core_cases']}/{th['total_cases']}"
             f"（{th['core_share']}）；全部病例平均费用 {m['reference_cost']} 元")
    done.say(f"不能入组的历史病例：{m['history_cases']['ungroupable'] or '无'}")
    done.say(f"已写入 {_shown(out)}（catalogue.csv / .parquet / .xlsx、manifest.json）")
    return done


def score(workspace: Path, catalogue_dir: Path, out: Out, policy: Path | None = None, review: Path | None = None,
          year: int | None = None, engine: str = "duckdb") -> Done:
    """``yibao dip score``: the workspace's stays grouped and scored against a catalogue
    (:func:`yibao.dip.scoring.score`)."""
    pol = load_policy(policy)
    with _opened(out) as tmp:
        s = scoring.score(workspace, catalogue_dir, pol, tmp, review=review, engine=engine, year=year)
    done = Done(s)
    for w in s.get("warnings", []):
        done.warn(w)
    done.say(f"目录库 {s['catalogue_version']}：住院病例 {s['cases']}，状态 {s['status']}，病种类型 {s['group_kind']}")
    done.say(f"偏差 {s['deviation']}；特例单议待审 {s['review_queue']}（超 {pol.extreme_ratio.normalize()} 倍 "
             f"{s['extreme_flagged']}）；总分值 {s['points_total']}")
    if s["ungroupable"]:
        done.say("不能入组：" + "，".join(f"{v['zh']} {v['count']}" for v in s["ungroupable"].values()))
    done.say(f"已写入 {_shown(out)}（scored_cases.csv / .parquet、review_queue.csv、summary.json）")
    return done


def hospital(scored: Path, institution: str, out: Out, year: int | None = None, workspace: Path | None = None,
             policy: Path | None = None, point_value: Decimal | None = None) -> Done:
    """``yibao dip hospital``: one institution's scores against its peers and the region
    (:func:`yibao.dip.hospital.hospital_view`)."""
    pol = load_policy(policy)
    with _opened(out) as tmp:
        v = hospital_view(scored, institution, tmp, pol, year=year, workspace=workspace, point_value=point_value)
    done = Done(v)
    me, reg = v.summary["institution"], v.summary["region"]
    done.say(f"机构 {institution}：病例 {me['cases']}（入组 {me['grouped']}），总点数 {me['points']}，CMI {me['cmi']}"
             f"（全区域 {reg['cmi']}），每点费用 {me['cost_per_point']} 元（全区域 {reg['cost_per_point']} 元）")
    done.say(f"已写入 {', '.join(p.name for p in v.files)} 于 {_shown(out)}")
    return done


def indicators(workspace: Path, scored: Path, out: Out, policy: Path | None = None) -> Done:
    """``yibao dip indicators``: the supervision indicators per institution and year
    (:func:`yibao.dip.indicators.indicators`)."""
    pol = load_policy(policy)
    with _opened(out) as tmp:
        rows = indicator_rows(workspace, scored, pol, tmp)
    done = Done(rows)
    flagged = sum(1 for r in rows if r["flag"])
    done.say(f"监管指标 {len(rows)} 行（{len({(r['institution_id'], r['year']) for r in rows})} 个机构年度），预警 {flagged} 项")
    done.say(f"已写入 {_shown(out) / 'indicators.csv'}")
    return done


def _scored_year(scored: Path, budget: BudgetYear, done: Done):
    """The scored cases of a settlement: refused (nothing written) without a case of the budget's year; a warning
    when their catalogue was built from years including it."""
    table = read_scored_for_settlement(scored)
    require_settle_year(table.column("settle_year").to_pylist(), budget.year, Path(scored) / "scored_cases.parquet",
                        budget.path)
    try:
        summary = json.loads((Path(scored) / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        summary = None
    if summary is not None:
        done.warn(catalogue_year_warning(summary.get("catalogue_version", ""), summary.get("catalogue_years"),
                                         budget.year))
    # fewer than twelve months of the year: what is written is not a year-end clearing (issue 15 §2)
    months = pc.unique(table.filter(pc.equal(table["settle_year"], budget.year))["settle_month"]).to_pylist()
    done.warn(partial_year_warning(months, budget.year))
    return table


def _settle(workspace: Path, table, budget: BudgetYear, pol: DipPolicy, deductions: Path | None, engine: str,
            budgets: Budgets | None = None, scores: Mapping[str, Decimal] | None = None) -> DipYear:
    cp = budget.clearing
    given = read_deductions(deductions) if deductions is not None else None
    return run_settlement(workspace, table, budget.year, budgets or budget.budgets, pol, cp,
                          cp.scores if scores is None else scores, cp.default_score, None, engine, None, given=given)


def settle(workspace: Path, scored: Path, budget: BudgetYear, out: Out, policy: Path | None = None,
           deductions: Path | None = None, engine: str = "duckdb", statements: bool = True,
           scores: Mapping[str, Decimal] | None = None, also_write: Callable[[Path], object] | None = None) -> Done:
    """``yibao dip settle``: the DIP year (point values, prepayment, clearing, 按床日, 按人头) written to ``out``.
    ``scores``: the assessment's scores instead of the budget policy's hand-typed ones; ``also_write(dir)``: more
    files of the same output (the CLI's record of where the scores came from)."""
    issuer = issuer_from(budget.raw, str(budget.path))
    pol = load_policy(policy)
    done = Done()
    table = _scored_year(scored, budget, done)
    y = _settle(workspace, table, budget, pol, deductions, engine, scores=scores)
    done.result = y
    with _opened(out) as tmp:
        files = write_year(y, tmp, statements=statements, issuer=issuer,
                           deduction_lines=read_deduction_lines(deductions, budget.year))
        if also_write is not None:
            also_write(tmp)
    for scheme, s in y.dip.items():
        zh = SCHEME_ZH[scheme]
        bpv = next((v["value"] for v in y.point_values if v["scheme"] == scheme and v["kind"] == "budget"), None)
        done.say(f"{zh}：住院统筹预算 {s.budget}，年度点数 {s.units}，预算点值 {bpv if bpv is not None else '—'}，"
                 f"结算点值 {s.value_shown}（{'基金口径' if s.convention == 'fund' else '总费用口径'}），"
                 f"机构 {len(s.clearing)} 家，年度应付 {s.entitled}，已预付 {sum(p.paid for p in s.prepayments)}，"
                 f"清算拨付 {sum(c.final_transfer for c in s.clearing)}，基金结余 {s.balance}")
        c = y.capita.get(scheme)
        if c is not None:
            done.say(f"{zh}：按人头 {len(c.clearing)} 家机构，归属 {c.units / 12} 人，门诊统筹预算 {c.budget}，"
                     f"年度应付 {c.entitled}")
    beds = y.bed_day
    done.say(f"按床日：{sum(b.cases for b in beds)} 例，{sum(b.bed_days for b in beds)} 床日，应付 "
             f"{sum((b.payable for b in beds), 0)}；未入组（不计点数）病例 {sum(r['cases'] for r in y.unscored)}")
    done.say(exclusions_line(y.excluded))
    if y.deductions:
        done.say(summary_line(y.deductions["given"], y.deductions["applied"], y.deductions["not_applied"]))
    done.say(f"已写入 {_shown(out)}（point_values / prepayments / clearing / bed_day / exclusions .csv、summary.json"
             + (f"、{sum(1 for f in files if f.suffix == '.xlsx')} 份机构结算单" if statements else "") + "）")
    return done


def simulate(workspace: Path, catalogue_dir: Path, budget: BudgetYear, scenario: Path, out: Out,
             policy: Path | None = None, deductions: Path | None = None, standards: Path | None = None,
             engine: str = "duckdb") -> Done:
    """``yibao dip simulate``: the baseline and the scenario scored, settled and compared, all under ``out``
    (``baseline/``, ``scenario/``, ``comparison.*``); the real catalogue and results are not touched."""
    sc = load_scenario(scenario)
    base_pol = load_policy(policy)
    scen_pol = load_policy(policy, overrides=sc.dip, overrides_from=str(scenario))
    with _opened(out) as out_dir:
        scoring.score(workspace, catalogue_dir, base_pol, out_dir / "baseline" / "scored", engine=engine)
        base = _settle(workspace, read_scored_for_settlement(out_dir / "baseline" / "scored"), budget, base_pol,
                       deductions, engine)
        cat = catalogue_dir
        if sc.changes_catalogue:
            cat = out_dir / "scenario" / "catalogue"
            catalogue.build(workspace, scen_pol, cat, standards=standards, engine=engine, settle_year=budget.year)
        if sc.changes_scoring:
            scoring.score(workspace, cat, scen_pol, out_dir / "scenario" / "scored", engine=engine)
            scen_table = read_scored_for_settlement(out_dir / "scenario" / "scored")
        else:
            scen_table = read_scored_for_settlement(out_dir / "baseline" / "scored")
        scen = _settle(workspace, scen_table, budget, scen_pol, deductions, engine, sc.budgets(budget.budgets))
        write_year(base, out_dir / "baseline" / "settlement", statements=False)
        write_year(scen, out_dir / "scenario" / "settlement", statements=False)
        rows, totals = compare(base, scen)
        write_comparison(rows, totals, out_dir, sc)
    done = Done((rows, totals))
    done.say(f"情景：{sc.name}" + ("（重建目录库）" if sc.changes_catalogue else "")
             + ("（重新赋分）" if sc.changes_scoring else ""))
    for t in totals:
        done.say(f"{t['scheme']}：结算点值 {t['base_value']} → {t['scen_value']}；年度应付 {t['base_entitled']} → "
                 f"{t['scen_entitled']}；基金结余 {t['base_balance']} → {t['scen_balance']}")
    moved = sorted(rows, key=lambda r: (-abs(r["diff"]), r["institution_id"]))[:3]
    if moved:
        done.say("变化最大的机构：" + "；".join(f"{r['institution_id']} {r['diff']:+}" for r in moved))
    done.say(f"已写入 {_shown(out)}（comparison.csv / comparison_totals.csv / comparison.xlsx，baseline/ 与 scenario/）")
    return done
