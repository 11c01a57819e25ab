"""Statements (结算单与公开表): a workbook per institution, a regional workbook, a public CSV.

- ``statements/机构/<编码>_<名称>.xlsx`` — the institution's year: a one-page statement
  (年度结算单: per pot quota, booked, paid, deferred, withheld, returned, shared, final transfer),
  the twelve months per pot (月度明细) and the clearing with its calculation note (年终清算).
- ``statements/全市汇总.xlsx`` — pots, institutions, the split, the negotiated adjustments.
- ``statements/公开_<年度>年总额控制结果.csv`` — what the agency publishes (信息公开): per
  institution its quota, bookings and what the fund paid, without scores or internal notes.

Headers are the Chinese headers of :data:`yibao.budget.year.COLUMNS`; money stays exact in the
CSV files beside the workbooks.
"""

from __future__ import annotations

from pathlib import Path

from yibao.budget.split import CATEGORY_ZH, pot_zh
from yibao.budget.year import COLUMNS, POTS, YearResult
from yibao.contract.vocab import KIND_ZH, LEVEL_ZH, level_zh
from yibao.engine.csvfile import rows_csv_text
from yibao.engine.excel import Col, Sheet, table_sheet, write_workbook
from yibao.engine.money import ZERO, fmt
from yibao.engine.outdir import safe_id, safe_name, safe_path
from yibao.settle.report import Issuer, statement_head

STATEMENT_LINES = (  # (label, clearing key) of the one-page statement, in reading order
    ("年度指标", "quota"), ("记账金额", "booked"), ("按月拨付", "paid_monthly"), ("暂缓拨付", "deferred"),
    ("预留质量保证金", "deposit_withheld"), ("预留年终清算资金", "reserve_withheld"), ("结余留用", "saving_kept"),
    ("超支基金分担", "overrun_fund_share"), ("超支机构承担", "overrun_borne"), ("合理超支补偿", "compensation"),
    ("返还保证金", "deposit_returned"), ("扣减保证金", "deposit_deducted"), ("年度应付", "entitlement"),
    ("已拨付", "already_transferred"), ("清算拨付（负数为应退回）", "final_transfer"),
)
PUBLIC = ("institution_id", "name", "kind", "level", "quota", "booked", "saving_kept", "overrun_fund_share",
          "compensation", "deposit_deducted", "entitlement")


# the workbook kind of each COLUMNS type (yibao.engine.excel); keys below override
KIND_OF_TYPE = {"str": "text", "int": "count", "bool": "bool", "money": "money", "share": "share", "rate": "share",
                "rate2": "weight"}
KIND_OF_KEY = {"month": "int", "index": "int", "months_in_force": "int", "factor": "weight", "score": "score",
               "institution_id": "code"}
LABELS = {"kind": KIND_ZH, "level": LEVEL_ZH, "category": CATEGORY_ZH,
          "pot": {p: pot_zh(p) for p in POTS}}


def _sheet(title: str, result: YearResult, name: str, rows: list[dict], notes=(), total: bool = True) -> Sheet:
    spec = [(k, zh, KIND_OF_KEY.get(k, KIND_OF_TYPE[t])) for k, zh, t in COLUMNS[name]]
    labels = {k: v for k, v in LABELS.items() if not (name == "pots" and k == "pot")}
    return table_sheet(title, spec, rows, notes, labels=labels, total=total,
                       totals={"group_quota": False, "institutions": False})


def institution_workbook(result: YearResult, institution_id: str, path: Path, issuer: Issuer | None = None) -> None:
    inst = result.institutions[institution_id]
    clearing = [r for r in result.rows("clearing") if r["institution_id"] == institution_id]
    months = [r for r in result.rows("months") if r["institution_id"] == institution_id]
    pots = [r["pot"] for r in clearing]
    header = [Col("项目")] + [Col(pot_zh(p), "money") for p in pots] + [Col("合计", "money")]
    lines = [[label] + [r[key] for r in clearing] + [sum((r[key] for r in clearing), ZERO)]
             for label, key in STATEMENT_LINES]
    notes = statement_head("医保基金总额控制结算单", "ZEKZ", result.year, institution_id, inst.name, issuer)[1:]
    notes = [f"{inst.name}（{institution_id}）{result.year} 年度医保基金总额控制结算单", *notes,
             f"{KIND_ZH.get(inst.kind, inst.kind)}·{level_zh(inst.level)}；单位：元；"
             "依据：人社部发〔2012〕70号、韶关市按病种分值结算办法；金额四舍五入到分"]
    sheets = [Sheet("年度结算单", header, lines, notes, filter=False),
              _sheet("月度明细", result, "months", months, [f"{inst.name} {result.year} 年月度拨付明细"]),
              _sheet("年终清算", result, "clearing", clearing, [f"{inst.name} {result.year} 年年终清算"])]
    write_workbook(path, sheets)


def public_csv(result: YearResult) -> str:
    cols = {k: (zh, t) for k, zh, t in COLUMNS["institutions"]}
    rows = []
    for r in result.rows("institutions"):
        row = []
        for k in PUBLIC:
            v = r[k]
            if k == "kind":
                v = KIND_ZH.get(v, v)
            elif k == "level":
                v = level_zh(int(v))
            elif cols[k][1] == "money":
                v = fmt(v)
            row.append(v)
        rows.append(row)
    return rows_csv_text([cols[k][0] for k in PUBLIC], rows)


def write_statements(result: YearResult, out_dir: Path, issuer: Issuer | None = None) -> list[Path]:
    base = Path(out_dir) / "statements"
    written = []
    for iid in sorted({r["institution_id"] for r in result.rows("clearing")}):
        # (names from data: sanitised and checked to stay inside the output directory)
        path = safe_path(base / "机构", f"{safe_id(iid)[:69]}_{safe_name(result.institutions[iid].name)[:60]}",
                         suffix=".xlsx")
        institution_workbook(result, iid, path, issuer)
        written.append(path)
    region = base / "全市汇总.xlsx"
    write_workbook(region, [
        _sheet("项目汇总", result, "pots", result.rows("pots"), [f"{result.year} 年度总额控制全市汇总", "单位：元"]),
        _sheet("机构汇总", result, "institutions", result.rows("institutions")),
        _sheet("指标分解", result, "quotas", result.rows("quotas")),
        _sheet("协商调整", result, "adjustments", result.rows("adjustments")),
        _sheet("未纳入机构", result, "excluded", result.rows("excluded")),
    ])
    public = base / f"公开_{result.year}年总额控制结果.csv"
    public.write_text(public_csv(result), encoding="utf-8")  # (``out_dir`` is the command's fresh directory)
    return [*written, region, public]
