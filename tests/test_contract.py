"""The schema is the one definition: docs are generated from it, code patterns accept real codes."""

from __future__ import annotations

import ast
import csv
import re
from pathlib import Path

from conftest import REPO

from yibao.contract.docs import render
from yibao.contract.schema import ICD9_PATTERN, ICD10_PATTERN, TABLES


def test_contract_docs_are_generated_from_schema() -> None:
    assert (REPO / "docs" / "contract.md").read_text(encoding="utf-8") == render(), \
        "docs/contract.md is stale: run `yibao contract docs`"


def test_schema_matches_the_binding_contract_columns() -> None:
    # column names exactly as in shared/contract/README.md, in order
    assert TABLES["cases"].column_names == [
        "case_id", "person_id", "institution_id", "scheme", "sex", "age_years", "setting", "admit_date",
        "discharge_date", "dept_code", "attending_staff_id", "principal_dx", "secondary_dx", "procedures",
        "discharge_mode", "newborn_age_days", "newborn_weight_g", "emergency", "total_cost", "fund_paid",
        "self_pay", "out_of_pocket_excluded", "settle_date"]
    assert TABLES["fee_items"].column_names == [
        "case_id", "line_no", "item_code", "item_name", "item_kind", "fee_category", "service_date",
        "quantity", "unit_price", "amount", "staff_id"]
    assert TABLES["catalog"].column_names == [
        "item_code", "item_name", "item_kind", "class", "self_pay_ratio", "price_cap", "max_daily_qty",
        "sex_limit", "min_age", "max_age", "indications", "min_level", "valid_from", "valid_to"]
    assert TABLES["labels"].column("pattern").values == (
        "split_admission", "phantom_stay", "low_standard_admission", "upcoding", "dead_patient",
        "overlapping_stay", "duplicate_charge", "drug_substitution", "uncovered_item", "over_quantity",
        "restricted_item", "price_over_cap", "amount_mismatch", "suspended_staff",
        "no_fee_lines", "lines_total_mismatch", "payment_parts_mismatch")


def test_code_patterns_by_hand() -> None:
    ok10 = ["K80.100x001", "A00.000", "A33.x00", "A01.001+K77.0*", "A01.002+G01*", "K80.1", "K80", "I10.x00"]
    bad10 = ["K80100", "k80.1", "80.1", "K80.100x", "肺炎", "K80.100 x001"]
    assert all(re.match(ICD10_PATTERN, c) for c in ok10)
    assert not any(re.match(ICD10_PATTERN, c) for c in bad10)
    ok9 = ["00.0100", "00.0200x001", "01.6x00", "03.1x00x001", "17.912A0", "86.700x0013", "54.4x15", "51.23"]
    bad9 = ["5123", "51.2300x", "K80.1", "5.1"]
    assert all(re.match(ICD9_PATTERN, c) for c in ok9)
    assert not any(re.match(ICD9_PATTERN, c) for c in bad9)


def test_every_code_in_the_standard_tables_is_well_formed(standards: Path) -> None:
    """The patterns accept every diagnosis and procedure code of CHS-DRG 1.1 as spelled there."""
    for name, pattern in [("diagnoses.csv", ICD10_PATTERN), ("procedures.csv", ICD9_PATTERN),
                          ("mdc_diagnoses.csv", ICD10_PATTERN), ("cc.csv", ICD10_PATTERN)]:
        with (standards / name).open(encoding="utf-8") as f:
            codes = [r["code"] for r in csv.DictReader(f)]
        bad = [c for c in codes if not re.match(pattern, c)]
        assert not bad, f"{name}: {len(bad)} codes rejected, e.g. {bad[:5]}"


LAYERS = {"contract": 0, "engine": 1, "settle": 1.5, "interfaces": 3}  # every other subpackage is a capability (2)
# settle: shared settlement machinery that capabilities call (docs/adr/0003-shared-settlement.md)


def _layer(module: str) -> float:
    part = module.split(".")[1] if module.count(".") else ""
    if part in ("cli", "web", "api", "server", "store"):  # interfaces: docs/adr/0006-system-of-record.md
        return 3
    return LAYERS.get(part, 2)


def test_layers_import_one_way_and_capabilities_do_not_import_each_other() -> None:
    """contract → engine → settle → capabilities → interfaces; no capability imports another's internals."""
    src = REPO / "src" / "yibao"
    problems = []
    for path in src.rglob("*.py"):
        rel = path.relative_to(src.parent).with_suffix("")
        module = ".".join(rel.parts).removesuffix(".__init__")
        if module == "yibao":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [node.module] if isinstance(node, ast.ImportFrom) and node.module else \
                [a.name for a in node.names] if isinstance(node, ast.Import) else []
            for target in names:
                if not target.startswith("yibao.") or target == "yibao":
                    continue
                me, it = _layer(module), _layer(target)
                if it > me:
                    problems.append(f"{module} (layer {me}) imports {target} (layer {it})")
                if me == it == 2 and module.split(".")[1] != target.split(".")[1]:
                    problems.append(f"capability {module} imports another capability {target}")
    assert not problems, "\n".join(problems)
