"""``yibao group drg``: CHS-DRG grouping of a cases file (the contract's command interface)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Optional

import typer

from yibao.cli._common import err, file_argument, sub_app

group_app = sub_app("group", help="病例分组（CHS-DRG）")

STATUS_SHORT_ZH = {
    "ok": "分组成功", "ungroupable": "无法入组", "invalid_dx": "主要诊断编码无效",
    "unacceptable_principal_dx": "主要诊断不能作主诊断", "sex_conflict": "诊断与性别不符",
    "age_conflict": "诊断与年龄不符", "missing_sex": "缺性别", "invalid_sex": "性别无效",
    "missing_age": "缺年龄", "missing_age_days": "缺天龄", "missing_newborn_weight": "缺新生儿体重",
    "missing_dx": "缺主要诊断", "unmappable_dx": "诊断不能转换", "unmappable_procedure": "手术操作不能转换",
    "missing_los": "缺住院天数",
}


@group_app.command("drg")
def group_drg(
    cases_csv: Path = file_argument(..., help="病例文件（cases 表格式，CSV）"),
    out_csv: Path = typer.Argument(..., help="输出 CSV：case_id,status,mdc,adrg,drg"),
    standards: Optional[Path] = typer.Option(None, "--standards", help="CHS-DRG 分组标准目录（缺省自动查找）"),
    explain: Optional[str] = typer.Option(None, "--explain", help="另打印该病例（case_id）的分组过程"),
    map_codes: bool = typer.Option(False, "--map-codes", help="分组前按标准的编码对照表转换诊断与手术编码（参照分组器缺省不转换）"),
) -> None:
    """按 CHS-DRG 分组标准表为病例分组：编码校验 → MDC → ADRG → DRG。"""
    from yibao.drg.cases import read_cases, write_results
    from yibao.drg.explain import group_one
    from yibao.drg.grouper import CONTRACT_COLUMNS, NAME_COLUMNS, add_names, group_table
    from yibao.drg.standards import load_standards

    std = load_standards(standards)
    cf = read_cases(cases_csv)
    absent = [c for c in cf.absent if c not in ("admit_date", "discharge_date") or "LOS" in std.rule_variables]
    if absent:
        err.print(f"提示：{cases_csv} 没有列 {', '.join(absent)}，按空白处理"
                  + ("（该版本按住院天数细分 DRG，需要入院、出院日期）" if {"admit_date", "discharge_date"} & set(absent)
                     else ""))
    for col, n in cf.unparsed.items():
        err.print(f"提示：{cases_csv} 列 {col} 有 {n} 个值不是数字，按缺失处理")
    result = group_table(cf.table, std, map_codes=map_codes)
    write_results(add_names(result, std), out_csv, (*CONTRACT_COLUMNS, *NAME_COLUMNS))
    counts = Counter(result.column("status").to_pylist())
    parts = [f"{STATUS_SHORT_ZH.get(s, s)}（{s}）{n:,}" for s, n in
             sorted(counts.items(), key=lambda kv: (kv[0] != "ok", -kv[1], kv[0]))]
    skipped = f"，跳过门诊 {cf.outpatient:,} 行" if cf.outpatient else ""
    print(f"DRG 分组：{result.num_rows:,} 例{skipped}；{'，'.join(parts) or '无病例'}；"
          f"分组标准 {Path(std.source).name} 版本 {std.short_version}；已写入 {out_csv}")
    if explain:
        import pyarrow.compute as pc

        rows = cf.table.filter(pc.equal(cf.table.column("case_id"), explain)).to_pylist()
        if not rows:
            err.print(f"提示：病例 {explain} 不在 {cases_csv} 中")
        for row in rows:
            print(group_one(row, std, map_codes=map_codes).explain())
