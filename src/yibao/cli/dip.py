"""``yibao dip …``: DIP catalogue, case scoring, a hospital's view, supervision indicators."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from yibao.cli._common import dir_option, engine_option, file_option, sub_app
from yibao.cli._outputs import outputs

dip_app = sub_app("dip", help="按病种分值付费（DIP）：病种目录库与病例赋分")


@dip_app.command("build")
def dip_build(
    workspace: Path = typer.Option(Path("yibao-data"), "--workspace", "-w", help="工作区目录"),
    policy: Optional[Path] = file_option(None, "--policy", help="DIP 政策文件（TOML，缺省用内置默认值）"),
    out_dir: Path = typer.Option(..., "--out", help="目录库输出目录"),
    standards: Optional[Path] = dir_option(None, "--standards", help="CHS-DRG 标准目录（用其 valid_procedures.csv 区分手术）"),
    engine: str = engine_option(),
    year: Optional[int] = typer.Option(None, "--year", help="结算年度：未在政策文件给出 catalogue.years 时，用该年度之前的历史年度（缺省为工作区最新出院年度）"),
) -> None:
    """由历史住院病例生成 DIP 病种目录库（核心病种、综合病种、分值），存为 CSV、Parquet 与 Excel。"""
    import sys
    from decimal import Decimal

    from yibao.dip.build import build, catalogue_year_warning
    from yibao.dip.policy import load_policy

    pol = load_policy(policy)
    with outputs(out_dir) as tmp:
        cat = build(workspace, pol, tmp, standards=standards, engine=engine, settle_year=year)
    th, m = cat.threshold, cat.manifest
    ys, weights = m["parameters"]["years"], m["parameters"].get("year_weights", [])
    how = ("政策文件 catalogue.years 给定" if m.get("years_from") == "policy"
           else f"结算年度 {m['settle_year']} 之前的 {len(ys)} 个年度，未给 catalogue.years 时自动选取")
    ws_ = ":".join(str(Decimal(w).normalize()) for w in weights)
    print(f"病种目录库 {cat.version}：历史年度 {'、'.join(map(str, ys))}（{how}；年度权重 {ws_}），"
          f"核心病种 {m['groups']['core']} 个，综合病种 {m['groups']['comprehensive']} 个")
    warning = catalogue_year_warning(cat.version, ys, m.get("settle_year"))
    if warning:
        print(warning, file=sys.stderr)
    print(f"核心病种病例数临界值 {th['core_min_cases']}，核心病种覆盖病例 {th['core_cases']}/{th['total_cases']}"
          f"（{th['core_share']}）；全部病例平均费用 {m['reference_cost']} 元")
    print(f"不能入组的历史病例：{m['history_cases']['ungroupable'] or '无'}")
    print(f"已写入 {out_dir}（catalogue.csv / .parquet / .xlsx、manifest.json）")


@dip_app.command("score")
def dip_score(
    workspace: Path = typer.Option(Path("yibao-data"), "--workspace", "-w", help="工作区目录"),
    catalogue: Path = dir_option(..., "--catalogue", help="病种目录库目录（yibao dip build 的输出）"),
    out_dir: Path = typer.Option(..., "--out", help="输出目录"),
    policy: Optional[Path] = file_option(None, "--policy", help="DIP 政策文件（TOML）：偏差倍数、特例单议比例、系数"),
    review: Optional[Path] = file_option(None, "--review", help="特例单议结果（上次输出的 review_queue.csv，已填 final_score）"),
    year: Optional[int] = typer.Option(None, "--year", help="只输出该结算年度的病例"),
    engine: str = engine_option(),
) -> None:
    """住院病例入组与赋分：核心病种→综合病种→不能入组；偏差病例、机构系数、特例单议。"""
    import sys

    from yibao.dip.build import score
    from yibao.dip.policy import load_policy

    pol = load_policy(policy)
    with outputs(out_dir) as tmp:
        s = score(workspace, catalogue, pol, tmp, review=review, engine=engine, year=year)
    for w in s.get("warnings", []):
        print(w, file=sys.stderr)
    print(f"目录库 {s['catalogue_version']}：住院病例 {s['cases']}，状态 {s['status']}，病种类型 {s['group_kind']}")
    print(f"偏差 {s['deviation']}；特例单议待审 {s['review_queue']}（超 {pol.extreme_ratio.normalize()} 倍 {s['extreme_flagged']}）；"
          f"总分值 {s['points_total']}")
    if s["ungroupable"]:
        print("不能入组：" + "，".join(f"{v['zh']} {v['count']}" for v in s["ungroupable"].values()))
    print(f"已写入 {out_dir}（scored_cases.csv / .parquet、review_queue.csv、summary.json）")


@dip_app.command("hospital")
def dip_hospital(
    scored: Path = dir_option(..., "--scored", help="病例赋分目录（yibao dip score 的输出）"),
    institution: str = typer.Option(..., "--institution", help="机构编码"),
    out_dir: Path = typer.Option(..., "--out", help="输出目录"),
    year: Optional[int] = typer.Option(None, "--year", help="只看该出院年度的病例"),
    workspace: Optional[Path] = typer.Option(None, "--workspace", "-w", help="工作区（提供机构等级，用于同级机构对比）"),
    policy: Optional[Path] = file_option(None, "--policy", help="DIP 政策文件（TOML）：说明中的偏差倍数"),
    point_value: Optional[str] = typer.Option(None, "--point-value", help="点值（元/点，精确小数），给出时另列金额"),
) -> None:
    """一家机构的病种分值：病例明细与点数计算说明、病种汇总、与同级机构和全区域对比（Excel 与 CSV）。"""
    from decimal import Decimal, InvalidOperation

    from yibao.dip.hospital import HospitalError, hospital_view
    from yibao.dip.policy import load_policy

    pv = None
    if point_value is not None:
        try:
            pv = Decimal(point_value.strip())
        except InvalidOperation:
            raise HospitalError("--point-value", f"不是数字：{point_value!r}") from None
        if not pv.is_finite() or pv <= 0:
            raise HospitalError("--point-value", f"应为大于 0 的数：{point_value!r}")
    pol = load_policy(policy)
    with outputs(out_dir) as tmp:
        v = hospital_view(scored, institution, tmp, pol, year=year, workspace=workspace, point_value=pv)
    me = v.summary["institution"]
    reg = v.summary["region"]
    print(f"机构 {institution}：病例 {me['cases']}（入组 {me['grouped']}），总点数 {me['points']}，CMI {me['cmi']}"
          f"（全区域 {reg['cmi']}），每点费用 {me['cost_per_point']} 元（全区域 {reg['cost_per_point']} 元）")
    print(f"已写入 {', '.join(p.name for p in v.files)} 于 {out_dir}")


@dip_app.command("indicators")
def dip_indicators(
    workspace: Path = typer.Option(Path("yibao-data"), "--workspace", "-w", help="工作区目录（住院与门诊结算、机构等级）"),
    scored: Path = dir_option(..., "--scored", help="病例赋分目录（yibao dip score 的输出）"),
    out_dir: Path = typer.Option(..., "--out", help="输出目录"),
    policy: Optional[Path] = file_option(None, "--policy", help="DIP 政策文件（TOML）：[indicators] 监管阈值"),
) -> None:
    """违规行为监管辅助指标（每机构每年度）：高套病种、分解住院、低标入院、转嫁费用、推诿病人，与同级机构中位数比较。"""
    from yibao.dip.indicators import indicators
    from yibao.dip.policy import load_policy

    pol = load_policy(policy)
    with outputs(out_dir) as tmp:
        rows = indicators(workspace, scored, pol, tmp)
    flagged = sum(1 for r in rows if r["flag"])
    print(f"监管指标 {len(rows)} 行（{len({(r['institution_id'], r['year']) for r in rows})} 个机构年度），预警 {flagged} 项")
    print(f"已写入 {out_dir / 'indicators.csv'}")




@dip_app.command("settle")
def dip_settle(
    workspace: Path = typer.Option(Path("yibao-data"), "--workspace", "-w", help="工作区目录"),
    scored: Path = dir_option(..., "--scored", help="病例赋分目录（yibao dip score 的输出，含 scored_cases.parquet）"),
    budget_policy: Path = file_option(..., "--budget-policy", help="总额控制政策文件（年度、基金数据、[clearing] 结余留用与超支分担）"),
    out_dir: Path = typer.Option(..., "--out", help="输出目录"),
    policy: Optional[Path] = file_option(None, "--policy", help="DIP 政策文件（TOML）：[settlement] [bed_day] [per_capita]"),
    deductions: Optional[Path] = file_option(None, "--deductions", help="扣款（智能审核等）CSV：institution_id,year,source,amount,findings"),
    engine: str = engine_option(),
    statements: bool = typer.Option(True, "--statements/--no-statements", help="是否为每家机构生成 Excel 结算单"),
    scores: Optional[Path] = file_option(None, "--scores", help="考核得分（yibao assess 输出的 score_totals.csv），代替手填的 [clearing.scores] 返还质量保证金"),
    score_reason: Optional[list[str]] = typer.Option(None, "--score-reason", help="手工得分覆盖考核得分的理由：机构编码=理由（可重复）"),
) -> None:
    """DIP 年度结算：预算点值、月度预付点值与按月预付（预留质量保证金）、结算点值与年终清算（结余留用、超支分担、扣款），以及按床日、按人头。"""
    from yibao.dip.policy import load_policy
    from yibao.dip.settlement import write_year
    from yibao.settle.report import issuer_from, read_deduction_lines

    target = outputs(out_dir)
    bp, budgets = _budget(budget_policy)
    issuer = issuer_from(bp.raw, str(budget_policy))
    pol = load_policy(policy)
    table = _scored_table(scored)
    _require_year(table.column("settle_year").to_pylist(), bp.year, scored / "scored_cases.parquet", budget_policy)
    _warn_catalogue_years(scored, bp.year)
    _warn_partial_year(table, bp.year)
    used, record = None, None
    if scores is not None:  # the assessment's scores (issue 18): hand-typed ones only as a recorded override
        from yibao.assess.clearing import clearing_scores, parse_reasons

        used, record = clearing_scores(scores, bp.sections.clearing.scores, parse_reasons(score_reason))
    y = _settle(workspace, table, bp, budgets, pol, deductions, engine, scores=used)
    with target as tmp:
        files = write_year(y, tmp, statements=statements, issuer=issuer,
                           deduction_lines=read_deduction_lines(deductions, bp.year))
        if record is not None:
            from yibao.assess.clearing import write_record

            write_record(record, tmp / "score_sources.csv")
    if record is not None:
        from yibao.assess.clearing import summary_line as score_line

        print(score_line(record, scores))
    for scheme, s in y.dip.items():
        zh = {"employee": "职工", "resident": "城乡居民"}[scheme]
        bpv = next((v["value"] for v in y.point_values if v["scheme"] == scheme and v["kind"] == "budget"), None)
        print(f"{zh}：住院统筹预算 {s.budget}，年度点数 {s.units}，预算点值 {bpv if bpv is not None else '—'}，"
              f"结算点值 {s.value_shown}（{'基金口径' if s.convention == 'fund' else '总费用口径'}），"
              f"机构 {len(s.clearing)} 家，年度应付 {s.entitled}，已预付 {sum(p.paid for p in s.prepayments)}，"
              f"清算拨付 {sum(c.final_transfer for c in s.clearing)}，基金结余 {s.balance}")
        c = y.capita.get(scheme)
        if c is not None:
            print(f"{zh}：按人头 {len(c.clearing)} 家机构，归属 {c.units / 12} 人，门诊统筹预算 {c.budget}，年度应付 {c.entitled}")
    beds = [b for b in y.bed_day]
    print(f"按床日：{sum(b.cases for b in beds)} 例，{sum(b.bed_days for b in beds)} 床日，应付 "
          f"{sum((b.payable for b in beds), 0)}；未入组（不计点数）病例 {sum(r['cases'] for r in y.unscored)}")
    from yibao.settle.agreement import exclusions_line
    from yibao.settle.deductions import summary_line

    print(exclusions_line(y.excluded))
    if y.deductions:
        print(summary_line(y.deductions["given"], y.deductions["applied"], y.deductions["not_applied"]))
    print(f"已写入 {out_dir}（point_values / prepayments / clearing / bed_day / exclusions .csv、summary.json"
          + (f"、{sum(1 for f in files if f.suffix == '.xlsx')} 份机构结算单" if statements else "") + "）")


def _warn_catalogue_years(scored: Path, year: int) -> None:
    """A warning on stderr when the scored cases' catalogue was built from years including ``year``."""
    import json
    import sys

    from yibao.dip.build import catalogue_year_warning

    try:
        summary = json.loads((scored / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    w = catalogue_year_warning(summary.get("catalogue_version", ""), summary.get("catalogue_years"), year)
    if w:
        print(w, file=sys.stderr)


def _warn_partial_year(table, year: int) -> None:
    """A warning on stderr when the year's scored cases cover fewer than 12 months (not a year-end clearing)."""
    import sys

    import pyarrow.compute as pc

    from yibao.settle.period import partial_year_warning

    months = pc.unique(table.filter(pc.equal(table["settle_year"], year))["settle_month"]).to_pylist()
    w = partial_year_warning(months, year)
    if w:
        print(w, file=sys.stderr)


def _budget(budget_policy: Path):
    """The budget policy and what DIP takes from it (pots per scheme, the bed-day figure)."""
    from yibao.budget.policy import load_policy as load_budget_policy
    from yibao.budget.year import settlement_pots

    bp = load_budget_policy(budget_policy)
    return bp, settlement_pots(bp)


def _require_year(years: list, year: int, source: Path, budget_policy: Path) -> None:
    """Refuse (exit 2, nothing written) a settlement year without a single case."""
    from yibao.settle.pots import require_settle_year

    require_settle_year(years, year, source, budget_policy)


def _scored_table(scored: Path):
    import pyarrow.parquet as pq

    from yibao.contract.reasons import FatalLoadError

    path = scored / "scored_cases.parquet"
    if not path.exists():
        raise FatalLoadError(str(path), "缺少病例赋分结果，请先运行 yibao dip score")
    table = pq.read_table(path)
    if "settle_year" not in table.column_names:
        raise FatalLoadError(str(path), "赋分结果缺少结算字段（scheme、settle_year…），请用当前版本重新运行 yibao dip score")
    return table


def _settle(workspace: Path, table, bp, budgets, pol, deductions: Optional[Path], engine: str, budgets_override=None,
            scores=None):
    from yibao.dip.settlement import run_settlement
    from yibao.settle.deductions import read_deductions

    cp = bp.sections.clearing
    given = read_deductions(deductions) if deductions is not None else None
    return run_settlement(workspace, table, bp.year, budgets_override or budgets, pol, cp,
                          cp.scores if scores is None else scores,
                          cp.default_score, None, engine, None, given=given)


@dip_app.command("simulate")
def dip_simulate(
    workspace: Path = typer.Option(Path("yibao-data"), "--workspace", "-w", help="工作区目录（只读）"),
    catalogue: Path = dir_option(..., "--catalogue", help="基准病种目录库目录（yibao dip build 的输出）"),
    budget_policy: Path = file_option(..., "--budget-policy", help="总额控制政策文件"),
    scenario: Path = file_option(..., "--scenario", help="情景文件（TOML）：[budget] 预算调整、[dip.*] DIP 参数调整"),
    out_dir: Path = typer.Option(..., "--out", help="输出目录（基准、情景与对比，均写在此目录下）"),
    policy: Optional[Path] = file_option(None, "--policy", help="基准 DIP 政策文件（TOML）"),
    deductions: Optional[Path] = file_option(None, "--deductions", help="扣款 CSV（两边相同）"),
    standards: Optional[Path] = dir_option(None, "--standards", help="CHS-DRG 标准目录（情景重建目录库时区分手术）"),
    engine: str = engine_option(),
) -> None:
    """政策模拟：同一年度在另一组参数下（预算、核心病种临界值、系数、结算口径…）重新入组、赋分、结算，与基准并列对比；不改动真实结果。"""
    from yibao.dip.policy import load_policy
    from yibao.dip.simulate import load_scenario

    sc = load_scenario(scenario)
    bp, budgets = _budget(budget_policy)
    base_pol = load_policy(policy)
    scen_pol = load_policy(policy, overrides=sc.dip, overrides_from=str(scenario))
    with outputs(out_dir) as tmp:
        rows, totals = _simulate(workspace, catalogue, bp, budgets, base_pol, scen_pol, sc, deductions, standards,
                                 engine, tmp)
    print(f"情景：{sc.name}" + ("（重建目录库）" if sc.changes_catalogue else "") + ("（重新赋分）" if sc.changes_scoring else ""))
    for t in totals:
        print(f"{t['scheme']}：结算点值 {t['base_value']} → {t['scen_value']}；年度应付 {t['base_entitled']} → "
              f"{t['scen_entitled']}；基金结余 {t['base_balance']} → {t['scen_balance']}")
    moved = sorted(rows, key=lambda r: (-abs(r["diff"]), r["institution_id"]))[:3]
    if moved:
        print("变化最大的机构：" + "；".join(f"{r['institution_id']} {r['diff']:+}" for r in moved))
    print(f"已写入 {out_dir}（comparison.csv / comparison_totals.csv / comparison.xlsx，baseline/ 与 scenario/）")


def _simulate(workspace, catalogue, bp, budgets, base_pol, scen_pol, sc, deductions, standards, engine, out_dir):
    """The baseline and the scenario scored, settled and compared, all written under ``out_dir``."""
    from yibao.dip.build import build, score
    from yibao.dip.settlement import write_year
    from yibao.dip.simulate import compare, write_comparison

    score(workspace, catalogue, base_pol, out_dir / "baseline" / "scored", engine=engine)
    base = _settle(workspace, _scored_table(out_dir / "baseline" / "scored"), bp, budgets, base_pol, deductions, engine)
    cat = catalogue
    if sc.changes_catalogue:
        cat = out_dir / "scenario" / "catalogue"
        build(workspace, scen_pol, cat, standards=standards, engine=engine, settle_year=bp.year)
    if sc.changes_scoring:
        score(workspace, cat, scen_pol, out_dir / "scenario" / "scored", engine=engine)
        scen_table = _scored_table(out_dir / "scenario" / "scored")
    else:
        scen_table = _scored_table(out_dir / "baseline" / "scored")
    scen = _settle(workspace, scen_table, bp, budgets, scen_pol, deductions, engine, sc.budgets(budgets))
    write_year(base, out_dir / "baseline" / "settlement", statements=False)
    write_year(scen, out_dir / "scenario" / "settlement", statements=False)
    rows, totals = compare(base, scen)
    write_comparison(rows, totals, out_dir, sc)
    return rows, totals
