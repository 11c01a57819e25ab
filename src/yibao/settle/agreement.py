"""Service agreements (定点医疗机构医疗服务协议): settlement pays only services the agreement covers.

Shaoguan rules 第四条 (seed 000): "本办法适用于韶关市辖区内签订《韶关市基本医疗保险定点医疗机构医疗服务协议书》的
医疗机构" — DIP (and so DRG and per-capita payment, which the same settlement machinery runs) pays an institution
for the services its agreement covers.

**Which date counts: the service date, not the settlement date.** An agreement governs the services an
institution provides while it is in force; when the fund settles them (``settle_date``) is the agency's
bookkeeping. So a stay discharged on 2024-12-28 and settled on 2025-01-06 by an institution whose agreement
ended on 2024-12-31 is covered (and settled in 2025, as every case is by its settlement date), and a stay
discharged in 2025 is not. The service date of a case is its ``discharge_date`` (a stay is one service,
complete and billed at discharge; an outpatient visit's discharge date is the visit date), else its
``admit_date``. A case is outside its agreement when the service date is before ``agreement_start`` or after
``agreement_end`` (both inclusive days of the agreement; no end = open).

:data:`OUTSIDE_AGREEMENT` gives those cases of the settlement year and earlier (history points of DIP, weights
of DRG). DIP, DRG and per-capita settlement leave them out of every unit and every booked amount and list the
settlement year's in ``exclusions.csv`` with the reason in Chinese; the claims review flags them (rule C17,
logic ``outside_agreement``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

import pyarrow as pa

from yibao.contract.vocab import MONEY, SCHEME_ZH, SETTING_ZH
from yibao.engine.runner import Pipeline, Step

REASON_ZH = {"before_start": "服务日期早于服务协议开始日期", "after_end": "服务日期晚于服务协议结束日期"}

PARAMS_SCHEMA = pa.schema([("year", pa.int32())])

OUTSIDE_AGREEMENT_STEP = Step(
    name="settle_outside_agreement",
    main="cases",
    mode="rowwise",
    broadcast=("institutions", "settle_agreement_params"),
    sql="""
WITH c AS (
    SELECT c.case_id, c.institution_id, c.scheme, c.setting, coalesce(c.discharge_date, c.admit_date) AS service_date,
           c.settle_date, c.total_cost, c.fund_paid, i.agreement_start, i.agreement_end
    FROM cases c JOIN institutions i ON i.institution_id = c.institution_id, settle_agreement_params p
    WHERE c.case_id IS NOT NULL AND year(c.settle_date) <= p.year
)
SELECT case_id, institution_id, scheme, setting, service_date, settle_date,
       CAST(year(settle_date) AS INTEGER) AS settle_year,
       CAST(total_cost AS DECIMAL(18, 2)) AS total_cost, CAST(fund_paid AS DECIMAL(18, 2)) AS fund_paid,
       agreement_start, agreement_end,
       CASE WHEN service_date < agreement_start THEN 'before_start' ELSE 'after_end' END AS reason
FROM c
WHERE service_date < agreement_start OR (agreement_end IS NOT NULL AND service_date > agreement_end)
""",
    schema=pa.schema([("case_id", pa.string()), ("institution_id", pa.string()), ("scheme", pa.string()),
                      ("setting", pa.string()), ("service_date", pa.date32()), ("settle_date", pa.date32()),
                      ("settle_year", pa.int32()), ("total_cost", MONEY), ("fund_paid", MONEY),
                      ("agreement_start", pa.date32()), ("agreement_end", pa.date32()), ("reason", pa.string())]),
    order_by=("case_id",),
    doc="服务日期（出院日期）不在机构服务协议期内的病例（结算年度及以前）：不予结算",
)

OUTSIDE_AGREEMENT = Pipeline(
    name="settle_outside_agreement",
    steps=(OUTSIDE_AGREEMENT_STEP,),
    doc="协议期外的服务：韶关办法第四条，只结算服务协议覆盖的服务",
)


def agreement_sources(year: int) -> dict[str, pa.Table]:
    return {"settle_agreement_params": pa.table({"year": [year]}, schema=PARAMS_SCHEMA)}


# a NOT EXISTS over the pipeline's result, for the settlement steps that read cases (alias ``c``)
NOT_EXCLUDED = "NOT EXISTS (SELECT 1 FROM settle_outside_agreement x WHERE x.case_id = {alias}.case_id)"


def months_in_force(start: dt.date | None, end: dt.date | None, year: int) -> set[int]:
    """Calendar months of ``year`` on at least one day of which the agreement is in force."""
    out = set()
    for m in range(1, 13):
        first = dt.date(year, m, 1)
        last = dt.date(year + (m == 12), m % 12 + 1, 1) - dt.timedelta(days=1)
        if (start is None or start <= last) and (end is None or end >= first):
            out.add(m)
    return out


WHOLLY_EXCLUDED_ZH = ("该机构本年度{setting}服务均在服务协议期外、未予结算：扣款所涉病例本身已不予支付，不再扣减")


def wholly_excluded(excluded: pa.Table, year: int, covered: dict[str, set[str]]) -> set[tuple[str, str]]:
    """(setting, institution) pairs with services of ``year`` outside the agreement and none the settlement
    paid (``covered[setting]``: the institutions with settled services of that setting in the year)."""
    out = set()
    for r in excluded.to_pylist():
        if r["settle_year"] == year and r["institution_id"] not in covered.get(r["setting"], set()):
            out.add((r["setting"], r["institution_id"]))
    return out


# (column, 中文表头) of exclusions.csv
EXCLUSION_COLUMNS = (("institution_id", "机构编码"), ("name", "机构名称"), ("case_id", "病例号"),
                     ("setting", "就诊类型"), ("scheme", "险种"), ("service_date", "服务日期（出院日期）"),
                     ("settle_date", "结算日期"), ("agreement_start", "协议开始日期"), ("agreement_end", "协议结束日期"),
                     ("reason", "不予结算原因"), ("total_cost", "医疗总费用"), ("fund_paid", "统筹基金记账（不予支付）"))


def exclusion_rows(excluded: pa.Table, year: int, institutions: dict[str, dict], method: str,
                   keep: Callable[[dict], bool] | None = None) -> list[dict]:
    """The settlement year's excluded cases as rows for exclusions.csv (Chinese labels; ``method`` names the
    payment the case would have had; ``keep``: the cases this settlement would have paid at all)."""
    out = []
    for r in excluded.to_pylist():
        if r["settle_year"] != year or (keep is not None and not keep(r)):
            continue
        end = r["agreement_end"]
        why = (f"{REASON_ZH[r['reason']]}（协议期 {r['agreement_start']} 至 {end or '长期'}，服务日期 "
               f"{r['service_date']}）：韶关办法第四条，{method}只结算服务协议覆盖的服务")
        out.append({**r, "name": institutions.get(r["institution_id"], {}).get("name", ""),
                    "setting": SETTING_ZH.get(r["setting"], r["setting"]),
                    "scheme": SCHEME_ZH.get(r["scheme"], r["scheme"]), "reason": why})
    out.sort(key=lambda r: (r["institution_id"], r["case_id"]))
    return out


def exclusion_summary(rows: list[dict]) -> dict:
    """Per institution: cases and amounts not paid (for summary.json and the command's line)."""
    per: dict[str, dict] = {}
    for r in rows:
        p = per.setdefault(r["institution_id"], {"name": r["name"], "cases": 0, "total_cost": Decimal("0.00"),
                                                 "fund_paid": Decimal("0.00")})
        p["cases"] += 1
        p["total_cost"] += r["total_cost"]
        p["fund_paid"] += r["fund_paid"]
    return {"cases": len(rows), "fund_paid": str(sum((r["fund_paid"] for r in rows), Decimal("0.00"))),
            "institutions": {i: {**p, "total_cost": str(p["total_cost"]), "fund_paid": str(p["fund_paid"])}
                             for i, p in sorted(per.items())}}


def exclusions_line(rows: list[dict]) -> str:
    if not rows:
        return "协议期外服务：无"
    s = exclusion_summary(rows)
    parts = [f"{p['name'] or i}（{i}）{p['cases']} 例 {p['fund_paid']} 元" for i, p in s["institutions"].items()]
    return (f"协议期外服务不予结算：{len(s['institutions'])} 家机构 {s['cases']} 例，统筹基金记账 {s['fund_paid']} 元"
            f"（{'；'.join(parts)}；明细见 exclusions.csv）")
