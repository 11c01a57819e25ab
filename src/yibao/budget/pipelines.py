"""Budget inputs from the settlement lists (总额分解与月度结算的数据基础), on every engine.

Two steps, both partitioned by ``institution_id`` (each institution's rows are enough):

``budget_history``
    per institution × year (of ``settle_date``) × scheme × setting: 人次 (``visits`` = settled
    cases: outpatient visits, inpatient stays), distinct persons (人数), Σ ``fund_paid``
    (统筹基金记账). The split (:mod:`yibao.budget.split`) weights the three years before the
    budget year; the clearing compares the budget year's 人次 with the year before.
``budget_month``
    per institution × year × month (of ``settle_date``) × scheme × setting: 人次 and Σ
    ``fund_paid``. The monthly cycle (:mod:`yibao.budget.cycle`) pays the budget year's months
    against the quotas; last year's months give the seasonality; the mid-year adjustment
    compares workloads month by month.

Every year in the data is aggregated (the step has no parameter); the budget code picks the
years it needs. Sums are exact ``DECIMAL(18,2)``; counts ``BIGINT``.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pyarrow as pa

from yibao.contract.schema import CASES, INSTITUTIONS
from yibao.contract.vocab import MONEY
from yibao.engine.registry import register
from yibao.engine.runner import Pipeline, Step

HISTORY = Step(
    name="budget_history",
    main="cases",
    mode="partitioned",
    partition_by=("institution_id",),
    sql="""
SELECT institution_id,
       CAST(year(settle_date) AS INTEGER) AS year,
       scheme, setting,
       CAST(count(*) AS BIGINT) AS visits,
       CAST(count(DISTINCT person_id) AS BIGINT) AS persons,
       CAST(sum(fund_paid) AS DECIMAL(18,2)) AS fund_paid
FROM cases
GROUP BY institution_id, year, scheme, setting
""",
    schema=pa.schema([
        ("institution_id", pa.string()), ("year", pa.int32()), ("scheme", pa.string()), ("setting", pa.string()),
        ("visits", pa.int64()), ("persons", pa.int64()), ("fund_paid", MONEY),
    ]),
    order_by=("institution_id", "year", "scheme", "setting"),
    doc="机构×年度×险种×就诊类型：人次、人数、统筹基金记账金额（总额分解的历史数据）",
)

MONTH = Step(
    name="budget_month",
    main="cases",
    mode="partitioned",
    partition_by=("institution_id",),
    sql="""
SELECT institution_id,
       CAST(year(settle_date) AS INTEGER) AS year,
       CAST(month(settle_date) AS INTEGER) AS month,
       scheme, setting,
       CAST(count(*) AS BIGINT) AS visits,
       CAST(sum(fund_paid) AS DECIMAL(18,2)) AS fund_paid
FROM cases
GROUP BY institution_id, year, month, scheme, setting
""",
    schema=pa.schema([
        ("institution_id", pa.string()), ("year", pa.int32()), ("month", pa.int32()), ("scheme", pa.string()),
        ("setting", pa.string()), ("visits", pa.int64()), ("fund_paid", MONEY),
    ]),
    order_by=("institution_id", "year", "month", "scheme", "setting"),
    doc="机构×年度×月份×险种×就诊类型：人次、统筹基金记账金额（月度结算、季节性、年中调整）",
)

BUDGET_INPUTS = Pipeline(
    name="budget_inputs",
    steps=(HISTORY, MONTH),
    doc="总额控制：分解与月度结算所需的机构汇总数据",
)


def example_sources() -> dict[str, pa.Table]:
    """A hand-made region of 5 institutions over 2022–2025 (budget year 2025), 2 schemes, 2 settings.

    On purpose: a person seen twice in a year (persons < visits), a zero fund amount, a case
    settled in January for a December stay, a pharmacy (not in the split), an institution with
    no cases, and one whose agreement ended in 2024.
    """
    inst = [
        # id, name, kind, level, category, start, end
        ("H1", "市人民医院", "hospital", 3, "general", date(2015, 1, 1), None),
        ("H2", "县中医院", "hospital", 2, "tcm", date(2015, 1, 1), None),
        ("P1", "城关镇卫生院", "primary", 1, "general", date(2015, 1, 1), None),
        ("D1", "百姓大药房", "pharmacy", 0, "other", date(2015, 1, 1), None),
        ("H3", "已退出医院", "hospital", 2, "specialist", date(2015, 1, 1), date(2024, 6, 30)),
        ("H4", "新签约医院", "hospital", 1, "other", date(2025, 4, 1), None),
    ]
    institutions = pa.table({
        "institution_id": [r[0] for r in inst], "name": [r[1] for r in inst], "kind": [r[2] for r in inst],
        "level": [r[3] for r in inst], "category": [r[4] for r in inst], "region_code": ["440200"] * len(inst),
        "agreement_start": [r[5] for r in inst], "agreement_end": [r[6] for r in inst],
    }, schema=INSTITUTIONS.arrow_schema())

    rows: list[dict] = []

    def case(inst_id: str, person: str, scheme: str, setting: str, day: date, fund: str, stay: int = 0) -> None:
        admit = day - timedelta(days=stay)
        fund_d = Decimal(fund)
        rows.append({
            "case_id": f"B{len(rows) + 1:04d}", "person_id": person, "institution_id": inst_id, "scheme": scheme,
            "sex": "1", "age_years": 50, "setting": setting, "admit_date": admit, "discharge_date": day,
            "principal_dx": "J18.900", "total_cost": fund_d * 2, "fund_paid": fund_d, "self_pay": fund_d,
            "out_of_pocket_excluded": Decimal("0.00"), "settle_date": day,
        })

    for year in (2022, 2023, 2024, 2025):
        k = year - 2021
        for month in (1, 4, 7, 12):
            d = date(year, month, 10)
            case("H1", "A1", "employee", "inpatient", d, f"{8000 + 100 * k + month}.50", stay=5)
            case("H1", "A2", "resident", "inpatient", d, f"{6000 + 50 * k}.25", stay=3)
            case("H1", "A1", "employee", "outpatient", d, f"{120 + k}.10")
            case("H2", "A3", "resident", "outpatient", d, f"{80 + month}.00")
            case("H2", "A3", "resident", "outpatient", d + timedelta(days=1), "0.00")
            case("P1", "A4", "resident", "outpatient", d, f"{40 + k}.35")
            case("P1", "A5", "employee", "outpatient", d, "35.00")
            case("D1", "A4", "resident", "outpatient", d, "20.00")
            if year <= 2024:
                case("H3", "A6", "employee", "inpatient", d, "5000.00", stay=7)
        case("H2", "A7", "employee", "inpatient", date(year, 12, 30), f"{3000 + k}.00", stay=4)
    rows[-1]["settle_date"] = date(2026, 1, 3)  # a December 2025 stay settled in January 2026
    case("H4", "A8", "resident", "inpatient", date(2025, 5, 20), "4200.00", stay=2)

    schema = CASES.arrow_schema()
    cases = pa.table({f.name: pa.array([r.get(f.name) for r in rows], f.type) for f in schema}, schema=schema)
    return {"cases": cases, "institutions": institutions}


register(BUDGET_INPUTS, fixture=example_sources)
