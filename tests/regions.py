"""A tiny hand-made region: few enough rows to check every count and sum by hand."""

from __future__ import annotations

import csv
from pathlib import Path

from yibao.contract.schema import TABLES

INSTITUTIONS = [
    # institution_id, name, kind, level, category, region_code, agreement_start, agreement_end
    ["H001", "市第一人民医院", "hospital", "3", "general", "440203", "2020-01-01", ""],
    ["H002", "市中医院", "hospital", "2", "tcm", "440203", "2020-01-01", ""],
    ["P001", "东河社区卫生服务中心", "primary", "1", "general", "440204", "2021-01-01", ""],
    ["D001", "仁和大药房", "pharmacy", "0", "other", "440204", "2022-01-01", "2026-12-31"],
]
INSURED = [
    # person_id, id_number, name, sex, birth_date, scheme, region_code, death_date
    ["P0001", "440203196501012317", "张伟", "1", "1965-01-01", "employee", "440203", ""],
    ["P0002", "440203199003154420", "王芳", "2", "1990-03-15", "resident", "440203", ""],
    ["P0003", "440204195007070011", "李强", "1", "1950-07-07", "resident", "440204", "2024-06-30"],
]
STAFF = [
    # staff_id, name, id_number, role, institution_id, registered_on
    ["D440203000001", "刘医生", "440203197001010010", "physician", "H001", "2020-01-01"],
    ["D440203000002", "陈护士", "440203198001010023", "nurse", "H001", "2020-01-01"],
    ["D440203000003", "赵医生", "440203197501010033", "physician", "H002", "2020-01-01"],
]
CATALOG = [
    # item_code, item_name, item_kind, class, self_pay_ratio, price_cap, max_daily_qty, sex_limit,
    # min_age, max_age, indications, min_level, valid_from, valid_to
    ["001101000010000", "床位费", "facility", "A", "", "60.00", "1", "", "", "", "", "", "2020-01-01", ""],
    ["XJ01CAA040A001010100839", "阿莫西林胶囊", "drug", "A", "", "1.50", "6", "", "", "", "", "", "2020-01-01", ""],
    ["XG04CAA016A001010100001", "坦索罗辛缓释胶囊", "drug", "B", "0.10", "5.00", "1", "1", "", "", "N40", "", "2020-01-01", ""],
]
CASES = [
    # case_id, person_id, institution_id, scheme, sex, age_years, setting, admit_date, discharge_date,
    # dept_code, attending_staff_id, principal_dx, secondary_dx, procedures, discharge_mode,
    # newborn_age_days, newborn_weight_g, emergency, total_cost, fund_paid, self_pay,
    # out_of_pocket_excluded, settle_date
    ["C0001", "P0001", "H001", "employee", "1", "59", "inpatient", "2024-03-01", "2024-03-06", "0301",
     "D440203000001", "K80.100x001", "I10.x00|E11.900", "51.2300", "1", "", "", "0",
     "12000.50", "9000.25", "2500.25", "500.00", "2024-03-08"],
    ["C0002", "P0002", "H002", "resident", "2", "34", "outpatient", "2024-04-02", "2024-04-02", "0101",
     "D440203000003", "J06.900", "", "", "", "", "", "0", "150.00", "75.00", "75.00", "0.00", "2024-04-02"],
    ["C0003", "P0003", "H001", "resident", "1", "73", "inpatient", "2024-05-10", "2024-05-20", "0401",
     "D440203000001", "J18.900", "J96.000", "", "1", "", "", "1", "23000.00", "16000.00", "5000.00",
     "2000.00", "2024-05-22"],
]
FEE_ITEMS = [
    # case_id, line_no, item_code, item_name, item_kind, fee_category, service_date, quantity, unit_price,
    # amount, staff_id
    ["C0001", "1", "001101000010000", "床位费", "facility", "bed", "2024-03-01", "5", "50.00", "250.00", "D440203000002"],
    ["C0001", "2", "XJ01CAA040A001010100839", "阿莫西林胶囊", "drug", "western_drug", "2024-03-02", "6", "1.25", "7.50",
     "D440203000001"],
    ["C0002", "1", "XJ01CAA040A001010100839", "阿莫西林胶囊", "drug", "western_drug", "2024-04-02", "3", "1.25", "3.75",
     "D440203000003"],
]
SANCTIONS = [
    # sanction_id, staff_id, institution_id, decided_on, basis, responsibility, points, fraud
    ["S0001", "D440203000001", "H001", "2024-02-01", "admin_penalty", "main", "6", "0"],
]
REPAIRS = [
    # repair_id, staff_id, decided_on, points_reduced, shorten_days
    ["R0001", "D440203000001", "2024-08-01", "2", "0"],
]

ROWS = {
    "institutions": INSTITUTIONS, "insured": INSURED, "staff": STAFF, "catalog": CATALOG,
    "cases": CASES, "fee_items": FEE_ITEMS, "sanctions": SANCTIONS, "repairs": REPAIRS,
}


def write_csv(path: Path, header: list[str], rows: list[list[str]], encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    return path


def write_region(directory: Path, tables: dict[str, list[list[str]]] | None = None) -> Path:
    """Write the tiny region (or the given rows) as contract CSV files."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, rows in (tables or ROWS).items():
        write_csv(directory / f"{name}.csv", TABLES[name].column_names, rows)
    return directory


def generated_workspace(base: Path, seed: int, cases: int) -> Path:
    """A synthetic region generated into ``base/region`` and loaded into ``base/ws``; returns the workspace."""
    from yibao.engine.loading import load_region
    from yibao.synth import generate

    generate(base / "region", seed=seed, cases=cases)
    load_region(base / "region", base / "ws")
    return base / "ws"
