"""B01 inside ``yibao review --benefit-policy`` on a ``synth --benefit`` region: the booking-error findings appear in
findings.csv (review order), deductions.csv, the store's findings workflow and --evaluate's rule list, and they
are exactly the generator's labelled booking errors of the policy's year (recall 1, precision 1)."""

from __future__ import annotations

import csv
import sqlite3
from decimal import Decimal as D

import pytest
from conftest import run_cli


@pytest.fixture(scope="module")
def region(tmp_path_factory):
    base = tmp_path_factory.mktemp("b01")
    r = run_cli("synth", "--out", base / "region", "--seed", "7", "--cases", "2000", "--benefit")
    assert r.returncode == 0, r.stderr
    r = run_cli("load", base / "region", "--workspace", base / "ws")
    assert r.returncode == 0, r.stderr
    return base


def rows(path):
    with open(path, encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def deductions(path, year):
    return sum((D(r["amount"]) for r in rows(path) if r["year"] == str(year)), D("0.00"))


def test_b01_findings_flow_into_the_review_outputs_and_the_store(region):
    base = region
    plain = run_cli("review", "--workspace", base / "ws", "--out", base / "plain")
    assert plain.returncode == 0, plain.stderr
    r = run_cli("review", "--workspace", base / "ws", "--out", base / "with", "--benefit-policy",
                base / "region" / "benefit_policy.toml")
    assert r.returncode == 0, r.stderr
    assert "B01 待遇计算核对（2025 年，统筹区 440200）" in r.stdout and "记账与计算不符 4 例（多记拒付 3 例）" in r.stdout

    labels = {x["case_id"]: x for x in rows(base / "region" / "benefit_labels.csv") if x["case_id"][2:6] == "2025"}
    found = {x["case_id"]: x for x in rows(base / "with" / "findings.csv") if x["rule_id"] == "B01"}
    # recall and precision on the generator's labels of the policy's year (2025): 4 of 4, nothing else
    assert set(found) == set(labels) and len(labels) == 4
    for cid, lab in labels.items():
        f = found[cid]
        diff = D(lab["booked"]) - D(lab["correct"])
        assert f["severity"] == ("reject" if diff > 0 else "warn") and D(f["amount"]) == abs(diff)
        assert f["line_no"] == "" and f"统筹基金记账 {lab['booked']} 元，按待遇政策计算应为 {lab['correct']} 元" in f["message"]
    # the other findings are the plain review's, unchanged and in the same order; B01 merged in review order
    with_rows = rows(base / "with" / "findings.csv")
    assert [x for x in with_rows if x["rule_id"] != "B01"] == rows(base / "plain" / "findings.csv")
    keys = [(x["case_id"], x["line_no"] == "", int(x["line_no"] or 0), x["rule_id"]) for x in with_rows]
    assert keys == sorted(keys)
    # deductions: 2025 grows by the over-booked amounts (329.95 − 301.90 + 135.80 − 115.80 + 166.16 − 146.16)
    assert deductions(base / "with" / "deductions.csv", 2025) - deductions(base / "plain" / "deductions.csv", 2025) \
        == D("68.05")
    assert deductions(base / "with" / "deductions.csv", 2024) == deductions(base / "plain" / "deductions.csv", 2024)
    assert any(x["rule_id"] == "B01" and x["name"] == "统筹基金记账与待遇政策计算不符" for x in rows(base / "with" / "rules.csv"))
    # the store's findings workflow: the second run's batch holds the 4 B01 findings, status open
    con = sqlite3.connect(base / "ws" / "store.sqlite3")
    try:
        run_id = con.execute("SELECT max(last_run_id) FROM findings").fetchone()[0]
        b01 = con.execute("SELECT case_id, status FROM findings WHERE rule_id = 'B01' AND last_run_id = ?", (run_id,)).fetchall()
    finally:
        con.close()
    assert sorted(c for c, _ in b01) == sorted(labels) and {s for _, s in b01} == {"open"}


def test_a_bad_benefit_policy_is_refused_before_anything_is_written(region, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[benefit]\nregion_code = "4402"\n', encoding="utf-8")
    r = run_cli("review", "--workspace", region / "ws", "--out", tmp_path / "o", "--benefit-policy", bad)
    assert r.returncode == 2 and "benefit.region_code 应为 6 位行政区划代码" in r.stderr
    assert not (tmp_path / "o").exists()


def test_b01_over_two_policy_years_computes_each_case_with_its_years_policy(region, tmp_path):
    # the region spans 2023–2025 and was booked by one set of rates; a policy file per year (2024, 2025; the 2024
    # one with a tolerance of 1 000.00 yuan, so that it must be that year's policy that checks 2024): each case is
    # computed with the policy of its settlement year, 2023 (no policy) is not checked
    text = (region / "region" / "benefit_policy.toml").read_text(encoding="utf-8")
    assert "year = 2025" in text and 'tolerance = "0.01"' in text
    p24 = tmp_path / "p2024.toml"
    p24.write_text(text.replace("year = 2025", "year = 2024").replace('tolerance = "0.01"', 'tolerance = "1000.00"'),
                   encoding="utf-8")
    p24_tight = tmp_path / "p2024_tight.toml"
    p24_tight.write_text(text.replace("year = 2025", "year = 2024"), encoding="utf-8")
    r = run_cli("review", "--data", region / "region", "--out", tmp_path / "o", "--benefit-policy",
                region / "region" / "benefit_policy.toml", "--benefit-policy", p24_tight)
    assert r.returncode == 0, r.stderr
    ours = {x["person_id"] for x in rows(region / "region" / "insured.csv") if x["region_code"].startswith("4402")}
    cases = rows(region / "region" / "cases.csv")
    person = {x["case_id"]: x["person_id"] for x in cases}
    settled = {x["case_id"]: x["settle_date"][:4] for x in cases}
    # persons insured elsewhere are not checked (their region's policy): their labels do not count
    labels = {x["case_id"]: x for x in rows(region / "region" / "benefit_labels.csv") if person[x["case_id"]] in ours}
    by_year = {y: {c for c in labels if settled[c] == y} for y in ("2023", "2024", "2025")}
    assert all(by_year.values())  # every year has labelled booking errors
    found = {x["case_id"] for x in rows(tmp_path / "o" / "findings.csv") if x["rule_id"] == "B01"}
    assert found == by_year["2024"] | by_year["2025"]  # recall 1, precision 1 in both years; 2023 not checked
    assert "B01 待遇计算核对（2024 年，统筹区 440200）" in r.stdout and "B01 待遇计算核对（2025 年" in r.stdout
    # with the loose 2024 policy only the 2024 errors above 1 000 yuan remain: the 2024 policy checks 2024
    r = run_cli("review", "--data", region / "region", "--out", tmp_path / "o2", "--benefit-policy",
                region / "region" / "benefit_policy.toml", "--benefit-policy", p24)
    assert r.returncode == 0, r.stderr
    found2 = {x["case_id"] for x in rows(tmp_path / "o2" / "findings.csv") if x["rule_id"] == "B01"}
    big = {c for c in by_year["2024"] if abs(D(labels[c]["booked"]) - D(labels[c]["correct"])) > 1000}
    assert found2 == by_year["2025"] | big


def test_two_benefit_policies_of_one_year_are_refused(region, tmp_path):
    p = region / "region" / "benefit_policy.toml"
    r = run_cli("review", "--workspace", region / "ws", "--out", tmp_path / "o", "--benefit-policy", p,
                "--benefit-policy", p)
    assert r.returncode == 2 and "都是 2025 年的政策" in r.stderr
    assert not (tmp_path / "o").exists()
