"""Official DRG weights as input (官方权重表): the weights and payment standards a city publishes.

Cities publish their DRG list with each DRG's relative weight (RW, 相对权重) and often its payment
standard (支付标准, yuan): Beijing's 2022 table (``shared/payment-tables/beijing-2022-weights.csv``) has
``DRG编码, DRG名称, RW, 支付标准``. ``yibao drg settle --weights FILE`` uses such a table instead of weights
from the region's history.

Accepted layouts (docs/drg-payment.md §"Official weights"): CSV (UTF-8 with or without BOM, or
GB18030/GBK as published) or Excel (.xlsx, first sheet, the header row found below title rows), with
one row per DRG and these columns, in any order, under any of these headers:

==============  ==============================================================  ========
column          headers                                                         required
==============  ==============================================================  ========
``drg``         drg, DRG编码, DRG代码, DRG组编码, 分组编码                         yes
``name``        name, DRG名称, DRG组名称, 分组名称                                 no
``weight``      weight, rw, RW, 相对权重, 权重                                      yes
``standard``    payment_standard, 支付标准, 付费标准, 标准费用                       no
==============  ==============================================================  ========

Weights are exact decimals (at most 4 places, > 0 — the case-weight arithmetic works in 1/10 000);
payment standards are money (at most 2 places). A weight cell that says the DRG is paid by item
(``按项目据实支付``, ``按项目付费``, ``按项目``: Beijing's table says so for 49 DRGs — burns, rehabilitation,
symptoms …) lists the DRG as paid by item: its cases leave DRG payment with the reason ``listed_by_item``. A DRG listed twice, a
blank or malformed weight stops the read with the file, the line and the value. What the table says is checked against the
standards and the cases (:func:`check_weights`): a DRG the standards do not have and a DRG that cases fall into
but the table lacks are reported, never taken as weight 0 — such cases are paid by item (按项目, reason
``no_weight``), as a DRG without a history weight is.

The DRG's standard cost for the outlier tests (高倍率 / 低倍率, a case's cost against ``high_ratio`` ×
and ``low_ratio`` × the DRG's cost): the payment standard where the table gives one; else the DRG's
average cost in the region's history where it has one; else RW × the history's all-case average cost.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pyarrow as pa

from yibao.contract.readers import detect_encoding
from yibao.contract.reasons import FatalLoadError
from yibao.settle.relative import RELATIVE_SCHEMA

HEADERS: dict[str, tuple[str, ...]] = {
    "drg": ("drg", "drg编码", "drg代码", "drg组编码", "分组编码", "drg_code"),
    "name": ("name", "drg名称", "drg组名称", "分组名称", "drg_name"),
    "weight": ("weight", "rw", "相对权重", "权重", "relative_weight"),
    "standard": ("payment_standard", "支付标准", "付费标准", "标准费用", "standard"),
}
REQUIRED = ("drg", "weight")
MAX_TITLE_ROWS = 10  # rows above the header an Excel sheet may have
_DRG = re.compile(r"^[A-Z][A-Z0-9]{1,7}$")
_BY_ITEM = re.compile(r"^(按项目(据实)?(支付|付费|结算)?|据实支付)$")


@dataclass(frozen=True)
class OfficialWeight:
    drg: str
    name: str
    weight: Decimal | None      # None: the table lists the DRG as paid by item
    standard: Decimal | None
    line: int


@dataclass
class Weights:
    source: str
    sha256: str
    rows: dict[str, OfficialWeight] = field(default_factory=dict)

    @property
    def version(self) -> str:
        return f"official:{Path(self.source).name}:{self.sha256[:12]}"


def _key(h: object) -> str:
    return re.sub(r"\s+", "", str(h or "")).lower()


def _columns(header: list[object]) -> dict[str, int] | None:
    keys = [_key(h) for h in header]
    found = {}
    for col, names in HEADERS.items():
        for i, k in enumerate(keys):
            if k in names:
                found.setdefault(col, i)
    return found if all(c in found for c in REQUIRED) else None


def _rows(path: Path) -> tuple[list[list[object]], str]:
    """The file's rows as lists of cells (text or numbers), and its encoding (or ``xlsx``)."""
    if path.suffix.lower() == ".xlsx":
        from openpyxl import load_workbook

        try:
            wb = load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # noqa: BLE001 - any unreadable workbook is one line for the user
            raise FatalLoadError(str(path), f"无法读取 Excel 文件：{' '.join(str(exc).split())[:200]}") from None
        ws = wb.worksheets[0]
        ws.reset_dimensions()
        rows = [list(r) for r in ws.iter_rows(values_only=True)]
        wb.close()
        return rows, "xlsx"
    encoding = detect_encoding(path)
    text = path.read_bytes().decode(encoding)
    return [list(r) for r in csv.reader(io.StringIO(text, newline=""))], encoding


def _decimal(v: object, places: int) -> Decimal | None:
    if v is None or (isinstance(v, str) and not v.strip()):
        return None
    if isinstance(v, float):
        v = repr(v)
    try:
        d = Decimal(str(v).strip().replace(",", ""))
    except InvalidOperation:
        raise ValueError(str(v)) from None
    if not d.is_finite() or d.as_tuple().exponent < -places:
        raise ValueError(str(v))
    return d


def read_weights(path: Path | str) -> Weights:
    """Read an official weight table (layouts above); a problem stops with the file, the line and the value."""
    path = Path(path)
    if not path.is_file():
        raise FatalLoadError(str(path), "权重表文件不存在（或不是文件）")
    rows, _ = _rows(path)
    at = next(((i, c) for i, r in enumerate(rows[:MAX_TITLE_ROWS + 1]) if (c := _columns(r))), None)
    if at is None:
        raise FatalLoadError(str(path), "找不到表头：需要 DRG 编码列（drg / DRG编码）和权重列（weight / RW / 相对权重）")
    head, cols = at
    out = Weights(str(path), hashlib.sha256(path.read_bytes()).hexdigest())
    for n, r in enumerate(rows[head + 1:], start=head + 2):
        cell = {c: (r[i] if i < len(r) else None) for c, i in cols.items()}
        drg = str(cell["drg"] or "").strip()
        if not drg and all(v in (None, "") for v in r):
            continue
        where = f"第 {n} 行"
        if not _DRG.match(drg):
            raise FatalLoadError(str(path), f"{where}：DRG 编码 {drg!r} 格式不对")
        if drg in out.rows:
            raise FatalLoadError(str(path), f"{where}：DRG {drg} 重复（第 {out.rows[drg].line} 行已有）")
        by_item = isinstance(cell["weight"], str) and bool(_BY_ITEM.match(re.sub(r"\s+", "", cell["weight"])))
        try:
            weight = None if by_item else _decimal(cell["weight"], 4)
        except ValueError as exc:
            raise FatalLoadError(str(path), f"{where}：DRG {drg} 的权重 {exc} 不是至多 4 位小数的数"
                                            "（或“按项目据实支付”）") from None
        if not by_item and (weight is None or weight <= 0):
            raise FatalLoadError(str(path), f"{where}：DRG {drg} 的权重应大于 0：{cell['weight']!r}")
        try:
            standard = _decimal(cell.get("standard"), 2)
        except ValueError as exc:
            raise FatalLoadError(str(path), f"{where}：DRG {drg} 的支付标准 {exc} 不是至多 2 位小数的金额") from None
        if standard is not None and standard <= 0:
            raise FatalLoadError(str(path), f"{where}：DRG {drg} 的支付标准应大于 0：{cell['standard']!r}")
        out.rows[drg] = OfficialWeight(drg, str(cell.get("name") or "").strip(), weight, standard, n)
    if not out.rows:
        raise FatalLoadError(str(path), "权重表没有任何 DRG")
    return out


def official_weights(weights: Weights, history: pa.Table | None = None) -> pa.Table:
    """The table in the shape of the history weights (``drg_weights``: group_id, cases, cases_kept, avg_cost,
    relative, reference_cost) that the case-weight step reads: RW from the official table, the DRG's
    standard cost (module docstring) as ``avg_cost``; ``cases`` and ``cases_kept`` from the history where it
    has the DRG (0 otherwise)."""
    hist = {r["group_id"]: r for r in (history.to_pylist() if history is not None else [])}
    refs = {r["reference_cost"] for r in hist.values() if r["reference_cost"] is not None}
    reference = refs.pop() if len(refs) == 1 else None
    rows = []
    for drg in sorted(weights.rows):
        w = weights.rows[drg]
        h = hist.get(drg)
        if w.weight is None:
            cost = None  # listed as paid by item
        elif w.standard is not None:
            cost = w.standard
        elif h is not None and h["avg_cost"]:
            cost = h["avg_cost"]
        elif reference is not None:
            cost = (w.weight * reference).quantize(Decimal("0.01"))
        else:
            cost = None  # no standard cost at all: the case-weight step pays such a DRG's cases by item
        rows.append({"group_id": drg, "cases": h["cases"] if h else 0, "cases_kept": h["cases_kept"] if h else 0,
                     "avg_cost": cost, "relative": w.weight, "reference_cost": reference})
    return pa.Table.from_pylist(rows, schema=RELATIVE_SCHEMA)


def _same_name(name: str) -> str:
    """A name as compared: full-width forms folded (NFKC), spaces dropped — ``胰/肾`` is ``胰／肾``."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", name))


def check_weights(weights: Weights, standards, case_drgs: dict[str, int]) -> list[dict]:
    """What the table and the year's cases disagree on: ``unknown_drg`` (in the table, not in the standards),
    ``missing_weight`` (cases fall into it, the table lacks it; those cases are paid by item) and ``name_differs``
    (the table's name is not the standards'). One dict per problem, with a Chinese message."""
    problems = []
    known = standards.drg_names
    for drg in sorted(weights.rows):
        w = weights.rows[drg]
        if drg not in known:
            problems.append({"kind": "unknown_drg", "drg": drg, "cases": case_drgs.get(drg, 0),
                             "message": f"权重表第 {w.line} 行的 DRG {drg} 不在分组标准中"})
        elif w.name and _same_name(w.name) != _same_name(known[drg]):
            problems.append({"kind": "name_differs", "drg": drg, "cases": case_drgs.get(drg, 0),
                             "message": f"权重表第 {w.line} 行 DRG {drg} 的名称“{w.name}”与分组标准的“{known[drg]}”不同"})
    for drg in sorted(case_drgs):
        if drg not in weights.rows:
            problems.append({"kind": "missing_weight", "drg": drg, "cases": case_drgs[drg],
                             "message": f"{case_drgs[drg]} 个病例分入 DRG {drg}，权重表中没有它的权重（按项目结算）"})
    return problems
