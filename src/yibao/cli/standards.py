"""``yibao standards``: show a CHS-DRG version, compare two, and measure what switching does to the cases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from yibao.cli._common import dir_argument, err, file_option, sub_app
from yibao.cli._outputs import outputs

standards_app = sub_app("standards", help="分组标准版本：查看、比较、切换影响")

CHANGE_ZH = {"added": "新增", "removed": "删除", "changed": "变更"}


@standards_app.command("show")
def standards_show(
    directory: Path = dir_argument(..., help="分组标准目录"),
    as_json: bool = typer.Option(False, "--json", help="以 JSON 输出"),
) -> None:
    """分组标准的版本号、各类数目，以及用到的条件与规则类型。"""
    from yibao.drg.standards import load_standards
    from yibao.drg.versions import describe

    d = describe(load_standards(directory))
    if as_json:
        print(json.dumps(d, ensure_ascii=False, indent=2))
        return
    c = d["counts"]
    print(f"分组标准 {directory}：版本 {d['short_version']}（{d['version']}）")
    print(f"  MDC {c['mdcs']} 个，ADRG {c['adrgs']} 个（其中有并列备选条件的 {c['adrgs_with_alternatives']} 个），"
          f"DRG {c['drgs']} 个")
    print(f"  诊断编码 {c['diagnosis_codes']:,} 个，手术操作编码 {c['procedure_codes']:,} 个，MCC {c['mcc']:,} 个，"
          f"CC {c['cc']:,} 个，排除表主诊断 {c['cc_exclusions']:,} 个，有效手术 {c['valid_procedures']:,} 个")
    print("  MDC/ADRG 条件项：" + "，".join(f"{k} ×{n}" for k, n in d["condition_atoms"].items()))
    print("  DRG 规则类型：" + "，".join(f"{k} ×{n}" for k, n in d["rule_kinds"].items()))
    if d["rule_variables"]:
        print("  DRG 规则用到的病例变量：" + "、".join(d["rule_variables"])
              + ("（需要入院、出院日期）" if "LOS" in d["rule_variables"] else ""))
    for s in d["skipped_rows"]:
        print(f"  跳过：{s['file']} 第 {s['line']} 行 {s['value']!r}：{s['why']}")


@standards_app.command("diff")
def standards_diff(
    a: Path = dir_argument(..., help="原分组标准目录"),
    b: Path = dir_argument(..., help="新分组标准目录"),
    out_csv: Optional[Path] = typer.Option(None, "--out", help="把全部差异写入 CSV（level,code,change,detail）"),
) -> None:
    """两个分组标准版本的差异：新增、删除或规则与编码列表有变化的 MDC、ADRG、DRG。"""
    from yibao.drg.standards import load_standards
    from yibao.drg.versions import diff
    from yibao.engine.outdir import atomic_file
    from yibao.settle.report import write_csv

    sa, sb = load_standards(a), load_standards(b)
    rows = diff(sa, sb)
    print(f"{a}（{sa.short_version}）→ {b}（{sb.short_version}）：")
    for level in ("mdc", "adrg", "drg"):
        mine = [r for r in rows if r["level"] == level]
        counts = {k: sum(1 for r in mine if r["change"] == k) for k in CHANGE_ZH}
        print(f"  {level.upper()}：" + "，".join(f"{CHANGE_ZH[k]} {n}" for k, n in counts.items()))
        for k in ("added", "removed", "changed"):
            codes = [r["code"] for r in mine if r["change"] == k]
            if codes:
                more = f" …（共 {len(codes)} 个）" if len(codes) > 20 else ""
                print(f"    {CHANGE_ZH[k]}：{' '.join(codes[:20])}{more}")
    if out_csv is not None:
        with atomic_file(out_csv) as tmp:
            write_csv(tmp, (("level", "level"), ("code", "code"), ("change", "change"), ("detail", "detail")), rows)
        print(f"已写入 {out_csv}（{len(rows)} 行）")


@standards_app.command("impact")
def standards_impact(
    a: Path = dir_argument(..., help="原分组标准目录"),
    b: Path = dir_argument(..., help="新分组标准目录"),
    out_dir: Path = typer.Option(..., "--out", help="输出目录：cases.csv、moves.csv、institutions.csv"),
    workspace: Optional[Path] = typer.Option(None, "--workspace", "-w", help="工作区（取其全部住院病例）"),
    cases_csv: Optional[Path] = file_option(None, "--cases", help="或：病例文件（cases 表格式，CSV）"),
    year: Optional[int] = typer.Option(None, "--year", help="只取该年度结算的病例（工作区）"),
    weights_a: Optional[Path] = file_option(None, "--weights-a", help="原版本的官方权重表（可选）"),
    weights_b: Optional[Path] = file_option(None, "--weights-b", help="新版本的官方权重表（可选）"),
) -> None:
    """切换分组版本的影响：同一批病例在两个版本下分组，多少病例换组、从哪个 DRG 到哪个 DRG，
    以及（给出两版权重表时）每家机构的总权重变化。"""
    from yibao.contract.errors import BadOption
    from yibao.drg.cases import read_cases
    from yibao.drg.standards import load_standards
    from yibao.drg.versions import impact, workspace_cases
    from yibao.drg.weights import read_weights
    from yibao.engine.csvfile import csv_bytes

    if (workspace is None) == (cases_csv is None):
        raise BadOption("请用 --workspace 或 --cases 之一给出病例")
    target = outputs(out_dir)  # an --out that may not be replaced is refused before any work
    sa, sb = load_standards(a), load_standards(b)
    wa = read_weights(weights_a) if weights_a else None
    wb = read_weights(weights_b) if weights_b else None
    cases = read_cases(cases_csv).table if cases_csv is not None else workspace_cases(workspace, year)
    res = impact(cases, sa, sb, wa, wb)
    with target as tmp:
        for name, table in res.items():
            (tmp / f"{name}.csv").write_bytes(csv_bytes(table))
    n, moved = res["cases"].num_rows, sum(1 for m in res["cases"].column("moved").to_pylist() if m)
    print(f"{a}（{sa.short_version}）→ {b}（{sb.short_version}）：{n:,} 例，换组 {moved:,} 例"
          f"（{moved / n:.1%}）" if n else "没有病例")
    for r in res["moves"].slice(0, 10).to_pylist():
        print(f"  {r['from']} → {r['to']}：{r['cases']:,} 例")
    if wa is not None and wb is not None:
        for r in sorted(res["institutions"].to_pylist(), key=lambda r: -abs(r["weight_change"] or 0))[:5]:
            print(f"  机构 {r['institution_id']}：总权重 {r['weight_a']} → {r['weight_b']}（{r['weight_change']:+}）")
    else:
        err.print("提示：未同时给出 --weights-a 和 --weights-b，未计算机构总权重变化")
    print(f"已写入 {out_dir}（cases.csv、moves.csv、institutions.csv）")
