"""The optional inputs of ``yibao leads``: results of other commands, read as files (leads imports neither drg,
dip nor review): ``yibao group drg``'s output CSV, ``yibao dip score``'s directory, ``yibao review``'s
findings.csv; and the holiday calendar (``yibao.contract.calendar``)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from yibao.contract.calendar import load_holidays
from yibao.contract.errors import BadFile


def _csv(path: Path, need: set[str], what: str) -> pa.Table:
    try:
        with Path(path).open("rb") as fh:
            head = fh.readline().decode("utf-8-sig").strip()
    except OSError as exc:
        raise BadFile(f"{path}: 无法读取（{exc.strerror}）") from None
    except UnicodeDecodeError as exc:
        raise BadFile(f"{path}: 不是 UTF-8 编码（字节位置 {exc.start}）") from None
    cols = [c.strip() for c in head.split(",")]
    if not need <= set(cols):
        raise BadFile(f"{path}: 不是{what}（缺少列 {'、'.join(sorted(need - set(cols)))}）")
    try:
        return pcsv.read_csv(path, convert_options=pcsv.ConvertOptions(
            column_types={c: pa.string() for c in cols}, include_columns=sorted(need), strings_can_be_null=True))
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise BadFile(f"{path}: 无法读取{what}（{str(exc).splitlines()[0]}）") from None


def read_grouped(path: Path) -> pa.Table:
    """``case_id, drg`` of the stays grouped ``ok`` in a ``yibao group drg`` output CSV."""
    t = _csv(path, {"case_id", "status", "drg"}, " DRG 分组结果（yibao group drg 的输出：case_id,status,mdc,adrg,drg）")
    t = t.filter(pc.and_(pc.equal(t["status"], "ok"), pc.invert(pc.is_null(t["drg"]))))
    return t.select(["case_id", "drg"])


def read_dip(scored_dir: Path) -> pa.Table:
    """``case_id, score, deviation, points`` of ``yibao dip score``'s ``scored_cases.parquet`` (or ``.csv``)."""
    d = Path(scored_dir)
    cols = ["case_id", "score", "deviation", "points"]
    if (d / "scored_cases.parquet").is_file():
        try:
            t = pq.read_table(d / "scored_cases.parquet", columns=cols)
        except (pa.ArrowInvalid, KeyError, OSError) as exc:
            raise BadFile(f"{d / 'scored_cases.parquet'}: 无法读取 DIP 赋分结果（{str(exc).splitlines()[0]}）") from None
    elif (d / "scored_cases.csv").is_file():
        t = _csv(d / "scored_cases.csv", set(cols), " DIP 赋分结果").select(cols)
    else:
        raise BadFile(f"{d}: 不是 DIP 赋分目录（缺少 scored_cases.parquet / .csv，请先运行 yibao dip score）")
    try:
        return pa.table({"case_id": t["case_id"].cast(pa.string()), "score": t["score"].cast(pa.float64()),
                         "deviation": t["deviation"].cast(pa.string()), "points": t["points"].cast(pa.float64())})
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise BadFile(f"{d}: DIP 赋分结果的分值不是数字（{str(exc).splitlines()[0]}）") from None


def read_findings(path: Path) -> pa.Table:
    """``case_id, n``: the number of findings of each case in a review ``findings.csv``."""
    t = _csv(path, {"case_id"}, "审核结果（findings.csv）")
    g = t.group_by("case_id").aggregate([("case_id", "count")])
    return pa.table({"case_id": g["case_id"], "n": g["case_id_count"].cast(pa.int64())})


def offdays(year: int) -> tuple[pa.Table, bool]:
    """(the calendar's exceptions for ``year`` and the years next to it — ``day, off``: a weekday holiday
    off, a weekend make-up day worked —, whether the calendar covers ``year``)."""
    cal = load_holidays()
    days = [(d, True) for d in cal.holidays] + [(d, False) for d in cal.workdays]
    days = [(d, off) for d, off in days if year - 1 <= d.year <= year + 1]
    days.sort()
    return (pa.table({"day": pa.array([d for d, _ in days], pa.date32()),
                      "off": pa.array([o for _, o in days], pa.bool_())}), year in cal.years)


__all__ = ["offdays", "read_dip", "read_findings", "read_grouped"]
