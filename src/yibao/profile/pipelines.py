"""Region profile (机构运行概况): who treated how many, at what cost, month by month.

Three steps, one per split the runners know:

``institution_month`` (partitioned by institution_id)
    per institution × year-month (of settle_date, 结算月份) × scheme (险种) × setting (就诊类型):
    cases, distinct persons, Σ total_cost / fund_paid / self_pay / out_of_pocket_excluded,
    average cost per case (次均费用) and, for inpatients, bed days and average length of stay
    (平均住院日; a same-day stay counts as one day).
``person_year`` (partitioned by person_id)
    per person × year: inpatient stays, outpatient visits, Σ total_cost, Σ fund_paid.
``region_year`` (global, over ``institution_month``)
    per year × scheme × setting × institution kind × level: institutions, cases, sums and
    averages. Distinct persons are not additive across institutions, so they are not here.

Averages are exact DECIMAL(18,2), rounded half-up (:func:`yibao.engine.sqlmoney.div_round`).
"""

from __future__ import annotations

import random
from datetime import date, timedelta

import pyarrow as pa

from yibao.contract.schema import CASES, INSTITUTIONS
from yibao.contract.vocab import MONEY
from yibao.engine.registry import register
from yibao.engine.runner import Pipeline, Step
from yibao.engine.sqlmoney import div_round

_MONEY_COLS = ("total_cost", "fund_paid", "self_pay", "out_of_pocket_excluded")

INSTITUTION_MONTH = Step(
    name="institution_month",
    main="cases",
    mode="partitioned",
    partition_by=("institution_id",),
    sql=f"""
WITH c AS (
    SELECT *,
           strftime(settle_date, '%Y-%m') AS year_month,
           CASE WHEN setting = 'inpatient'
                THEN greatest(date_diff('day', admit_date, discharge_date), 1) END AS los_days
    FROM cases
)
SELECT institution_id, year_month, scheme, setting,
       CAST(count(*) AS BIGINT) AS cases,
       CAST(count(DISTINCT person_id) AS BIGINT) AS persons,
       {", ".join(f"CAST(sum({m}) AS DECIMAL(18,2)) AS {m}" for m in _MONEY_COLS)},
       {div_round("sum(total_cost)", "count(*)", num_scale=2)} AS avg_cost,
       CAST(sum(los_days) AS BIGINT) AS inpatient_days,
       {div_round("sum(los_days)", "count(los_days)")} AS avg_los
FROM c
GROUP BY institution_id, year_month, scheme, setting
""",
    schema=pa.schema([
        ("institution_id", pa.string()), ("year_month", pa.string()), ("scheme", pa.string()),
        ("setting", pa.string()), ("cases", pa.int64()), ("persons", pa.int64()),
        *[(m, MONEY) for m in _MONEY_COLS],
        ("avg_cost", MONEY), ("inpatient_days", pa.int64()), ("avg_los", MONEY),
    ]),
    order_by=("institution_id", "year_month", "scheme", "setting"),
    doc="机构×月份×险种×就诊类型：人次、人数、费用、次均费用、平均住院日",
)

PERSON_YEAR = Step(
    name="person_year",
    main="cases",
    mode="partitioned",
    partition_by=("person_id",),
    sql="""
SELECT person_id,
       CAST(year(settle_date) AS INTEGER) AS year,
       CAST(count(*) FILTER (WHERE setting = 'inpatient') AS BIGINT) AS inpatient_stays,
       CAST(count(*) FILTER (WHERE setting = 'outpatient') AS BIGINT) AS outpatient_visits,
       CAST(sum(total_cost) AS DECIMAL(18,2)) AS total_cost,
       CAST(sum(fund_paid) AS DECIMAL(18,2)) AS fund_paid
FROM cases
GROUP BY person_id, year
""",
    schema=pa.schema([
        ("person_id", pa.string()), ("year", pa.int32()), ("inpatient_stays", pa.int64()),
        ("outpatient_visits", pa.int64()), ("total_cost", MONEY), ("fund_paid", MONEY),
    ]),
    order_by=("person_id", "year"),
    doc="参保人×年度：住院次数、门诊人次、费用、统筹支付",
)

REGION_YEAR = Step(
    name="region_year",
    main="institution_month",
    broadcast=("institutions",),
    mode="global",
    sql=f"""
SELECT CAST(left(m.year_month, 4) AS INTEGER) AS year, m.scheme, m.setting, i.kind, i.level,
       CAST(count(DISTINCT m.institution_id) AS BIGINT) AS institutions,
       CAST(sum(m.cases) AS BIGINT) AS cases,
       {", ".join(f"CAST(sum(m.{c}) AS DECIMAL(18,2)) AS {c}" for c in _MONEY_COLS)},
       {div_round("sum(m.total_cost)", "sum(m.cases)", num_scale=2)} AS avg_cost,
       CAST(sum(m.inpatient_days) AS BIGINT) AS inpatient_days,
       {div_round("sum(m.inpatient_days)", "sum(m.cases)")} AS avg_los
FROM institution_month m
LEFT JOIN institutions i USING (institution_id)
GROUP BY ALL
""",
    schema=pa.schema([
        ("year", pa.int32()), ("scheme", pa.string()), ("setting", pa.string()),
        ("kind", pa.string()), ("level", pa.int32()), ("institutions", pa.int64()),
        ("cases", pa.int64()), *[(m, MONEY) for m in _MONEY_COLS],
        ("avg_cost", MONEY), ("inpatient_days", pa.int64()), ("avg_los", MONEY),
    ]),
    order_by=("year", "scheme", "setting", "kind", "level"),
    doc="年度×险种×就诊类型×机构类型×级别：全区汇总",
)

PROFILE = Pipeline(
    name="region_profile",
    steps=(INSTITUTION_MONTH, PERSON_YEAR, REGION_YEAR),
    doc="机构运行概况",
)


def example_sources() -> dict[str, pa.Table]:
    """A small deterministic region: 8 institutions, 60 persons, ~300 cases over a year end.

    Edge cases on purpose: an institution without cases, a same-day inpatient stay, a zero-cost
    visit, very large amounts, a month whose average cost is exactly half a fen (0.005 → 0.01),
    nulls and empty lists in the optional columns.
    """
    rng = random.Random(20240601)
    institutions = [
        # id, name, kind, level, category, agreement_end
        ("H001", "市第一人民医院", "hospital", 3, "general", None),
        ("H002", "市中医院", "hospital", 3, "tcm", date(2026, 12, 31)),
        ("H003", "县人民医院", "hospital", 2, "general", None),
        ("H004", "妇幼保健院", "hospital", 2, "maternal_child", None),
        ("P001", "城关镇卫生院", "primary", 1, "general", None),
        ("P002", "社区卫生服务中心", "primary", 0, "general", None),
        ("D001", "百姓大药房", "pharmacy", 0, "other", None),
        ("H009", "新签约医院（无结算）", "hospital", 1, "specialist", None),
    ]
    inst = pa.table({
        "institution_id": [r[0] for r in institutions],
        "name": [r[1] for r in institutions],
        "kind": [r[2] for r in institutions],
        "level": [r[3] for r in institutions],
        "category": [r[4] for r in institutions],
        "region_code": ["330102"] * len(institutions),
        "agreement_start": [date(2020, 1, 1)] * len(institutions),
        "agreement_end": [r[5] for r in institutions],
    }, schema=INSTITUTIONS.arrow_schema())

    rows: list[dict] = []

    def case(person: int, inst_id: str, setting: str, admit: date, days: int, fen: int, **extra) -> None:
        excluded = fen * rng.choice((0, 0, 3, 8)) // 100
        self_pay = (fen - excluded) * rng.choice((10, 15, 25, 30)) // 100
        discharge = admit + timedelta(days=days)
        rows.append({
            "case_id": f"C{len(rows) + 1:05d}", "person_id": f"R{person:04d}", "institution_id": inst_id,
            "scheme": "employee" if person % 3 == 0 else "resident",
            "sex": None if person % 17 == 0 else ("1" if person % 2 else "2"),
            "age_years": None if person % 13 == 0 else 20 + person % 70,
            "setting": setting, "admit_date": admit, "discharge_date": discharge,
            "dept_code": None if len(rows) % 7 == 0 else "A03",
            "attending_staff_id": f"S{inst_id}{person % 4}" if len(rows) % 11 else None,
            "principal_dx": rng.choice(("J18.900", "I10.x00", "K80.100", "E11.900")),
            "secondary_dx": rng.choice((None, [], ["I10.x00"], ["E11.900", "J44.900"])),
            "procedures": ["54.4x15"] if setting == "inpatient" and rng.random() < 0.2 else None,
            "discharge_mode": "1" if setting == "inpatient" else None,
            "emergency": rng.choice((None, False, True)),
            "total_cost": fen, "fund_paid": fen - excluded - self_pay, "self_pay": self_pay,
            "out_of_pocket_excluded": excluded,
            "settle_date": discharge + timedelta(days=rng.choice((0, 0, 1, 3))),
            **extra,
        })

    start = date(2023, 11, 1)
    for _ in range(290):
        person = rng.randrange(1, 61)
        inst_id = rng.choice(("H001", "H002", "H003", "H004", "P001", "P002", "D001"))
        admit = start + timedelta(days=rng.randrange(0, 120))
        if inst_id.startswith("H") and rng.random() < 0.35:
            case(person, inst_id, "inpatient", admit, rng.randrange(0, 15), rng.randrange(200_000, 5_000_000))
        else:
            case(person, inst_id, "outpatient", admit, 0, rng.randrange(0, 60_000))
    case(7, "H001", "inpatient", date(2023, 12, 31), 0, 812_345)  # same-day stay, settled over the year end
    case(8, "H001", "outpatient", date(2024, 1, 2), 0, 0)  # zero-cost visit
    case(9, "H001", "inpatient", date(2024, 2, 1), 20, 999_999_999)  # 9 999 999.99
    case(10, "H001", "inpatient", date(2024, 2, 2), 20, 999_999_999)
    # the only two March pharmacy cases: 0.01 + 0.00 → average 0.005 → 0.01 half-up
    case(12, "D001", "outpatient", date(2024, 3, 5), 0, 1, settle_date=date(2024, 3, 5),
         scheme="resident", out_of_pocket_excluded=0, self_pay=0, fund_paid=1)
    case(14, "D001", "outpatient", date(2024, 3, 6), 0, 0, settle_date=date(2024, 3, 6), scheme="resident")

    schema = CASES.arrow_schema()
    cases = pa.table({
        f.name: pa.array([_money(r.get(f.name), f.type) for r in rows], f.type) for f in schema
    }, schema=schema)
    return {"cases": cases, "institutions": inst}


def _money(value, type_: pa.DataType):
    """Fen (integer) → Decimal yuan for money columns; other values unchanged."""
    if pa.types.is_decimal(type_) and isinstance(value, int):
        from decimal import Decimal

        return Decimal(value).scaleb(-2)
    return value


register(PROFILE, fixture=example_sources)
