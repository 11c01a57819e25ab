"""Where the CHS-DRG standards tables are (the project reads them; it never ships them), and a reader of their
published complication tables (CC / MCC / exclusions) for capabilities that may not import the DRG grouper."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pyarrow as pa

from yibao.contract.errors import BadFile

ENV = "YIBAO_STANDARDS"
RELATIVE = Path("shared") / "standards" / "chs-drg-1.1"


def find_standards(explicit: Path | str | None = None) -> Path | None:
    """``explicit``, else ``$YIBAO_STANDARDS``, else ``../shared/standards/chs-drg-1.1`` beside the
    working directory or beside this source checkout; None when none holds ``diagnoses.csv``."""
    if explicit is not None:
        return Path(explicit) if (Path(explicit) / "diagnoses.csv").is_file() else None
    candidates = [os.environ.get(ENV)] if os.environ.get(ENV) else [
        Path.cwd().parent / RELATIVE, Path(__file__).resolve().parents[3].parent / RELATIVE]
    for cand in candidates:
        if cand and (Path(cand) / "diagnoses.csv").is_file():
            return Path(cand)
    return None


# --- the CHS-DRG complication tables (CC / MCC and the exclusion table), read by capabilities that may not import
# the DRG grouper (the claims review's upcoding rule C07) -----------------------------------------------------------

CC_CODES = pa.schema([("code", pa.string()), ("level", pa.string()), ("exclusion_table", pa.int32()),
                      ("name", pa.string())])
CC_EXCLUSIONS = pa.schema([("principal_dx", pa.string()), ("exclusion_table", pa.int32())])
CC_FILES = ("mcc.csv", "cc.csv", "cc_exclusions.csv")


def empty_cc_tables() -> tuple[pa.Table, pa.Table]:
    """The complication tables of a run without the standards: no code is a CC or MCC."""
    return CC_CODES.empty_table(), CC_EXCLUSIONS.empty_table()


def _rows(path: Path, key: str) -> list[tuple[str, int]]:
    try:
        with open(path, encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames is None or key not in reader.fieldnames or "exclusion_table" not in reader.fieldnames:
                raise BadFile(f"{path}：表头应含 {key},exclusion_table")
            out = []
            for n, r in enumerate(reader, start=2):
                code, table = (r[key] or "").strip(), (r["exclusion_table"] or "").strip()
                if not code:
                    continue
                if not table.isdigit():
                    raise BadFile(f"{path} 第 {n} 行：排除表编号 {table!r} 不是非负整数")
                out.append((code, int(table)))
            return out
    except FileNotFoundError:
        raise BadFile(f"{path}：文件不存在（CHS-DRG 标准目录应含 {'、'.join(CC_FILES)}）") from None
    except UnicodeDecodeError:
        raise BadFile(f"{path}：不是 UTF-8 编码的 CSV") from None


def cc_tables(directory: Path | str) -> tuple[pa.Table, pa.Table]:
    """The published complication tables of a CHS-DRG standards directory as two Arrow tables:

    - ``cc_codes`` (:data:`CC_CODES`): every code of ``mcc.csv`` (``level = 'mcc'``) and ``cc.csv`` (``'cc'``) with
      its exclusion table (排除表) number and its name from ``diagnoses.csv`` (blank when not listed there); a code
      in both files counts as MCC (the 1.1 tables have none);
    - ``cc_exclusions`` (:data:`CC_EXCLUSIONS`): the exclusion table of each principal diagnosis
      (``cc_exclusions.csv``). A secondary CC/MCC whose exclusion table equals the principal diagnosis's is not a
      complication of that case (the grouper's rule, docs/drg.md).

    A missing file, a header without the key columns or a table number that is not a non-negative integer:
    :class:`~yibao.contract.errors.BadFile` naming the file and line."""
    d = Path(directory)
    names: dict[str, str] = {}
    dx = d / "diagnoses.csv"
    if dx.is_file():
        with open(dx, encoding="utf-8", newline="") as f:
            for r in csv.DictReader(f):
                names.setdefault((r.get("code") or "").strip(), (r.get("name") or "").strip())
    codes: dict[str, tuple[str, int]] = {}
    for level, file in (("mcc", "mcc.csv"), ("cc", "cc.csv")):
        for code, table in _rows(d / file, "code"):
            codes.setdefault(code, (level, table))
    exclusions: dict[str, int] = {}
    for code, table in _rows(d / "cc_exclusions.csv", "principal_dx"):
        exclusions.setdefault(code, table)
    ordered = sorted(codes)
    cc = pa.table({"code": ordered, "level": [codes[c][0] for c in ordered],
                   "exclusion_table": pa.array([codes[c][1] for c in ordered], pa.int32()),
                   "name": [names.get(c) or None for c in ordered]}, schema=CC_CODES)
    pr = sorted(exclusions)
    cce = pa.table({"principal_dx": pr, "exclusion_table": pa.array([exclusions[c] for c in pr], pa.int32())},
                   schema=CC_EXCLUSIONS)
    return cc, cce
