"""Render docs/contract.md from the schema definitions (the one source of truth)."""

from __future__ import annotations

from yibao.contract.reasons import REASONS
from yibao.contract.schema import (
    CELL_MAX_CHARS,
    CODE_MAX_LENGTH,
    CODE_PATTERN,
    CSV_MAX_UNCLOSED_QUOTES,
    DATE_MAX,
    DATE_MIN,
    FORMATS,
    ICD9_PATTERN,
    ICD10_PATTERN,
    INVISIBLE_CHARS,
    LOAD_ORDER,
    NATIONAL_FORMAT_MIN_SHARE,
    TABLES,
    XLSX_MAX_UNPACKED_BYTES,
)

_KIND_TEXT = {
    "id": "text (key/code)", "text": "text", "enum": "one of", "date": "date YYYY-MM-DD",
    "money": "money, yuan, ≤ 2 decimals, ≥ 0", "quantity": "decimal ≥ 0, ≤ 4 decimals",
    "ratio": "decimal 0–1, ≤ 4 decimals", "int": "whole number", "flag": "1 / 0",
    "icd10": "ICD-10 医保版 code", "icd10_list": "ICD-10 codes, `|`-separated",
    "icd9": "ICD-9-CM-3 code", "icd9_list": "ICD-9-CM-3 codes, `|`-separated, principal first",
    "prefix_list": "ICD-10 prefixes, `|`-separated",
}


def _checks_section() -> list[str]:
    invisible = ", ".join(f"U+{ord(ch):04X}" for ch in INVISIBLE_CHARS)
    out = [
        "## How files are read and checked (读取与校验)",
        "",
        "- **Every line is accounted for.** A CSV's rows are counted against the file's own non-blank lines. "
        "When they differ (a value holding a line break, a row with the wrong number of fields, an unclosed "
        "`\"`), the file is parsed again with each line's number in front: a line break inside a value is "
        "allowed in free text (names) only; a record that swallowed whole lines — a cell opening `\"` that is "
        "never closed — is an *unclosed quote*: that one line is quarantined (`UNCLOSED_QUOTE`, with its line "
        "number) and the file is parsed again from the next line. Then every non-blank line is a row or a "
        "quarantined row, or the file is refused. "
        f"More than {CSV_MAX_UNCLOSED_QUOTES} unclosed quotes refuse the file (it is not quoted the CSV way). "
        "`_row`/`source_row` is the data row (file line − 1). Lines ending in a lone CR (the old Mac format) are "
        "counted as lines; a file mixing lone CRs with LF line ends cannot be checked and is refused.",
        "- **Binary data** (a 0x00 byte anywhere in a CSV) refuses the file, naming the byte offset and line.",
        "- **Excel**: the sheet's `<dimension>` tag is ignored (writers leave it stale); every row is read, "
        "empty rows skipped, `source_row` = sheet row − 1. A numeric cell in a code column (keys, references, "
        "`region_code`, `id_number`) quarantines its row (`NUMERIC_CODE_CELL`): Excel keeps 15 significant "
        "digits, so an 18-digit id number stored as a number has lost its last digits and `0301` its leading "
        f"zero. A workbook whose zip members declare more than {XLSX_MAX_UNPACKED_BYTES // 2**20} MiB unpacked "
        "is refused before it is opened.",
        "- **Parquet**: a nested column (list, struct, map) outside the list columns, or a floating-point or "
        "decimal code column, refuses the file. Integer code columns are exact and read as their digits.",
        f"- **Codes** (kind `id`: keys, references, `dept_code`; and `id_number`) must be safe codes: "
        f"`{CODE_PATTERN}` (letters, digits, `-`, `_`, `.` not leading, never `..`, at most {CODE_MAX_LENGTH} "
        "characters; no `/`, `\\`, whitespace or control characters), else `UNSAFE_CODE`. A code is used in "
        "output file names (`statements/{institution_id}.xlsx`), so a path-like id never loads. Invisible "
        f"characters ({invisible}: BOM, zero-width space and joiners, direction marks, soft hyphen) would make two "
        "codes that look the same distinct keys: the row is quarantined (`INVISIBLE_CHAR`, naming the code "
        "point), never silently stripped — the sender must fix the export.",
        f"- **National formats** (below) of institution and staff codes are enforced for a column of a file when "
        f"at least {NATIONAL_FORMAT_MIN_SHARE:.0%} of its non-blank codes follow the format (a real export: the odd "
        "one out is quarantined, `BAD_CODE_FORMAT`); a file of local codes (a test region's `H001`) is checked "
        "for the safe character set only, and the validation returns a note saying so. `region_code` and "
        "`id_number` are always checked.",
        "- **身份证号** (`id_number`): an 18-character number must carry its GB 11643 check digit; a number in "
        "scientific notation or with a decimal point (saved by a spreadsheet) is refused (`BAD_ID_NUMBER`). "
        "Other identity documents (passports …) are checked for the safe character set only. Messages mask "
        "personal information (first 6 and last 4 characters).",
        f"- **Dates** must lie in {DATE_MIN} … {DATE_MAX} (`BAD_DATE_RANGE`: `0000-01-01`, `9999-12-31` are "
        "placeholders; an open end is blank). A birth date after the day of the load is `BIRTH_IN_FUTURE`; a "
        "case admitted before its insured person's birth date is `ADMITTED_BEFORE_BIRTH`.",
        f"- **Text** cells hold no control character (`CONTROL_CHAR`; tab and line ends are allowed) and at most "
        f"{CELL_MAX_CHARS:,} characters, Excel's own cell limit (`CELL_TOO_LONG`; the quarantine keeps the "
        "first 1,000 characters of such a cell).",
        "",
        "| format | 中文 | pattern | enforced | source |",
        "|---|---|---|---|---|",
    ]
    for f in FORMATS.values():
        how = "when most codes of the column follow it" if f.majority else "always"
        if f.check:
            how += "; check digit"
        out.append(f"| `{f.name}` | {f.zh} | `{f.pattern}` | {how} | {f.source} |")
    return out + [""]


def render() -> str:
    out = [
        "# Data contract (数据合同) — generated",
        "",
        "Generated by `yibao contract docs` from `src/yibao/contract/schema.py`; do not edit by hand.",
        "The binding text is `shared/contract/README.md`; this page adds how yibao stores and checks",
        "each column. Tables load in this order (a table after those it references): "
        + ", ".join(f"`{n}`" for n in LOAD_ORDER) + ".",
        "",
        f"ICD-10 pattern: `{ICD10_PATTERN}`  ",
        f"ICD-9-CM-3 pattern: `{ICD9_PATTERN}`",
        "",
    ]
    out += _checks_section()
    for t in TABLES.values():
        out += [f"## {t.name} — {t.zh}", "", f"Key: `{', '.join(t.key)}`.", ""]
        if t.foreign_keys:
            refs = "; ".join(f"`{fk.columns[0]}` → `{fk.ref_table}.{fk.ref_columns[0]}` ({fk.reason})"
                             for fk in t.foreign_keys)
            out += [f"References: {refs}.", ""]
        out += ["| column | 中文 | kind | stored as | required | notes |", "|---|---|---|---|---|---|"]
        for c in t.columns:
            kind = _KIND_TEXT[c.kind]
            if c.values:
                kind += " " + ", ".join(f"`{v}`" for v in c.values)
            if c.lo is not None or c.hi is not None:
                kind += f" in [{c.lo}, {c.hi}]"
            notes = "; ".join(x for x in (c.doc, "personal information (个人信息)" if c.personal else "",
                                          f"pattern `{c.pattern}`" if c.pattern else "",
                                          f"format `{c.format}`" if c.format else "") if x)
            req = "key" if c.name in t.key else ("yes" if c.required else "")
            out.append(f"| `{c.name}` | {c.zh} | {kind} | `{c.duckdb_type}` | {req} | {notes} |")
        for rc in t.row_checks:
            out.append(f"\nRow check `{rc.reason}`: bad when `{rc.violation_sql}`.")
        for rc in t.ref_checks:
            out.append(f"\nCheck against `{rc.ref_table}` (`r`, the row whose `{rc.ref_column}` = `{rc.column}`) "
                       f"`{rc.reason}`: bad when `{rc.violation_sql}`.")
        out.append("")
    out += ["## Reason codes (隔离原因)", "", "| code | 中文 |", "|---|---|"]
    out += [f"| `{k}` | {v} |" for k, v in REASONS.items()]
    return "\n".join(out) + "\n"
