"""A tiny constructed region for review rule tests: one clean inpatient stay and one clean outpatient visit,
to which each test adds the anomaly it wants (or a near miss)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pyarrow as pa

from yibao.contract.derived import QUALIFICATION_PERIODS
from yibao.contract.schema import TABLES

D = date.fromisoformat
M = Decimal


def table(name: str, rows: list[dict]) -> pa.Table:
    schema = TABLES[name].arrow_schema()
    return pa.table({f.name: [r.get(f.name) for r in rows] for f in schema}, schema=schema)


class Region:
    def __init__(self) -> None:
        self.institutions = [
            {"institution_id": "H3", "name": "三级医院", "kind": "hospital", "level": 3, "category": "general",
             "region_code": "440200", "agreement_start": D("2020-01-01")},
            {"institution_id": "H1", "name": "一级医院", "kind": "hospital", "level": 1, "category": "general",
             "region_code": "440200", "agreement_start": D("2020-01-01")},
            {"institution_id": "H2", "name": "二级医院", "kind": "hospital", "level": 2, "category": "general",
             "region_code": "440200", "agreement_start": D("2020-01-01")},
        ]
        self.insured = [
            {"person_id": "M60", "sex": "1", "birth_date": D("1964-05-01"), "scheme": "employee", "region_code": "440200"},
            {"person_id": "F30", "sex": "2", "birth_date": D("1994-05-01"), "scheme": "employee", "region_code": "440200"},
            {"person_id": "K05", "sex": "1", "birth_date": D("2019-05-01"), "scheme": "resident", "region_code": "440200"},
        ]
        self.catalog = [
            {"item_code": "BED", "item_name": "普通病房床位费", "item_kind": "facility", "class": "A",
             "price_cap": M("80.00"), "max_daily_qty": M("1"), "valid_from": D("2020-01-01")},
            {"item_code": "NUR", "item_name": "Ⅱ级护理", "item_kind": "service", "class": "A", "price_cap": M("24.00"),
             "max_daily_qty": M("1"), "valid_from": D("2020-01-01"), "valid_to": D("2024-06-30")},
            {"item_code": "NUR", "item_name": "Ⅱ级护理", "item_kind": "service", "class": "A", "price_cap": M("28.00"),
             "max_daily_qty": M("1"), "valid_from": D("2024-07-01")},
            {"item_code": "CEF", "item_name": "注射用头孢曲松钠 1g", "item_kind": "drug", "class": "A",
             "price_cap": M("5.20"), "max_daily_qty": M("4"), "valid_from": D("2020-01-01")},
            {"item_code": "REG", "item_name": "普通门诊诊查费", "item_kind": "service", "class": "A",
             "price_cap": M("20.00"), "max_daily_qty": M("1"), "valid_from": D("2020-01-01")},
            {"item_code": "OXY", "item_name": "氧气吸入", "item_kind": "service", "class": "A", "price_cap": M("3.00"),
             "max_daily_qty": M("24"), "valid_from": D("2020-01-01")},
            {"item_code": "PSA", "item_name": "前列腺特异性抗原测定", "item_kind": "service", "class": "A",
             "price_cap": M("60.00"), "max_daily_qty": M("1"), "sex_limit": "1", "valid_from": D("2020-01-01")},
            {"item_code": "KID", "item_name": "小儿氨酚黄那敏颗粒", "item_kind": "drug", "class": "A",
             "price_cap": M("12.00"), "max_daily_qty": M("2"), "max_age": 14, "valid_from": D("2020-01-01")},
            {"item_code": "LEVO", "item_name": "左氧氟沙星氯化钠注射液", "item_kind": "drug", "class": "A",
             "price_cap": M("12.00"), "max_daily_qty": M("2"), "min_age": 18, "valid_from": D("2020-01-01")},
            {"item_code": "INS", "item_name": "甘精胰岛素注射液", "item_kind": "drug", "class": "B",
             "self_pay_ratio": M("0.10"), "price_cap": M("178.00"), "max_daily_qty": M("2"),
             "indications": ["E10", "E11", "O24"], "valid_from": D("2020-01-01")},
            {"item_code": "MERO", "item_name": "注射用美罗培南", "item_kind": "drug", "class": "B",
             "self_pay_ratio": M("0.10"), "price_cap": M("62.00"), "max_daily_qty": M("6"), "min_level": 2,
             "valid_from": D("2020-01-01")},
            {"item_code": "THY", "item_name": "注射用胸腺五肽", "item_kind": "drug", "class": "C",
             "price_cap": M("80.00"), "max_daily_qty": M("2"), "valid_from": D("2020-01-01")},
            {"item_code": "DANHONG", "item_name": "丹红注射液", "item_kind": "drug", "class": "B",
             "self_pay_ratio": M("0.10"), "price_cap": M("52.00"), "max_daily_qty": M("2"), "valid_from": D("2020-01-01")},
            {"item_code": "ICUBED", "item_name": "重症监护病房床位费", "item_kind": "facility", "class": "A",
             "price_cap": M("260.00"), "max_daily_qty": M("1"), "valid_from": D("2020-01-01")},
            {"item_code": "NUR1", "item_name": "Ⅰ级护理", "item_kind": "service", "class": "A", "price_cap": M("40.00"),
             "max_daily_qty": M("1"), "valid_from": D("2020-01-01")},
            {"item_code": "TRANS", "item_name": "输血", "item_kind": "service", "class": "A", "price_cap": M("25.00"),
             "max_daily_qty": M("4"), "valid_from": D("2020-01-01")},
            {"item_code": "XMATCH", "item_name": "交叉配血", "item_kind": "service", "class": "A", "price_cap": M("30.00"),
             "max_daily_qty": M("2"), "valid_from": D("2020-01-01")},
            {"item_code": "GA", "item_name": "全身麻醉", "item_kind": "service", "class": "A", "price_cap": M("1600.00"),
             "max_daily_qty": M("1"), "valid_from": D("2020-01-01")},
            {"item_code": "ICU", "item_name": "重症监护", "item_kind": "service", "class": "A",
             "price_cap": M("480.00"), "max_daily_qty": M("1"), "valid_from": D("2020-01-01")},
        ]
        self.cases: list[dict] = []
        self.lines: list[dict] = []
        self.periods: list[dict] = []

    def case(self, cid: str, person: str = "M60", inst: str = "H3", setting: str = "inpatient",
             admit: str = "2024-07-01", discharge: str | None = None, dx: str = "J18.900", sec=None,
             emergency: bool = False, staff: str = "S1", excluded: str = "0.00", total: str | None = None,
             fund: str | None = None, daily: bool = True, mode: str | None = "1", self_pay: str | None = None,
             procedures=None, dept: str | None = None, scheme: str = "employee") -> "Region":
        """A case; ``daily`` inpatient stays get a bed, nursing and drug line for every day (clean)."""
        if discharge is None:
            discharge = admit if setting == "outpatient" else str(date.fromordinal(D(admit).toordinal() + 3))
        self.cases.append({"case_id": cid, "person_id": person, "institution_id": inst, "scheme": scheme,
                           "dept_code": dept,
                           "setting": setting, "admit_date": D(admit), "discharge_date": D(discharge),
                           "attending_staff_id": staff, "principal_dx": dx, "secondary_dx": sec,
                           "procedures": procedures,
                           "emergency": emergency, "discharge_mode": mode if setting == "inpatient" else None,
                           "settle_date": D(discharge), "out_of_pocket_excluded": M(excluded),
                           "_total": total, "_fund": fund, "_self": self_pay})
        if setting == "inpatient" and daily:
            d0, d1 = D(admit).toordinal(), D(discharge).toordinal()
            for o in range(d0, max(d1, d0 + 1)):
                day = str(date.fromordinal(o))
                nur_price = "24.00" if date.fromordinal(o) <= D("2024-06-30") else "28.00"
                self.line(cid, "BED", day, "1", "80.00", staff=staff)
                self.line(cid, "NUR", day, "1", nur_price, staff=staff)
                self.line(cid, "CEF", day, "2", "5.20", staff=staff)
        if setting == "outpatient":
            self.line(cid, "REG", admit, "1", "20.00", staff=staff)
        return self

    def line(self, cid: str, code: str, day: str, q: str, price: str, amount: str | None = None,
             staff: str = "S1", name: str | None = None, fee_cat: str | None = None) -> int:
        cat = next((c for c in self.catalog if c["item_code"] == code), None)
        no = 1 + sum(1 for x in self.lines if x["case_id"] == cid)
        kind = cat["item_kind"] if cat else "service"
        fee_cat = fee_cat or {"facility": "bed", "drug": "western_drug"}.get(kind, "other")
        if code in ("NUR", "NUR1"):
            fee_cat = "nursing"
        fee_cat = {"DANHONG": "patent_drug", "ICUBED": "bed"}.get(code, fee_cat)
        self.lines.append({"case_id": cid, "line_no": no, "item_code": code,
                           "item_name": name or (cat["item_name"] if cat else code), "item_kind": kind,
                           "fee_category": fee_cat, "service_date": D(day), "quantity": M(q), "unit_price": M(price),
                           "amount": M(amount) if amount is not None else (M(q) * M(price)).quantize(M("0.01")),
                           "staff_id": staff})
        return no

    def suspend(self, staff: str, start: str, end: str | None, status: str = "suspended") -> "Region":
        self.periods.append({"staff_id": staff, "status": status, "start_date": D(start),
                             "end_date": D(end) if end else None, "source_id": "CF1"})
        return self

    def tables(self) -> dict[str, pa.Table]:
        cases = []
        for c in self.cases:
            c = dict(c)
            total = sum((x["amount"] for x in self.lines if x["case_id"] == c["case_id"]), M("0.00"))
            if c.pop("_total") is not None:
                total = M(self.cases[[k["case_id"] for k in self.cases].index(c["case_id"])]["_total"])
            fund = c.pop("_fund")
            sp = c.pop("_self")
            c["total_cost"] = total
            c["fund_paid"] = M(fund) if fund is not None else (total * M("0.7")).quantize(M("0.01"))
            c["self_pay"] = M(sp) if sp is not None else total - c["fund_paid"] - c["out_of_pocket_excluded"]
            if c["self_pay"] < 0:
                c["self_pay"] = M("0.00")
            cases.append(c)
        return {"institutions": table("institutions", self.institutions), "insured": table("insured", self.insured),
                "catalog": table("catalog", self.catalog), "cases": table("cases", cases),
                "fee_items": table("fee_items", self.lines),
                "qualification_periods": pa.Table.from_pylist(self.periods, schema=QUALIFICATION_PERIODS)}


def review(region: Region, *rule_ids: str, override=None) -> list[dict]:
    """Findings of the given rules (all enabled rules when none given) as dicts."""
    from yibao.review.ruleset import load_rules
    from yibao.review.run import run

    rs = load_rules(override)
    if rule_ids:
        rs = rs.only(*rule_ids)
    src = region.tables()
    periods = src.pop("qualification_periods")
    return run(src, rs, periods=periods).findings.to_pylist()
