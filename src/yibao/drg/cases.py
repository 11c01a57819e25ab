"""Read a ``cases`` file for grouping (病例读取), and write the grouping results.

``yibao group drg`` reads a ``cases`` table in the contract's layout, or the reduced layout of
the reference sample: only ``case_id`` is required; ``sex, age_years, newborn_age_days,
newborn_weight_g, principal_dx, secondary_dx, procedures`` and ``admit_date, discharge_date``
(the length of stay, for versions with length-of-stay rules) are read when present (an absent one
counts as blank in every row) and ``setting`` is used to skip outpatient rows; other columns are
ignored. Unlike ``yibao load``, nothing is refused here: a malformed code simply matches no rule
and the grouping status says why the case was not grouped.

Cells are read as text and typed in DuckDB: codes trimmed, lists split at ``|`` with blanks
dropped, numbers as DOUBLE (a number that does not parse counts as missing and is reported).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from yibao.contract.readers import detect_encoding
from yibao.contract.reasons import FatalLoadError
from yibao.contract.vocab import sql_str
from yibao.drg.explain import group_one
from yibao.drg.grouper import CONTRACT_COLUMNS, NAME_COLUMNS, add_names, group_table
from yibao.drg.labels import STATUS_SHORT_ZH
from yibao.engine.outdir import atomic_file
from yibao.engine.runner import query_arrow

NUMERIC = ("age_years", "newborn_age_days", "newborn_weight_g")
TEXT = ("sex", "principal_dx", "setting")
LISTS = ("secondary_dx", "procedures")
DATES = ("admit_date", "discharge_date")
USED = ("case_id", *TEXT, *NUMERIC, *LISTS, *DATES)


@dataclass
class CasesFile:
    table: pa.Table                      # typed: the columns the grouper reads
    rows: int                            # data rows read
    outpatient: int                      # rows skipped as outpatient
    absent: list[str] = field(default_factory=list)   # used columns the file lacks
    unparsed: dict[str, int] = field(default_factory=dict)  # numeric column → cells that did not parse


def read_cases(path: Path | str) -> CasesFile:
    path = Path(path)
    if not path.is_file():
        raise FatalLoadError(str(path), "文件不存在")
    encoding = detect_encoding(path)
    try:
        raw = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(encoding="utf8" if encoding.startswith("utf-8") else encoding,
                                           block_size=1 << 24),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in USED},
                                                 strings_can_be_null=False, quoted_strings_can_be_null=False,
                                                 auto_dict_encode=False))
    except pa.ArrowInvalid as exc:
        raise FatalLoadError(str(path), f"无法读取 CSV：{' '.join(str(exc).split())[:300]}") from None
    names = [n.strip().lstrip("\ufeff") for n in raw.column_names]
    raw = raw.rename_columns(names)
    if "case_id" not in names:
        raise FatalLoadError(str(path), f"缺少列 case_id（表头：{','.join(names)}）")
    absent = [c for c in USED if c not in names and c != "setting"]
    con = duckdb.connect()
    try:
        con.register("raw", raw.select([c for c in USED if c in names]))
        cols = [f"trim(CAST({c} AS VARCHAR))" if c in names else "NULL" for c in USED]
        col = dict(zip(USED, cols))
        num = {c: f"TRY_CAST(nullif({col[c]}, '') AS DOUBLE)" if c in names else "CAST(NULL AS DOUBLE)" for c in NUMERIC}
        lst = {c: (f"list_filter(list_transform(string_split({col[c]}, '|'), lambda x: trim(x)), lambda x: x <> '')"
                   if c in names else "CAST([] AS VARCHAR[])") for c in LISTS}
        num |= {c: f"TRY_CAST(nullif({col[c]}, '') AS DATE)" if c in names else "CAST(NULL AS DATE)" for c in DATES}
        typed = query_arrow(con, f"""
            SELECT {col['case_id']} AS case_id,
                   {col['setting']} AS setting,
                   nullif({col['sex']}, '') AS sex,
                   {num['age_years']} AS age_years,
                   {num['newborn_age_days']} AS newborn_age_days,
                   {num['newborn_weight_g']} AS newborn_weight_g,
                   nullif({col['principal_dx']}, '') AS principal_dx,
                   {lst['secondary_dx']} AS secondary_dx,
                   {lst['procedures']} AS procedures,
                   {num['admit_date']} AS admit_date,
                   {num['discharge_date']} AS discharge_date
            FROM raw""")
        unparsed = {}
        for c in (*NUMERIC, *DATES):
            if c in names:
                n = con.execute(f"SELECT count(*) FROM raw WHERE nullif({col[c]}, '') IS NOT NULL "
                                f"AND {num[c]} IS NULL").fetchall()[0][0]
                if n:
                    unparsed[c] = n
    finally:
        con.close()
    typed = typed.cast(pa.schema([
        ("case_id", pa.string()), ("setting", pa.string()), ("sex", pa.string()), ("age_years", pa.float64()),
        ("newborn_age_days", pa.float64()), ("newborn_weight_g", pa.float64()), ("principal_dx", pa.string()),
        ("secondary_dx", pa.list_(pa.string())), ("procedures", pa.list_(pa.string())),
        ("admit_date", pa.date32()), ("discharge_date", pa.date32()),
    ]))
    counts = pc.value_counts(typed.column("case_id"))
    dup = counts.filter(pc.greater(counts.field("counts"), 1))
    if len(dup):  # one result per case: the grouper keys its steps by case_id
        first = dup[0]["values"].as_py()
        raise FatalLoadError(str(path), f"case_id 重复：{first}（共 {len(dup)} 个编号重复出现），每个病例只能有一行")
    setting = typed.column("setting").to_pylist() if "setting" in names else []
    outpatient = sum(1 for s in setting if s == "outpatient")
    return CasesFile(typed, raw.num_rows, outpatient, absent, unparsed)


def write_results(result: pa.Table, path: Path | str, columns: tuple[str, ...] = CONTRACT_COLUMNS) -> None:
    """The results as CSV (UTF-8, header row, quotes only where needed, blank where not reached);
    written to a temporary file first, so a failure never leaves half a file."""
    with atomic_file(Path(path)) as tmp:
        con = duckdb.connect()
        try:
            con.register("result", result.select(list(columns)))
            con.execute(f"COPY (SELECT * FROM result) TO {sql_str(tmp)} (FORMAT csv, HEADER true)")
        finally:
            con.close()


@dataclass
class GroupedFile:
    """What :func:`group_file` did: the cases read, the grouping result, the summary line, the explanations."""

    cases: CasesFile
    result: pa.Table
    summary: str
    explanations: list[str] = field(default_factory=list)


def group_file(cases_csv: Path | str, out_csv: Path | str, standards, *, map_codes: bool = False,
               explain: str | None = None, notify: Callable[[str], None] = lambda line: None) -> GroupedFile:
    """``yibao group drg``: read a cases CSV, group it, write the contract's columns and the names to
    ``out_csv``. ``notify`` gets the notices about the file (absent columns, numbers that did not parse, an
    ``explain`` case not in the file) as they come; ``explain``: a case id whose trail is returned too."""
    std = standards
    cf = read_cases(cases_csv)
    absent = [c for c in cf.absent if c not in ("admit_date", "discharge_date") or "LOS" in std.rule_variables]
    if absent:
        notify(f"提示：{cases_csv} 没有列 {', '.join(absent)}，按空白处理"
               + ("（该版本按住院天数细分 DRG，需要入院、出院日期）" if {"admit_date", "discharge_date"} & set(absent)
                  else ""))
    for col, n in cf.unparsed.items():
        notify(f"提示：{cases_csv} 列 {col} 有 {n} 个值不是数字，按缺失处理")
    result = group_table(cf.table, std, map_codes=map_codes)
    write_results(add_names(result, std), out_csv, (*CONTRACT_COLUMNS, *NAME_COLUMNS))
    counts = Counter(result.column("status").to_pylist())
    parts = [f"{STATUS_SHORT_ZH.get(s, s)}（{s}）{n:,}" for s, n in
             sorted(counts.items(), key=lambda kv: (kv[0] != "ok", -kv[1], kv[0]))]
    skipped = f"，跳过门诊 {cf.outpatient:,} 行" if cf.outpatient else ""
    summary = (f"DRG 分组：{result.num_rows:,} 例{skipped}；{'，'.join(parts) or '无病例'}；"
               f"分组标准 {Path(std.source).name} 版本 {std.short_version}；已写入 {out_csv}")
    texts = []
    if explain:
        rows = cf.table.filter(pc.equal(cf.table.column("case_id"), explain)).to_pylist()
        if not rows:
            notify(f"提示：病例 {explain} 不在 {cases_csv} 中")
        texts = [group_one(row, std, map_codes=map_codes).explain() for row in rows]
    return GroupedFile(cf, result, summary, texts)

