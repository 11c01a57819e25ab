"""Institution indicators and peer bands (机构考核指标、同级对比) as one engine-neutral pipeline.

Steps (set-based DuckDB SQL, exact DECIMAL arithmetic; every division by
:func:`yibao.engine.sqlmoney.div_round`, half-up to 4 places, NULL when the denominator is 0):

``assess_case_fees`` (partitioned by case_id over ``fee_items``)
    per case: Σ amount of drug lines, Σ amount of all lines.
``assess_stock`` (global over ``assess_stocking``, the optional stocking list)
    per institution in the list: catalogue drugs it should stock, and how many of them it stocks.
``assess_staff`` (global over ``staff``)
    per institution: staff, and staff suspended or terminated on some day of the year.
``assess_cases`` (partitioned by institution_id over ``cases``)
    one row per case settled in the year with the facts the indicators count: LOS (a same-day stay 1),
    money, fee sums, and the flags readmission (0–15 days after the same person's discharge from an
    earlier inpatient case at the same institution, settled in any year), referral, revisit, surgery,
    elective, severe. Everything a flag looks at is the same institution's, so a partition is whole.
``assess_base`` (global): numerators and denominators per grain — ``institution``, ``pot``
    (scheme × setting, region-wide), ``county`` (the institution's region_code) and ``region``.
``assess_values`` (global): one row per grain, unit and indicator.
``assess_bands`` (global): per institution and indicator its peer band (same kind and level): count,
    quartiles (type 7: linear interpolation between order statistics, as Excel's QUARTILE.INC), fences
    Q1 − k·IQR and Q3 + k·IQR, and where the value lies.

"Earlier" case (readmission, revisit): admitted earlier; on the same admission date, discharged earlier;
then the smaller case_id. Definitions and sources: docs/assess.md and ``defaults.toml``.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pyarrow as pa

from yibao.assess.policy import ALL_INDICATORS, READMIT_DAYS, AssessPolicy
from yibao.contract.derived import QUALIFICATION_PERIODS
from yibao.contract.schema import TABLES
from yibao.engine.registry import register
from yibao.engine.runner import Pipeline, Step
from yibao.engine.sqlmoney import div_round

MONEY = pa.decimal128(18, 2)
SUM = pa.decimal128(38, 2)
VALUE = pa.decimal128(18, 4)

PARAMS_SCHEMA = pa.schema([
    ("year", pa.int32()), ("readmit_days", pa.int32()), ("revisit_window", pa.int32()),
    ("revisit_min_gap", pa.int32()), ("revisit_same_dx", pa.bool_()), ("death_mode", pa.string()),
    ("use_cc", pa.bool_()), ("has_standards", pa.bool_()), ("has_severe_dx", pa.bool_()),
    ("iqr_multiple", pa.decimal128(9, 4)),
    ("min_peers", pa.int32()),
])
CODES_SCHEMA = pa.schema([("code", pa.string())])
SEVERE_DX_SCHEMA = pa.schema([("code", pa.string()), ("kind", pa.string())])
ICU_SCHEMA = pa.schema([("prefix", pa.string())])
STOCKING_SCHEMA = pa.schema([("institution_id", pa.string()), ("item_code", pa.string())])


def params_table(policy: AssessPolicy, year: int, has_standards: bool, has_severe_dx: bool | None = None) -> pa.Table:
    return pa.table({
        "year": [year], "readmit_days": [READMIT_DAYS], "revisit_window": [policy.revisit_window_days],
        "revisit_min_gap": [policy.revisit_min_gap_days], "revisit_same_dx": [policy.revisit_same_dx],
        "death_mode": [policy.death_discharge_mode], "use_cc": [policy.severe_use_cc],
        "has_standards": [has_standards],
        "has_severe_dx": [has_standards if has_severe_dx is None else has_severe_dx], "iqr_multiple": [policy.iqr_multiple],
        "min_peers": [policy.min_peers],
    }, schema=PARAMS_SCHEMA)


def icu_table(policy: AssessPolicy) -> pa.Table:
    return pa.table({"prefix": list(policy.icu_dept_prefixes)}, schema=ICU_SCHEMA)


CASE_FEES = Step(
    name="assess_case_fees",
    main="fee_items",
    mode="partitioned",
    partition_by=("case_id",),
    sql="""
SELECT case_id,
       CAST(coalesce(sum(amount) FILTER (WHERE item_kind = 'drug'), 0) AS DECIMAL(38, 2)) AS drug_amount,
       CAST(coalesce(sum(amount), 0) AS DECIMAL(38, 2)) AS line_amount
FROM fee_items
GROUP BY case_id
""",
    schema=pa.schema([("case_id", pa.string()), ("drug_amount", SUM), ("line_amount", SUM)]),
    order_by=("case_id",),
    doc="每病例：药品费用、明细费用合计",
)

STOCK = Step(
    name="assess_stock",
    main="assess_stocking",
    mode="global",
    broadcast=("catalog", "institutions", "assess_params"),
    sql="""
WITH p AS (SELECT make_date(year, 12, 31) AS year_end FROM assess_params),
drugs AS (  -- catalogue drugs in force at the year's end (甲类、乙类)
    SELECT DISTINCT c.item_code, c.min_level FROM catalog c, p
    WHERE c.item_kind = 'drug' AND c.class IN ('A', 'B')
      AND (c.valid_from IS NULL OR c.valid_from <= p.year_end) AND (c.valid_to IS NULL OR c.valid_to >= p.year_end)
),
listed AS (SELECT DISTINCT trim(institution_id) AS institution_id, trim(item_code) AS item_code FROM assess_stocking
           WHERE institution_id IS NOT NULL AND item_code IS NOT NULL),
inst AS (SELECT DISTINCT l.institution_id, i.level FROM listed l LEFT JOIN institutions i USING (institution_id)),
required AS (
    SELECT inst.institution_id, d.item_code FROM inst JOIN drugs d ON d.min_level IS NULL OR d.min_level <= inst.level
)
SELECT inst.institution_id,
       CAST(count(DISTINCT r.item_code) AS BIGINT) AS required,
       CAST(count(DISTINCT l.item_code) AS BIGINT) AS stocked_required
FROM inst
LEFT JOIN required r ON r.institution_id = inst.institution_id
LEFT JOIN listed l ON l.institution_id = r.institution_id AND l.item_code = r.item_code
GROUP BY inst.institution_id
""",
    schema=pa.schema([("institution_id", pa.string()), ("required", pa.int64()), ("stocked_required", pa.int64())]),
    order_by=("institution_id",),
    doc="备药清单：应备目录内药品品种数与已备品种数",
)

STAFF = Step(
    name="assess_staff",
    main="staff",
    mode="global",
    broadcast=("assess_periods", "assess_params"),
    sql="""
WITH p AS (SELECT make_date(year, 1, 1) AS y0, make_date(year + 1, 1, 1) AS y1 FROM assess_params),
hit AS (  -- staff without payment qualification on some day of the year (periods: [start, end))
    SELECT DISTINCT q.staff_id FROM assess_periods q, p
    WHERE q.status IN ('suspended', 'terminated') AND q.start_date < p.y1 AND (q.end_date IS NULL OR q.end_date > p.y0)
)
SELECT s.institution_id, CAST(count(DISTINCT s.staff_id) AS BIGINT) AS staff,
       CAST(count(DISTINCT h.staff_id) AS BIGINT) AS sanctioned
FROM staff s LEFT JOIN hit h ON h.staff_id = s.staff_id
WHERE s.institution_id IS NOT NULL
GROUP BY s.institution_id
""",
    schema=pa.schema([("institution_id", pa.string()), ("staff", pa.int64()), ("sanctioned", pa.int64())]),
    order_by=("institution_id",),
    doc="相关人员数与年内暂停或终止支付资格人数",
)

CASES = Step(
    name="assess_cases",
    main="cases",
    mode="partitioned",
    partition_by=("institution_id",),
    broadcast=("assess_case_fees", "assess_params", "assess_procedures", "assess_severe_dx", "assess_icu",
               "institutions"),
    sql="""
WITH p AS (SELECT * FROM assess_params),
y AS (SELECT c.* FROM cases c, p WHERE year(c.settle_date) = p.year),
hist AS (SELECT case_id, person_id, institution_id, setting, admit_date, discharge_date,
                upper(substr(trim(principal_dx), 1, 3)) AS dx_cat
         FROM cases),
readmit AS (
    SELECT DISTINCT b.case_id
    FROM y b JOIN hist a ON a.person_id = b.person_id AND a.institution_id = b.institution_id
                        AND a.setting = 'inpatient' AND a.case_id <> b.case_id, p
    WHERE b.setting = 'inpatient'
      AND date_diff('day', a.discharge_date, b.admit_date) BETWEEN 0 AND p.readmit_days
      AND (a.admit_date < b.admit_date
           OR a.admit_date = b.admit_date AND (a.discharge_date < b.discharge_date
                                               OR a.discharge_date = b.discharge_date AND a.case_id < b.case_id))
),
revisit AS (
    SELECT DISTINCT b.case_id
    FROM y b JOIN hist a ON a.person_id = b.person_id AND a.institution_id = b.institution_id
                        AND a.setting = 'outpatient' AND a.case_id <> b.case_id, p
    WHERE b.setting = 'outpatient'
      AND date_diff('day', a.admit_date, b.admit_date) BETWEEN p.revisit_min_gap AND p.revisit_window
      AND (a.admit_date < b.admit_date OR a.admit_date = b.admit_date AND a.case_id < b.case_id)
      AND (NOT p.revisit_same_dx OR a.dx_cat = upper(substr(trim(b.principal_dx), 1, 3)))
),
procs AS (SELECT case_id, trim(code) AS code
          FROM (SELECT case_id, unnest(procedures) AS code FROM y WHERE setting = 'inpatient')),
surg AS (SELECT DISTINCT case_id FROM procs WHERE code IN (SELECT trim(code) FROM assess_procedures)),
sdx AS (SELECT case_id, upper(trim(dx)) AS dx
        FROM (SELECT case_id, unnest(secondary_dx) AS dx FROM y WHERE setting = 'inpatient')),
sev_dx AS (SELECT DISTINCT s.case_id FROM sdx s JOIN assess_severe_dx d ON upper(trim(d.code)) = s.dx, p
           WHERE d.kind = 'mcc' OR p.use_cc),
icu AS (SELECT DISTINCT y.case_id FROM y JOIN assess_icu u ON starts_with(trim(y.dept_code), trim(u.prefix))
        WHERE y.setting = 'inpatient')
SELECT y.case_id, y.institution_id, y.person_id, y.scheme, y.setting, i.region_code,
       CAST(CASE WHEN y.setting = 'inpatient'
                 THEN greatest(date_diff('day', y.admit_date, y.discharge_date), 1) END AS INTEGER) AS los,
       y.total_cost, y.self_pay, y.out_of_pocket_excluded,
       coalesce(f.drug_amount, 0) AS drug_amount, coalesce(f.line_amount, 0) AS line_amount,
       y.setting = 'inpatient' AND r.case_id IS NOT NULL AS readmit,
       y.setting = 'inpatient' AND coalesce(y.discharge_mode = '2', false) AS referral,
       y.setting = 'outpatient' AND v.case_id IS NOT NULL AS revisit,
       CASE WHEN p.has_standards AND y.setting = 'inpatient' THEN s.case_id IS NOT NULL END AS surgery,
       y.emergency,
       CASE WHEN p.has_severe_dx AND y.setting = 'inpatient'
            THEN coalesce(y.discharge_mode = p.death_mode, false) OR u.case_id IS NOT NULL OR d.case_id IS NOT NULL
       END AS severe
FROM y CROSS JOIN p
LEFT JOIN institutions i ON i.institution_id = y.institution_id
LEFT JOIN assess_case_fees f ON f.case_id = y.case_id
LEFT JOIN readmit r ON r.case_id = y.case_id
LEFT JOIN revisit v ON v.case_id = y.case_id
LEFT JOIN surg s ON s.case_id = y.case_id
LEFT JOIN sev_dx d ON d.case_id = y.case_id
LEFT JOIN icu u ON u.case_id = y.case_id
""",
    schema=pa.schema([
        ("case_id", pa.string()), ("institution_id", pa.string()), ("person_id", pa.string()),
        ("scheme", pa.string()), ("setting", pa.string()), ("region_code", pa.string()), ("los", pa.int32()),
        ("total_cost", MONEY), ("self_pay", MONEY), ("out_of_pocket_excluded", MONEY),
        ("drug_amount", SUM), ("line_amount", SUM), ("readmit", pa.bool_()), ("referral", pa.bool_()),
        ("revisit", pa.bool_()), ("surgery", pa.bool_()), ("emergency", pa.bool_()), ("severe", pa.bool_()),
    ]),
    order_by=("case_id",),
    doc="考核年度结算病例：住院日、费用、再住院、转院、复诊、手术、重症标志",
)

_IP, _OP = "setting = 'inpatient'", "setting = 'outpatient'"
_COUNTS = {
    "ip_cases": f"count(*) FILTER (WHERE {_IP})",
    "op_visits": f"count(*) FILTER (WHERE {_OP})",
    "los_sum": f"coalesce(sum(los) FILTER (WHERE {_IP}), 0)",
    "ip_persons": f"count(DISTINCT person_id) FILTER (WHERE {_IP})",
    "op_persons": f"count(DISTINCT person_id) FILTER (WHERE {_OP})",
    "readmits": "count(*) FILTER (WHERE readmit)",
    "referrals": "count(*) FILTER (WHERE referral)",
    "revisits": "count(*) FILTER (WHERE revisit)",
    "surg_cases": "count(*) FILTER (WHERE surgery)",
    "elective_num": "count(*) FILTER (WHERE surgery AND emergency = false)",
    "elective_den": "count(*) FILTER (WHERE surgery AND emergency IS NOT NULL)",
    "severe_cases": "count(*) FILTER (WHERE severe)",
}
_SUMS = {
    "ip_cost": f"sum(total_cost) FILTER (WHERE {_IP})",
    "op_cost": f"sum(total_cost) FILTER (WHERE {_OP})",
    "cost_sum": "sum(total_cost)",
    "burden_sum": "sum(self_pay + out_of_pocket_excluded)",
    "ooe_sum": "sum(out_of_pocket_excluded)",
    "drug_sum": "sum(drug_amount)",
    "line_sum": "sum(line_amount)",
}

BASE = Step(
    name="assess_base",
    main="assess_cases",
    mode="global",
    sql=f"""
SELECT CASE WHEN grouping(institution_id) = 0 THEN 'institution' WHEN grouping(scheme) = 0 THEN 'pot'
            WHEN grouping(region_code) = 0 THEN 'county' ELSE 'region' END AS grain,
       CASE WHEN grouping(institution_id) = 0 THEN institution_id
            WHEN grouping(scheme) = 0 THEN scheme || '/' || setting
            WHEN grouping(region_code) = 0 THEN coalesce(region_code, '') ELSE '' END AS unit_id,
       {", ".join(f"CAST({e} AS BIGINT) AS {n}" for n, e in _COUNTS.items())},
       {", ".join(f"CAST(coalesce({e}, 0) AS DECIMAL(38, 2)) AS {n}" for n, e in _SUMS.items())}
FROM assess_cases
GROUP BY GROUPING SETS ((institution_id), (scheme, setting), (region_code), ())
""",
    schema=pa.schema([("grain", pa.string()), ("unit_id", pa.string()),
                      *[(n, pa.int64()) for n in _COUNTS], *[(n, SUM) for n in _SUMS]]),
    order_by=("grain", "unit_id"),
    doc="分子分母：机构、险种×就诊类型（基金池）、区县、全区",
)


def _q(num: str, den: str, num_scale: int = 0) -> str:
    return div_round(num, den, num_scale=num_scale, scale=4)


# indicator → (SQL value over assess_base, condition for the row to exist or None)
_VALUE_SQL: dict[str, tuple[str, str | None]] = {
    "inpatient_cases": ("CAST(b.ip_cases AS DECIMAL(18, 4))", None),
    "outpatient_visits": ("CAST(b.op_visits AS DECIMAL(18, 4))", None),
    "cost_per_inpatient_case": (_q("b.ip_cost", "b.ip_cases", 2), None),
    "cost_per_outpatient_visit": (_q("b.op_cost", "b.op_visits", 2), None),
    "avg_los": (_q("b.los_sum", "b.ip_cases"), None),
    "inpatient_per_person": (_q("b.ip_cases", "b.ip_persons"), None),
    "outpatient_per_person": (_q("b.op_visits", "b.op_persons"), None),
    "admission_rate": (_q("b.ip_cases", "b.op_visits"), None),
    "readmission_15d_rate": (_q("b.readmits", "b.ip_cases"), None),
    "referral_out_rate": (_q("b.referrals", "b.ip_cases"), None),
    "burden_share": (div_round("b.burden_sum", "b.cost_sum", num_scale=2, den_scale=2, scale=4), None),
    "out_of_catalogue_share": (div_round("b.ooe_sum", "b.cost_sum", num_scale=2, den_scale=2, scale=4), None),
    "drug_share": (div_round("b.drug_sum", "b.line_sum", num_scale=2, den_scale=2, scale=4), None),
    "surgery_rate": (_q("b.surg_cases", "b.ip_cases"), "p.has_standards"),
    "revisit_rate": (_q("b.revisits", "b.op_visits"), None),
    "elective_surgery_rate": (_q("b.elective_num", "b.elective_den"), "p.has_standards"),
    "severe_case_share": (_q("b.severe_cases", "b.ip_cases"), "p.has_severe_dx"),
    "stocking_rate": (_q("b.stocked_required", "b.required"), "b.grain = 'institution' AND b.st_institution IS NOT NULL"),
    "staff_sanction_share": (_q("b.sanctioned", "b.staff"), "b.grain = 'institution'"),
}
assert tuple(_VALUE_SQL) == ALL_INDICATORS


def _value_select(name: str) -> str:
    expr, cond = _VALUE_SQL[name]
    where = f" WHERE {cond}" if cond else ""
    return (f"SELECT b.grain, b.unit_id, '{name}' AS indicator, {ALL_INDICATORS.index(name) + 1} AS ord, "
            f"{expr} AS value FROM b, p{where}")


VALUES = Step(
    name="assess_values",
    main="assess_base",
    mode="global",
    broadcast=("assess_stock", "assess_staff", "assess_params"),
    sql="""
WITH p AS (SELECT * FROM assess_params),
b AS (
    SELECT base.*, st.institution_id AS st_institution, st.required, st.stocked_required, sf.staff, sf.sanctioned
    FROM assess_base base
    LEFT JOIN assess_stock st ON base.grain = 'institution' AND st.institution_id = base.unit_id
    LEFT JOIN assess_staff sf ON base.grain = 'institution' AND sf.institution_id = base.unit_id
)
""" + "\nUNION ALL ".join(_value_select(n) for n in ALL_INDICATORS),
    schema=pa.schema([("grain", pa.string()), ("unit_id", pa.string()), ("indicator", pa.string()),
                      ("ord", pa.int32()), ("value", VALUE)]),
    order_by=("grain", "unit_id", "ord"),
    doc="指标值（精确小数，四舍五入到 4 位；分母为 0 时为空）",
)


def _quartile(k: int) -> str:
    i = f"(((n - 1) * {k}) // 4 + 1)"
    frac = f"CAST(((n - 1) * {k}) % 4 AS DECIMAL(4, 0))"
    return (f"CAST(round(xs[{i}] + (coalesce(xs[{i} + 1], xs[{i}]) - xs[{i}]) * {frac} * CAST(0.25 AS DECIMAL(3, 2)), 4)"
            f" AS DECIMAL(18, 4))")


BANDS = Step(
    name="assess_bands",
    main="assess_values",
    mode="global",
    broadcast=("institutions", "assess_params"),
    sql=f"""
WITH p AS (SELECT * FROM assess_params),
v AS (SELECT a.unit_id AS institution_id, a.indicator, a.ord, a.value, i.kind, CAST(i.level AS INTEGER) AS level
      FROM assess_values a LEFT JOIN institutions i ON i.institution_id = a.unit_id
      WHERE a.grain = 'institution'),
g AS (SELECT kind, level, indicator, count(value) AS n, list(value ORDER BY value) FILTER (WHERE value IS NOT NULL) AS xs
      FROM v GROUP BY kind, level, indicator),
q AS (SELECT kind, level, indicator, n,
             CASE WHEN n > 0 THEN {_quartile(1)} END AS q1,
             CASE WHEN n > 0 THEN {_quartile(2)} END AS median,
             CASE WHEN n > 0 THEN {_quartile(3)} END AS q3
      FROM g),
f AS (SELECT q.*,
             CASE WHEN n >= p.min_peers THEN CAST(round(q1 - p.iqr_multiple * (q3 - q1), 4) AS DECIMAL(18, 4)) END AS band_low,
             CASE WHEN n >= p.min_peers THEN CAST(round(q3 + p.iqr_multiple * (q3 - q1), 4) AS DECIMAL(18, 4)) END AS band_high
      FROM q, p)
SELECT v.institution_id, v.indicator, v.ord, v.kind, v.level, v.value, CAST(f.n AS BIGINT) AS peers,
       f.q1, f.median, f.q3, f.band_low, f.band_high,
       CASE WHEN v.value IS NULL OR f.band_low IS NULL THEN NULL
            WHEN v.value > f.band_high THEN 'above' WHEN v.value < f.band_low THEN 'below' ELSE 'within' END AS position
FROM v LEFT JOIN f ON f.kind IS NOT DISTINCT FROM v.kind AND f.level IS NOT DISTINCT FROM v.level
                  AND f.indicator = v.indicator
""",
    schema=pa.schema([("institution_id", pa.string()), ("indicator", pa.string()), ("ord", pa.int32()),
                      ("kind", pa.string()), ("level", pa.int32()), ("value", VALUE), ("peers", pa.int64()),
                      ("q1", VALUE), ("median", VALUE), ("q3", VALUE), ("band_low", VALUE), ("band_high", VALUE),
                      ("position", pa.string())]),
    order_by=("institution_id", "ord"),
    doc="同类别同级别机构：四分位数、中位数、预警界值与位置",
)

ASSESS = Pipeline(name="assess_indicators", steps=(CASE_FEES, STOCK, STAFF, CASES, BASE, VALUES, BANDS),
                  doc="机构考核指标：指标值、汇总与同级对比")


# --- a small example region (the parity suite's fixture) ----------------------------------------------

def _table(name: str, rows: list[dict]) -> pa.Table:
    schema = TABLES[name].arrow_schema()
    return pa.table({f.name: pa.array([r.get(f.name) for r in rows], f.type) for f in schema}, schema=schema)


def example_sources() -> dict[str, pa.Table]:
    """Five institutions (four level-2 hospitals and a pharmacy), a dozen cases over two years."""
    d, D = Decimal, date
    insts = [{"institution_id": f"H{n}", "name": f"医院{n}", "kind": "hospital", "level": 2, "category": "general",
              "region_code": "350102" if n < 3 else "350103", "agreement_start": D(2020, 1, 1)} for n in range(1, 5)]
    insts.append({"institution_id": "D1", "name": "药房", "kind": "pharmacy", "level": 0, "category": "other",
                  "region_code": "350103", "agreement_start": D(2020, 1, 1)})
    rows = []

    def case(cid, inst, person, setting, admit, discharge, cost, settle=None, **kw):
        rows.append({"case_id": cid, "person_id": person, "institution_id": inst, "scheme": kw.pop("scheme", "employee"),
                     "setting": setting, "admit_date": admit, "discharge_date": discharge, "principal_dx": "K80.100",
                     "total_cost": d(cost), "fund_paid": d(cost) * d("0.7"), "self_pay": d(cost) * d("0.2"),
                     "out_of_pocket_excluded": d(cost) * d("0.1"), "settle_date": settle or discharge, **kw})

    case("C01", "H1", "p1", "inpatient", D(2024, 12, 20), D(2024, 12, 25), "5000.00")
    case("C02", "H1", "p1", "inpatient", D(2025, 1, 9), D(2025, 1, 9), "800.00", procedures=["51.2201"],
         emergency=False, secondary_dx=["J96.000"])
    case("C03", "H1", "p2", "outpatient", D(2025, 2, 1), D(2025, 2, 1), "120.00", scheme="resident")
    case("C04", "H1", "p2", "outpatient", D(2025, 2, 10), D(2025, 2, 10), "80.00", scheme="resident")
    case("C05", "H2", "p3", "inpatient", D(2025, 3, 1), D(2025, 3, 11), "9000.00", discharge_mode="2",
         dept_code="2800")
    case("C06", "H2", "p3", "outpatient", D(2025, 3, 20), D(2025, 3, 20), "60.00")
    case("C07", "H3", "p4", "inpatient", D(2025, 4, 1), D(2025, 4, 5), "4000.00", discharge_mode="5")
    case("C08", "H3", "p4", "inpatient", D(2025, 4, 21), D(2025, 4, 22), "2000.00")
    case("C09", "H4", "p5", "outpatient", D(2025, 5, 1), D(2025, 5, 1), "0.00")
    case("C10", "H4", "p6", "inpatient", D(2025, 6, 1), D(2025, 6, 3), "3000.00", procedures=["99.9999"])
    case("C11", "D1", "p6", "outpatient", D(2025, 6, 4), D(2025, 6, 4), "55.50")
    case("C12", "H1", "p1", "inpatient", D(2025, 12, 30), D(2026, 1, 2), "1500.00")
    lines = [{"case_id": c, "line_no": n, "item_code": code, "item_kind": kind, "fee_category": "other",
              "service_date": D(2025, 1, 9), "quantity": d(1), "unit_price": d(a), "amount": d(a)}
             for c, n, code, kind, a in [("C02", 1, "X1", "drug", "300.00"), ("C02", 2, "S1", "service", "500.00"),
                                        ("C05", 1, "X2", "drug", "4000.00"), ("C05", 2, "S1", "service", "5000.00"),
                                        ("C11", 1, "X1", "drug", "55.50")]]
    catalog = [{"item_code": code, "item_name": code, "item_kind": "drug", "class": cls, "valid_from": D(2020, 1, 1),
                "min_level": lvl} for code, cls, lvl in [("X1", "A", None), ("X2", "B", 2), ("X3", "C", None)]]
    staff = [{"staff_id": f"S{n}", "role": "physician", "institution_id": "H1" if n < 4 else "H2",
              "registered_on": D(2020, 1, 1)} for n in range(1, 6)]
    periods = pa.table({"staff_id": ["S1"], "status": ["suspended"], "start_date": [D(2025, 3, 1)],
                        "end_date": [D(2025, 6, 1)], "source_id": ["X"], "emergency_paid": [None]},
                       schema=QUALIFICATION_PERIODS)
    from_policy = {"year": 2025, "readmit_days": READMIT_DAYS, "revisit_window": 30, "revisit_min_gap": 1,
                   "revisit_same_dx": True, "death_mode": "5", "use_cc": False, "has_standards": True, "has_severe_dx": True,
                   "iqr_multiple": d("1.5000"), "min_peers": 4}
    return {
        "cases": _table("cases", rows), "fee_items": _table("fee_items", lines), "institutions": _table("institutions", insts),
        "catalog": _table("catalog", catalog), "staff": _table("staff", staff), "assess_periods": periods,
        "assess_params": pa.table({k: [v] for k, v in from_policy.items()}, schema=PARAMS_SCHEMA),
        "assess_procedures": pa.table({"code": ["51.2201"]}, schema=CODES_SCHEMA),
        "assess_severe_dx": pa.table({"code": ["J96.000"], "kind": ["mcc"]}, schema=SEVERE_DX_SCHEMA),
        "assess_icu": pa.table({"prefix": ["28"]}, schema=ICU_SCHEMA),
        "assess_stocking": pa.table({"institution_id": ["H1", "D1"], "item_code": ["X1", "X1"]}, schema=STOCKING_SCHEMA),
    }


register(ASSESS, fixture=example_sources)
