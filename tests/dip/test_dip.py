"""DIP catalogue and case scoring (按病种分值付费): hand-computed examples a person can check."""

from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from yibao.dip.catalogue import CASE_KEYS, THRESHOLD, build_tables, write_catalogue
from yibao.dip.examples import toy_cases, toy_institutions
from yibao.dip.policy import DipPolicyError, load_policy
from yibao.dip.scoring import read_review, score_tables, write_scores
from yibao.dip.tables import PARAMS_SCHEMA, param_tables, read_overrides, read_valid_procedures
from yibao.engine.csvfile import csv_bytes
from yibao.engine.runner import LocalRunner

D = Decimal
YEARS = [2023, 2024, 2025]


def policy(tmp_path: Path, catalogue: str = "", scoring: str = ""):
    p = tmp_path / "dip.toml"
    p.write_text(f"[catalogue]\n{catalogue}\n[scoring]\n{scoring}\n", encoding="utf-8")
    return load_policy(p)


def toy_rows() -> list[tuple]:
    """Three groups over 2023–2025 (weights 1:2:7), core threshold fixed at 3 cases, trimming 10 %/90 %.

    A ``K80.1|51.2300`` (胆囊结石 + 腹腔镜胆囊切除; 88.7601 is diagnostic and does not split), 10 cases:
        2023: 1 000 (lowest: trimmed), 10 000, 10 000   2024: 11 000, 11 000
        2025: 12 000 ×4, 60 000 (highest: trimmed)      floor(10 × 0.1) = 1 case trimmed at each end
        year means 10 000 / 11 000 / 12 000 → (1×10 000 + 2×11 000 + 7×12 000) / 10 = 11 600.00
    B ``J18.9|-`` (肺炎, no procedure), 4 cases (floor(4 × 0.1) = 0: nothing trimmed):
        2023: 2 000   2024: 3 000   2025: 4 000, 4 000  → (2 000 + 2×3 000 + 7×4 000) / 10 = 3 600.00
    C ``K80#therapeutic`` (K80.2 + 99.2500 化疗, 2 cases < 3: folds into the comprehensive group):
        2024: 5 000   2025: 6 000 → no 2023 case: weights renormalised (2×5 000 + 7×6 000) / 9 = 5 777.78
    Reference (all cases, untrimmed, year means then weighted):
        2023: 23 000 / 4 = 5 750.00; 2024: 30 000 / 4 = 7 500.00; 2025: 122 000 / 8 = 15 250.00
        (5 750 + 2×7 500 + 7×15 250) / 10 = 12 750.00
    Scores (× 1000, 4 decimals half-up): A 11 600 / 12 750 = 909.8039; B 3 600 / 12 750 = 282.3529;
        C 5 777.78 / 12 750 = 453.1592
    """
    a = ["51.2300", "88.7601"]
    return [
        ("A01", "H3", "K80.100x001", a, "1000.00", 2023), ("A02", "H3", "K80.100", a, "10000.00", 2023),
        ("A03", "H2", "K80.101", ["88.7601", "51.2300"], "10000.00", 2023),
        ("A04", "H3", "K80.100", a, "11000.00", 2024), ("A05", "H2", "K80.100", a, "11000.00", 2024),
        ("A06", "H3", "K80.100", a, "12000.00", 2025), ("A07", "H3", "K80.100", a, "12000.00", 2025),
        ("A08", "H2", "K80.100", a, "12000.00", 2025), ("A09", "H2", "K80.100", ["51.2300"], "12000.00", 2025),
        ("A10", "H3", "K80.100", a, "60000.00", 2025),
        ("B01", "H3", "J18.900", [], "2000.00", 2023), ("B02", "P1", "J18.900", None, "3000.00", 2024),
        ("B03", "P1", "J18.900", [], "4000.00", 2025), ("B04", "H3", "J18.901", [], "4000.00", 2025),
        ("C01", "H3", "K80.200", ["99.2500"], "5000.00", 2024), ("C02", "H2", "K80.200", ["99.2500"], "6000.00", 2025),
    ]


TOY_POLICY = 'core_min_cases = 3\ntrim_lower = "0.1"\ntrim_upper = "0.9"\nprimary_care_groups = ["J18.9|-"]'
TOY_SCORING = '[scoring.level_coefficient]\n"3" = "1.2"\n"2" = "1.0"\n"1" = "0.8"'


def build_toy(tmp_path: Path, rows: list[tuple] | None = None, pol=None) -> dict[str, pa.Table]:
    pol = pol or policy(tmp_path, TOY_POLICY, TOY_SCORING)
    runner = LocalRunner()
    try:
        return build_tables({"cases": toy_cases(rows or toy_rows())}, runner, pol, YEARS, read_overrides(),
                            read_valid_procedures(None))
    finally:
        runner.close()


def by_group(cat: pa.Table) -> dict[str, dict]:
    return {r["group_id"]: r for r in cat.to_pylist()}


def test_three_group_catalogue_by_hand(tmp_path: Path) -> None:
    out = build_toy(tmp_path)
    g = by_group(out["dip_catalogue"])
    assert set(g) == {"K80.1|51.2300", "J18.9|-", "K80#therapeutic"}
    assert (g["K80.1|51.2300"]["cases"], g["K80.1|51.2300"]["cases_kept"]) == (10, 8)
    assert g["K80.1|51.2300"]["avg_cost"] == D("11600.00")
    assert g["J18.9|-"]["avg_cost"] == D("3600.00")
    assert g["K80#therapeutic"]["avg_cost"] == D("5777.78")
    assert g["K80.1|51.2300"]["reference_cost"] == D("12750.00")
    assert g["K80.1|51.2300"]["score"] == D("909.8039")
    assert g["J18.9|-"]["score"] == D("282.3529")
    assert g["K80#therapeutic"]["score"] == D("453.1592")
    assert g["J18.9|-"]["primary_care"] and not g["K80.1|51.2300"]["primary_care"]
    assert g["K80#therapeutic"]["kind"] == "comprehensive" and g["J18.9|-"]["kind"] == "core"
    th = out["dip_threshold"].to_pylist()[0]
    assert (th["core_min_cases"], th["by_share"], th["core_cases"], th["total_cases"]) == (3, False, 14, 16)
    assert th["core_share"] == D("0.8750")  # 14 / 16


def counts_table(counts: list[int]) -> pa.Table:
    return pa.table({"dx_cat": [f"A{i:02d}" for i in range(len(counts))],
                     "dx_sub": [f"A{i:02d}.0" for i in range(len(counts))],
                     "combo": ["-"] * len(counts), "cases": counts},
                    schema=pa.schema([("dx_cat", pa.string()), ("dx_sub", pa.string()), ("combo", pa.string()),
                                      ("cases", pa.int64())]))


@pytest.mark.parametrize("counts, threshold, core_groups, core_cases, share", [
    # 100 cases. Cumulative cases of combinations with ≥ k cases: k=50 → 50, k=20 → 70, k=10 → 90 ≥ 85:
    # the largest k that keeps ≥ 85 % in core groups is 10 (both 10-case combinations are core).
    ([50, 20, 10, 10, 5, 3, 1, 1], 10, 4, 90, D("0.9000")),
    # exactly 85 %: k=15 gives 50+20+15 = 85 of 100 → threshold 15 ("at least 85 %")
    ([50, 20, 15, 10, 5], 15, 3, 85, D("0.8500")),
    # one short of 85 %: k=15 gives 84 of 100 → go down to k=10 (94)
    ([50, 20, 14, 10, 6], 10, 4, 94, D("0.9400")),
])
def test_threshold_rule_85_percent(tmp_path, counts, threshold, core_groups, core_cases, share) -> None:
    params = param_tables(load_policy(), YEARS)["dip_params"]
    res = LocalRunner().run(THRESHOLD, {"dip_combo_counts": counts_table(counts), "dip_params": params})
    row = res.to_pylist()[0]
    assert sum(counts) == 100
    assert (row["core_min_cases"], row["core_groups"], row["core_cases"], row["core_share"]) == \
        (threshold, core_groups, core_cases, share)
    assert row["by_share"]


def test_threshold_fixed_by_policy(tmp_path) -> None:
    pol = policy(tmp_path, "core_min_cases = 20")
    params = param_tables(pol, YEARS)["dip_params"]
    row = LocalRunner().run(THRESHOLD, {"dip_combo_counts": counts_table([50, 20, 10, 10, 5, 3, 1, 1]),
                                        "dip_params": params}).to_pylist()[0]
    assert (row["core_min_cases"], row["by_share"], row["core_cases"]) == (20, False, 70)


def score_toy(tmp_path: Path, cases: list[tuple], review: pa.Table | None = None, scoring: str = TOY_SCORING):
    pol = policy(tmp_path, TOY_POLICY, scoring)
    cat = build_toy(tmp_path, pol=pol)["dip_catalogue"]
    runner = LocalRunner()
    try:
        out = score_tables({"cases": toy_cases(cases), "institutions": toy_institutions()}, runner, pol, cat,
                           read_overrides(), read_valid_procedures(None), review)
    finally:
        runner.close()
    return {r["case_id"]: r for r in out["dip_case_points"].to_pylist()}


def test_high_and_low_deviation_cases(tmp_path: Path) -> None:
    """Group A: average 11 600.00, score 909.8039; H3 is level 3 (coefficient 1.2).

    high: 34 800 / 11 600 = 3.0 > 2 → 909.8039 × ((3.0 − 2) + 1) = 1 819.6078; × 1.2 = 2 183.52936 → 2 183.5294
    low:   2 900 / 11 600 = 0.25 < 0.5 → 909.8039 × 0.25 = 227.450975 → 227.4510; × 1.2 = 272.9412
    normal: 11 600 → 909.8039 × 1.2 = 1 091.76468 → 1 091.7647
    boundary: exactly 2× (23 200) is not above 2× → normal
    """
    r = score_toy(tmp_path, [
        ("S1", "H3", "K80.100", ["51.2300"], "34800.00", 2025), ("S2", "H3", "K80.100", ["51.2300"], "2900.00", 2025),
        ("S3", "H3", "K80.100", ["51.2300"], "11600.00", 2025), ("S4", "H3", "K80.100", ["51.2300"], "23200.00", 2025),
    ])
    assert (r["S1"]["deviation"], r["S1"]["ratio"], r["S1"]["case_score"]) == ("high", D("3.0000"), D("1819.6078"))
    assert (r["S1"]["coefficient"], r["S1"]["points"]) == (D("1.2000"), D("2183.5294"))
    assert (r["S2"]["deviation"], r["S2"]["case_score"], r["S2"]["points"]) == ("low", D("227.4510"), D("272.9412"))
    assert (r["S3"]["deviation"], r["S3"]["points"]) == ("normal", D("1091.7647"))
    assert (r["S4"]["deviation"], r["S4"]["case_score"]) == ("normal", D("909.8039"))
    assert all(x["status"] == "scored" and x["group_kind"] == "core" for x in r.values())


def test_primary_care_group_pays_the_same_at_two_levels(tmp_path: Path) -> None:
    """J18.9|- is a 基层病种 (score 282.3529): level 3 (1.2) and level 1 (0.8) both get 282.3529; K80.1 does not."""
    r = score_toy(tmp_path, [
        ("P3", "H3", "J18.900", [], "3600.00", 2025), ("P1", "P1", "J18.900", [], "3600.00", 2025),
        ("K3", "H3", "K80.100", ["51.2300"], "11600.00", 2025), ("K1", "P1", "K80.100", ["51.2300"], "11600.00", 2025),
    ])
    assert r["P3"]["points"] == r["P1"]["points"] == D("282.3529")
    assert r["P3"]["coefficient"] == r["P1"]["coefficient"] == D("1.0000") and r["P3"]["primary_care"]
    assert r["K3"]["points"] == D("1091.7647")  # 909.8039 × 1.2
    assert r["K1"]["points"] == D("727.8431")   # 909.8039 × 0.8 = 727.84312


def test_institution_coefficient_overrides_level(tmp_path: Path) -> None:
    r = score_toy(tmp_path, [("K", "H3", "K80.100", ["51.2300"], "11600.00", 2025)],
                  scoring=TOY_SCORING + '\n[scoring.institution_coefficient]\nH3 = "1.05"')
    assert (r["K"]["coefficient"], r["K"]["points"]) == (D("1.0500"), D("955.2941"))  # 955.294095


def test_comprehensive_group_and_no_group(tmp_path: Path) -> None:
    r = score_toy(tmp_path, [
        ("C1", "H2", "K80.500", ["99.2500", "88.7601"], "5777.78", 2025),  # K80 + therapeutic → K80#therapeutic
        ("N1", "H2", "K80.100", ["51.2200"], "5000.00", 2025),  # K80 + surgical: no core, no K80#surgical
        ("N2", "H2", "I21.000", [], "5000.00", 2025),           # a category the catalogue does not know
    ])
    assert (r["C1"]["group_id"], r["C1"]["group_kind"], r["C1"]["points"]) == ("K80#therapeutic", "comprehensive",
                                                                               D("453.1592"))
    for cid in ("N1", "N2"):
        assert (r[cid]["status"], r[cid]["reason"], r[cid]["points"]) == ("ungroupable", "NO_GROUP", None)


def test_bad_input_reason_codes(tmp_path: Path) -> None:
    r = score_toy(tmp_path, [
        ("E1", "H3", None, [], "1000.00", 2025), ("E2", "H3", "  ", [], "1000.00", 2025),
        ("E3", "H3", "K8O.100", [], "1000.00", 2025), ("E4", "H3", "K80.100", ["51.23.00"], "1000.00", 2025),
        ("E5", "H3", "K80.100", ["51.2300"], "0.00", 2025), ("E6", "H3", "K80.100", ["51.2300"], None, 2025),
        ("E7", "H3", "K80.100", ["51.2300"], "100.00", 2025, "outpatient"),
    ])
    assert {c: x["reason"] for c, x in r.items()} == {
        "E1": "NO_PRINCIPAL_DX", "E2": "NO_PRINCIPAL_DX", "E3": "BAD_PRINCIPAL_DX", "E4": "BAD_PROCEDURE",
        "E5": "ZERO_COST", "E6": "ZERO_COST"}  # E7 is outpatient: not a DIP case at all
    assert all(x["status"] == "ungroupable" and x["points"] is None for x in r.values())


def test_bad_history_cases_stay_out_of_the_catalogue(tmp_path: Path) -> None:
    bad = [("X1", "H3", "K80.100", ["51.2300"], "0.00", 2025), ("X2", "H3", "bad", ["51.2300"], "99999.00", 2025)]
    assert build_toy(tmp_path, toy_rows() + bad)["dip_catalogue"].equals(build_toy(tmp_path)["dip_catalogue"])


def test_special_case_review_cap_and_final_score(tmp_path: Path, ) -> None:
    """H2 has 20 grouped cases → cap floor(20 × 0.05) = 1. Two cases above 5× (X1 8×, X2 6×): X1 (highest ratio)
    goes to review; X2 stays scored by the high formula: 909.8039 × ((6 − 2) + 1) = 4 549.0195 (H2 coefficient 1.0).
    The reviewer's final score 3 000 replaces X1's points on the next run."""
    rows = [(f"N{i:02d}", "H2", "J18.900", [], "3600.00", 2025) for i in range(18)]
    rows += [("X1", "H2", "K80.100", ["51.2300"], "92800.00", 2025), ("X2", "H2", "K80.100", ["51.2300"], "69600.00", 2025)]
    r = score_toy(tmp_path, rows)
    assert (r["X1"]["deviation"], r["X1"]["status"], r["X1"]["review_rank"], r["X1"]["review_cap"]) == \
        ("extreme", "review", 1, 1)
    assert (r["X2"]["status"], r["X2"]["review_rank"], r["X2"]["points"]) == ("scored", 2, D("4549.0195"))
    review_csv = tmp_path / "review.csv"
    review_csv.write_text("\ufeffcase_id,institution_id,final_score\nX1,H2,3000\nX2,H2,\n", encoding="utf-8")
    r2 = score_toy(tmp_path, rows, review=read_review(review_csv))
    assert (r2["X1"]["status"], r2["X1"]["points"]) == ("reviewed", D("3000.0000"))
    assert r2["X2"]["points"] == D("4549.0195")


def test_review_file_errors(tmp_path: Path) -> None:
    p = tmp_path / "r.csv"
    p.write_text("case_id,final_score\nX1,abc\n", encoding="utf-8")
    with pytest.raises(DipPolicyError, match="final_score"):
        read_review(p)


def test_procedure_classes() -> None:
    rows = [("1", "H3", "K80.100", ["88.7601"], "1.00", 2025), ("2", "H3", "K80.100", ["99.2500", "88.7601"], "1.00", 2025),
            ("3", "H3", "K80.100", ["45.1300x004"], "1.00", 2025), ("4", "H3", "K80.100", ["51.2300", "99.2500"], "1.00", 2025),
            ("5", "H3", "K80.100", ["45.4200"], "1.00", 2025), ("6", "H3", "K80.100", ["92.2300"], "1.00", 2025)]
    src = {"cases": toy_cases(rows), "dip_proc_rules": read_overrides(), "dip_proc_valid": read_valid_procedures(None)}
    k = {r["case_id"]: (r["combo"], r["tier"]) for r in LocalRunner().run(CASE_KEYS, src).to_pylist()}
    assert k == {"1": ("-", "diagnostic"), "2": ("99.2500", "therapeutic"), "3": ("-", "diagnostic"),
                 "4": ("51.2300+99.2500", "surgical"), "5": ("45.4200", "therapeutic"), "6": ("92.2300", "therapeutic")}
    # with a valid_procedures list, a 00–86 code outside it is therapeutic, inside it surgical
    src["dip_proc_valid"] = pa.table({"code": ["47.0100"]})
    src["cases"] = toy_cases([("7", "H3", "K35.800", ["47.0100"], "1.00", 2025),
                              ("8", "H3", "K35.800", ["54.9100"], "1.00", 2025)])
    k = {r["case_id"]: r["tier"] for r in LocalRunner().run(CASE_KEYS, src).to_pylist()}
    assert k == {"7": "surgical", "8": "therapeutic"}


def test_catalogue_files_are_byte_identical_and_versioned(tmp_path: Path) -> None:
    pol = policy(tmp_path, TOY_POLICY)
    rows = toy_rows()
    shuffled = rows[:]
    random.Random(7).shuffle(shuffled)
    a = write_catalogue(build_toy(tmp_path, rows, pol), pol, YEARS, read_overrides(), read_valid_procedures(None),
                        tmp_path / "a")
    b = write_catalogue(build_toy(tmp_path, shuffled, pol), pol, YEARS, read_overrides(), read_valid_procedures(None),
                        tmp_path / "b")
    assert a.version == b.version and a.version.startswith("DIP-")
    for name in ("catalogue.csv", "catalogue.parquet", "catalogue.xlsx", "manifest.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    header = (tmp_path / "a" / "catalogue.csv").read_text(encoding="utf-8-sig").splitlines()[0]
    assert header.startswith("group_id,kind,dx_cat,dx_sub,combo,tier,cases,cases_kept,avg_cost,score")
    pol2 = policy(tmp_path, TOY_POLICY + '\nyear_weights = ["1", "1", "1"]')
    c = write_catalogue(build_toy(tmp_path, rows, pol2), pol2, YEARS, read_overrides(), read_valid_procedures(None),
                        tmp_path / "c")
    assert c.version != a.version


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), n_extra=st.integers(0, 30))
def test_row_order_does_not_matter(tmp_path: Path, seed: int, n_extra: int) -> None:
    rng = random.Random(seed)
    dxs, procs = ["K80.100", "K80.200", "J18.900", "I63.900"], [[], ["51.2300"], ["99.2500"], ["88.7601"], ["45.4200"]]
    rows = toy_rows() + [(f"R{i:03d}", rng.choice(["H3", "H2", "P1"]), rng.choice(dxs), rng.choice(procs),
                          f"{rng.randint(1, 50000)}.{rng.randint(0, 99):02d}", rng.choice(YEARS)) for i in range(n_extra)]
    shuffled = rows[:]
    rng.shuffle(shuffled)
    a, b = build_toy(tmp_path, rows), build_toy(tmp_path, shuffled)
    assert csv_bytes(a["dip_catalogue"]) == csv_bytes(b["dip_catalogue"])
    assert a["dip_threshold"].equals(b["dip_threshold"])


def test_policy_errors_name_the_key(tmp_path: Path) -> None:
    for cat, scoring, key in [
        ('core_share = "1.5"', "", "catalogue.core_share"),
        ('year_weights = ["1", "x"]', "", "catalogue.year_weights[1]"),
        ("core_min_cases = -1", "", "catalogue.core_min_cases"),
        ("years = [2024, 2025]", "", "catalogue.years"),
        ("", 'extreme_ratio = "1.5"', "scoring.extreme_ratio"),
        ("", '[scoring.level_coefficient]\n"3" = "abc"', "scoring.level_coefficient.3"),
        ("bogus = 1", "", "bogus"),
    ]:
        with pytest.raises(DipPolicyError) as exc:
            policy(tmp_path, cat, scoring)
        assert key in str(exc.value) and "\n" not in str(exc.value)


def test_defaults_load() -> None:
    p = load_policy()
    assert (p.core_share, p.year_weights, p.high_ratio, p.low_ratio, p.extreme_ratio, p.review_share) == \
        (D("0.85"), (D("1"), D("2"), D("7")), D("2"), D("0.5"), D("5"), D("0.05"))
    assert param_tables(p, YEARS)["dip_params"].schema == PARAMS_SCHEMA


def test_write_scores(tmp_path: Path) -> None:
    pol = policy(tmp_path, TOY_POLICY, TOY_SCORING)
    cat = write_catalogue(build_toy(tmp_path, pol=pol), pol, YEARS, read_overrides(), read_valid_procedures(None),
                          tmp_path / "cat")
    runner = LocalRunner()
    res = score_tables({"cases": toy_cases(toy_rows()), "institutions": toy_institutions()}, runner, pol, cat.table,
                       read_overrides(), read_valid_procedures(None))["dip_case_points"]
    s = write_scores(res, cat.manifest, tmp_path / "out")
    head = (tmp_path / "out" / "scored_cases.csv").read_text(encoding="utf-8-sig").splitlines()[0]
    assert head.startswith("case_id,institution_id,group_id,group_kind,score,ratio,deviation,coefficient,points,"
                           "status,reason")
    assert s["cases"] == 16 and s["catalogue_version"] == cat.version
