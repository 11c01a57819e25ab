"""Tests of the synthetic region generator (yibao.synth): contract shape, exact money, clean data, labels."""

from __future__ import annotations

import csv
import filecmp
import os
import re
from pathlib import Path

import duckdb
import pytest
from conftest import standards_dir

from yibao.contract.schema import ICD9_PATTERN, ICD10_PATTERN, LABEL_PATTERNS, TABLES
from yibao.synth import generate, item_tags
from yibao.synth.anomalies import FAULTS
from yibao.synth.names import id_check_digit
from yibao.synth.refdata import DATA_DIR, MINOR_DX_PREFIXES, SERIOUS_DX_PREFIXES

REPO = Path(__file__).resolve().parents[1]


STANDARDS = standards_dir()
needs_standards = pytest.mark.skipif(STANDARDS is None, reason="CHS-DRG standards folder not found "
                                     "(set YIBAO_STANDARDS or place it at ../shared/standards/chs-drg-1.1)")


CASES = int(os.environ.get("YIBAO_SYNTH_TEST_CASES", "12000"))  # raise it to check the invariants at scale


@pytest.fixture(scope="module")
def region(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("region")
    return out, generate(out, seed=7, cases=CASES)


@pytest.fixture(scope="module")
def db(region):
    out, _ = region
    con = duckdb.connect()
    for name, t in TABLES.items():
        cols = ", ".join(f"'{c.name}': '{'VARCHAR' if c.is_list else c.duckdb_type}'" for c in t.columns)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM read_csv('{out / (name + '.csv')}', header=true, "
                    f"columns={{{cols}}}, quote='', escape='')")
        for c in t.columns:
            if c.is_list:
                con.execute(f"ALTER TABLE {name} ALTER {c.name} TYPE VARCHAR[] USING string_split({c.name}, '|')")
    # the catalogue row valid on a line's service date
    con.execute("""CREATE VIEW line_cat AS SELECT f.*, c.class, c.price_cap, c.max_daily_qty, c.sex_limit, c.min_age,
                   c.max_age, c.indications, c.min_level, k.sex, k.age_years, k.principal_dx, k.secondary_dx,
                   i.level AS inst_level, k.setting
                   FROM fee_items f JOIN cases k USING (case_id) JOIN institutions i USING (institution_id)
                   JOIN catalog c ON c.item_code = f.item_code AND f.service_date >= c.valid_from
                        AND (c.valid_to IS NULL OR f.service_date <= c.valid_to)""")
    return con


def labelled(con, pattern: str) -> set[str]:
    return {r[0] for r in con.execute("SELECT case_id FROM labels WHERE pattern = ?", [pattern]).fetchall()}


def ids(con, sql: str) -> set[str]:
    return {r[0] for r in con.execute(sql).fetchall()}


# ------------------------------------------------------------------------------------------------- shape

def test_every_table_has_exactly_the_contract_columns(region):
    out, summary = region
    for name, t in TABLES.items():
        raw = (out / f"{name}.csv").read_bytes()
        assert not raw.startswith(b"\xef\xbb\xbf") and b"\r" not in raw
        assert raw.split(b"\n", 1)[0].decode() == ",".join(t.column_names)
        assert summary["tables"][name] == raw.count(b"\n") - 1


def test_case_count_is_within_one_percent_and_sizes_are_plausible(region):
    _, s = region
    assert abs(s["tables"]["cases"] - CASES) <= CASES // 100
    assert s["tables"]["fee_items"] > 5 * s["tables"]["cases"]
    assert 60 <= s["tables"]["sanctions"] <= 450


def test_money_and_dates_are_formatted_as_the_contract_says(region):
    out, _ = region
    with open(out / "fee_items.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))[:2000]
    for r in rows:
        assert re.fullmatch(r"\d+\.\d{2}", r["unit_price"]) and re.fullmatch(r"\d+\.\d{2}", r["amount"])
        assert re.fullmatch(r"\d+(\.\d{1,4})?", r["quantity"])
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", r["service_date"])
    with open(out / "cases.csv", encoding="utf-8") as f:
        for r in list(csv.DictReader(f))[:2000]:
            assert r["emergency"] in ("0", "1")
            assert r["newborn_age_days"] == "" or int(r["newborn_age_days"]) < 366


def test_codes_match_the_contract_patterns(db):
    bad10 = db.execute(f"""SELECT count(*) FROM cases, unnest(list_concat([principal_dx], coalesce(secondary_dx, [])))
                           AS t(c) WHERE NOT regexp_matches(t.c, '{ICD10_PATTERN}')""").fetchone()[0]
    bad9 = db.execute(f"""SELECT count(*) FROM cases, unnest(coalesce(procedures, [])) AS t(c)
                          WHERE NOT regexp_matches(t.c, '{ICD9_PATTERN}')""").fetchone()[0]
    assert (bad10, bad9) == (0, 0)


def test_every_kind_level_and_category_is_present(db):
    kinds = dict(db.execute("SELECT kind, count(*) FROM institutions GROUP BY 1").fetchall())
    assert set(kinds) == {"hospital", "primary", "pharmacy"}
    assert {r[0] for r in db.execute("SELECT DISTINCT level FROM institutions").fetchall()} == {0, 1, 2, 3}
    assert {r[0] for r in db.execute("SELECT DISTINCT category FROM institutions").fetchall()} == {
        "general", "tcm", "specialist", "maternal_child", "other"}
    roles = {r[0] for r in db.execute("SELECT DISTINCT role FROM staff").fetchall()}
    assert roles == {"physician", "nurse", "technician", "pharmacist", "billing", "pharmacy_principal"}
    # every pharmacy has a principal and at least one pharmacist
    assert db.execute("""SELECT count(*) FROM institutions i WHERE kind = 'pharmacy' AND (
        (SELECT count(*) FROM staff s WHERE s.institution_id = i.institution_id AND role = 'pharmacy_principal') <> 1
        OR (SELECT count(*) FROM staff s WHERE s.institution_id = i.institution_id AND role = 'pharmacist') < 1)
        """).fetchone()[0] == 0


def test_id_numbers_have_a_valid_check_digit_and_match_birth_date_and_sex(region):
    out, _ = region
    with open(out / "insured.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len({r["id_number"] for r in rows}) == len(rows)
    for r in rows[:3000]:
        n = r["id_number"]
        assert len(n) == 18 and n[17] == id_check_digit(n[:17])
        assert n[6:14] == r["birth_date"].replace("-", "")
        assert int(n[16]) % 2 == (1 if r["sex"] == "1" else 0)
    assert id_check_digit("11010519491231002") == "X"  # GB 11643 worked example


def test_population_has_both_schemes_and_a_census_like_age_shape(db):
    share = dict(db.execute("SELECT scheme, count(*) / sum(count(*)) OVER () FROM insured GROUP BY 1").fetchall())
    assert 0.2 < share["employee"] < 0.5
    old = db.execute("SELECT avg(CASE WHEN (date '2023-01-01' - birth_date) / 365.25 >= 65 THEN 1 ELSE 0 END) "
                     "FROM insured").fetchone()[0]
    assert 0.08 < old < 0.25  # census 2020: 13.5 % aged 65+
    assert db.execute("SELECT count(*) FROM insured WHERE scheme = 'employee' AND birth_date > date '2005-01-01'"
                      ).fetchone()[0] == 0
    deaths = db.execute("SELECT count(*) FROM insured WHERE death_date IS NOT NULL").fetchone()[0]
    assert deaths > 0


# ------------------------------------------------------------------------------------------------- integrity

def test_foreign_keys_hold(db):
    checks = {
        "case person": "SELECT count(*) FROM cases WHERE person_id NOT IN (SELECT person_id FROM insured)",
        "case inst": "SELECT count(*) FROM cases WHERE institution_id NOT IN (SELECT institution_id FROM institutions)",
        "case staff": "SELECT count(*) FROM cases k WHERE attending_staff_id IS NOT NULL AND attending_staff_id NOT IN"
                      " (SELECT staff_id FROM staff s WHERE s.institution_id = k.institution_id)",
        "line case": "SELECT count(*) FROM fee_items WHERE case_id NOT IN (SELECT case_id FROM cases)",
        "line staff": "SELECT count(*) FROM fee_items f JOIN cases k USING (case_id) WHERE staff_id NOT IN"
                      " (SELECT staff_id FROM staff s WHERE s.institution_id = k.institution_id)",
        "line item": "SELECT count(*) FROM fee_items WHERE item_code NOT IN (SELECT item_code FROM catalog)",
        "staff inst": "SELECT count(*) FROM staff WHERE institution_id NOT IN (SELECT institution_id FROM institutions)",
        "sanction staff": "SELECT count(*) FROM sanctions x WHERE staff_id NOT IN (SELECT staff_id FROM staff s"
                          " WHERE s.institution_id = x.institution_id)",
        "repair staff": "SELECT count(*) FROM repairs WHERE staff_id NOT IN (SELECT staff_id FROM staff)",
        "label case": "SELECT count(*) FROM labels WHERE case_id NOT IN (SELECT case_id FROM cases)",
        "case without lines": "SELECT count(*) FROM cases WHERE case_id NOT IN (SELECT case_id FROM fee_items)",
    }
    assert {k: db.execute(q).fetchone()[0] for k, q in checks.items()} == {k: 0 for k in checks}


def test_keys_are_unique_and_line_numbers_run_from_one(db):
    assert db.execute("SELECT count(*) - count(DISTINCT case_id) FROM cases").fetchone()[0] == 0
    assert db.execute("SELECT count(*) - count(DISTINCT (item_code, valid_from)) FROM catalog").fetchone()[0] == 0
    assert db.execute("""SELECT count(*) FROM (SELECT case_id, min(line_no) a, max(line_no) b, count(*) n,
                         count(DISTINCT line_no) d FROM fee_items GROUP BY 1) WHERE a <> 1 OR b <> n OR d <> n
                      """).fetchone()[0] == 0


def test_money_is_exact(db):
    # total = Σ line amounts, total = fund + self_pay + excluded, to the fen
    assert db.execute("""SELECT count(*) FROM cases k JOIN (SELECT case_id, sum(amount) s FROM fee_items GROUP BY 1)
                         USING (case_id) WHERE s <> total_cost""").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM cases WHERE total_cost <> fund_paid + self_pay + out_of_pocket_excluded"
                      ).fetchone()[0] == 0
    # every line is quantity × unit price, rounded half up, except the injected mismatches
    bad = ids(db, "SELECT case_id FROM fee_items WHERE amount <> round(quantity * unit_price, 2)")
    assert bad == labelled(db, "amount_mismatch") and bad


def test_settlement_follows_the_benefit_rules(db):
    # a resident's stay at a level-3 hospital: fund = 65 % of the eligible amount above a 1,200 yuan deductible
    rows = db.execute("""SELECT k.total_cost, k.fund_paid, k.out_of_pocket_excluded,
            sum(CASE WHEN c.class = 'B' THEN round(f.amount * c.self_pay_ratio, 2) ELSE 0 END) b
        FROM cases k JOIN institutions i USING (institution_id) JOIN line_cat f USING (case_id)
        JOIN catalog c ON c.item_code = f.item_code AND c.valid_from = (SELECT max(valid_from) FROM catalog c2
             WHERE c2.item_code = f.item_code AND c2.valid_from <= f.service_date)
        WHERE k.setting = 'inpatient' AND k.scheme = 'resident' AND i.level = 3
          AND k.case_id NOT IN (SELECT case_id FROM labels)
        GROUP BY k.case_id, k.total_cost, k.fund_paid, k.out_of_pocket_excluded LIMIT 200""").fetchall()
    assert rows
    for total, fund, excl, b in rows:
        eligible = int((total - excl - b) * 100)  # fen
        assert int(fund * 100) == max(0, eligible - 120000) * 65 // 100


def test_same_seed_same_bytes_other_seed_other_data(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate(a, seed=3, cases=3000)
    generate(b, seed=3, cases=3000)
    generate(c, seed=4, cases=3000)
    for name in TABLES:
        assert filecmp.cmp(a / f"{name}.csv", b / f"{name}.csv", shallow=False), name
    assert (a / "cases.csv").read_bytes() != (c / "cases.csv").read_bytes()
    assert (a / "insured.csv").read_bytes() != (c / "insured.csv").read_bytes()


def test_parquet_output_uses_the_arrow_schema(tmp_path):
    import pyarrow.parquet as pq

    s = generate(tmp_path, seed=5, cases=1500, fmt="parquet")
    for name, t in TABLES.items():
        tab = pq.read_table(tmp_path / f"{name}.parquet")
        assert tab.schema.equals(t.arrow_schema()), name
        assert tab.num_rows == s["tables"][name]
    cases = pq.read_table(tmp_path / "cases.parquet").to_pandas() if False else pq.read_table(tmp_path / "cases.parquet")
    tot = cases.column("total_cost").to_pylist()
    parts = zip(cases.column("fund_paid").to_pylist(), cases.column("self_pay").to_pylist(),
                cases.column("out_of_pocket_excluded").to_pylist())
    assert all(t == f + s_ + e for t, (f, s_, e) in zip(tot, parts))


# ------------------------------------------------------------------------------------------------- clinical sense

def test_sex_and_age_fit_sex_specific_and_newborn_diagnoses(db):
    assert db.execute("SELECT count(*) FROM cases WHERE principal_dx LIKE 'O%' AND (sex <> '2' OR age_years NOT "
                      "BETWEEN 12 AND 55)").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM cases WHERE (principal_dx LIKE 'N40%' OR principal_dx LIKE 'C61%') "
                      "AND sex <> '1'").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM cases WHERE principal_dx LIKE 'P%' AND (age_years <> 0 OR "
                      "newborn_age_days > 28 OR newborn_weight_g IS NULL)").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM cases WHERE principal_dx LIKE 'P%'").fetchone()[0] > 0
    # a newborn of at most 28 days always has a birth weight (the DRG grouper's input check)
    assert db.execute("SELECT count(*) FROM cases WHERE newborn_age_days <= 28 AND newborn_weight_g IS NULL"
                      ).fetchone()[0] == 0


def test_stays_are_coherent(db):
    r = db.execute("""SELECT avg(discharge_date - admit_date), avg(total_cost), min(discharge_date - admit_date),
                      avg(CASE WHEN emergency THEN 1 ELSE 0 END), count(DISTINCT dept_code)
                      FROM cases WHERE setting = 'inpatient'""").fetchone()
    assert 5 <= r[0] <= 12 and 3500 <= r[1] <= 30000 and r[2] >= 1 and 0.1 < r[3] < 0.5 and r[4] >= 15
    # appendicectomy cases carry the appendicitis diagnosis, and level-3 stays cost more than level-1 ones
    assert db.execute("""SELECT count(*) FROM cases WHERE list_contains(procedures, '47.0100')
                         AND principal_dx NOT LIKE 'K35%'""").fetchone()[0] == 0
    by_level = dict(db.execute("""SELECT level, median(total_cost) FROM cases JOIN institutions USING (institution_id)
                                  WHERE setting = 'inpatient' AND principal_dx LIKE 'J18%' GROUP BY 1""").fetchall())
    assert by_level[3] > by_level[1]
    assert db.execute("SELECT count(*) FROM cases WHERE settle_date < discharge_date").fetchone()[0] == 0
    # winter respiratory peak: January admissions for pneumonia exceed July ones
    jan, jul = db.execute("""SELECT count(*) FILTER (month(admit_date) = 1), count(*) FILTER (month(admit_date) = 7)
                             FROM cases WHERE principal_dx LIKE 'J18%'""").fetchone()
    assert jan > jul


def test_every_day_of_a_clean_stay_has_bed_and_nursing(db):
    bad = db.execute("""SELECT count(*) FROM cases k WHERE setting = 'inpatient'
        AND case_id NOT IN (SELECT case_id FROM labels WHERE pattern = 'phantom_stay')
        AND (SELECT count(DISTINCT service_date) FROM fee_items f WHERE f.case_id = k.case_id
             AND fee_category = 'bed') <> discharge_date - admit_date""").fetchone()[0]
    assert bad == 0


# ------------------------------------------------------------------------------------------------- anomalies

def test_every_pattern_is_labelled(db, region):
    _, s = region
    counts = dict(db.execute("SELECT pattern, count(*) FROM labels GROUP BY 1").fetchall())
    default = [p for p in LABEL_PATTERNS if p not in FAULTS]  # the completeness faults only with --faults
    assert set(counts) == set(default)
    assert s["labels"] == {p: counts[p] for p in default}
    assert 0.01 < sum(counts.values()) / s["tables"]["cases"] < 0.03


def test_price_quantity_and_duplicate_findings_are_exactly_the_labels(db):
    over_cap = ids(db, "SELECT case_id FROM line_cat WHERE unit_price > price_cap")
    assert over_cap == labelled(db, "price_over_cap") and over_cap
    over_qty = ids(db, "SELECT case_id FROM line_cat WHERE quantity > max_daily_qty")
    assert over_qty == labelled(db, "over_quantity") and over_qty
    dup = ids(db, """SELECT case_id FROM line_cat GROUP BY case_id, item_code, service_date, max_daily_qty
                     HAVING count(*) > 1 AND sum(quantity) > max_daily_qty""")
    assert dup == labelled(db, "duplicate_charge") and dup
    assert ids(db, "SELECT case_id FROM fee_items GROUP BY case_id, item_code, service_date HAVING count(*) > 1") == dup
    subst = ids(db, "SELECT case_id FROM line_cat WHERE fee_category = 'western_drug' AND unit_price < 0.6 * price_cap")
    assert subst == labelled(db, "drug_substitution") and subst
    # clean drug lines are billed at exactly the catalogue price of the service date
    assert ids(db, "SELECT case_id FROM line_cat WHERE item_kind = 'drug' AND unit_price <> price_cap") <= (
        labelled(db, "drug_substitution") | labelled(db, "price_over_cap"))


def test_uncovered_and_restricted_items_are_exactly_the_labels(db):
    unc = ids(db, """SELECT k.case_id FROM cases k JOIN (SELECT case_id, sum(amount) c FROM line_cat WHERE class = 'C'
                     GROUP BY 1) USING (case_id) WHERE c > k.out_of_pocket_excluded""")
    assert unc == labelled(db, "uncovered_item") and unc
    restricted = ids(db, """SELECT case_id FROM line_cat WHERE (sex_limit IS NOT NULL AND sex_limit <> sex)
        OR age_years < min_age OR age_years > max_age OR inst_level < min_level
        OR (indications IS NOT NULL AND NOT list_bool_or(list_transform(indications, lambda p:
            starts_with(principal_dx, p) OR list_bool_or(list_transform(coalesce(secondary_dx, ['-']),
            lambda s: starts_with(s, p))))))""")
    assert restricted == labelled(db, "restricted_item") and restricted


def test_stay_patterns_are_exactly_the_labels(db):
    overlap = ids(db, """SELECT b.case_id FROM cases a JOIN cases b ON a.person_id = b.person_id AND a.case_id <> b.case_id
        AND b.admit_date >= a.admit_date AND b.admit_date < a.discharge_date AND a.setting = 'inpatient'
        AND b.setting = 'inpatient' AND a.institution_id <> b.institution_id""")
    assert overlap == labelled(db, "overlapping_stay") and overlap
    split = ids(db, """SELECT b.case_id FROM cases a JOIN cases b ON a.person_id = b.person_id
        AND a.institution_id = b.institution_id AND a.case_id <> b.case_id AND a.setting = 'inpatient'
        AND b.setting = 'inpatient' AND left(a.principal_dx, 3) = left(b.principal_dx, 3)
        AND b.admit_date > a.discharge_date AND b.admit_date - a.discharge_date <= 15""")
    assert split == labelled(db, "split_admission") and split
    dead = ids(db, "SELECT case_id FROM cases JOIN insured USING (person_id) WHERE admit_date > death_date")
    assert dead == labelled(db, "dead_patient") and dead
    # clean persons are never in two places at once (any setting)
    assert db.execute("""SELECT count(*) FROM cases a JOIN cases b ON a.person_id = b.person_id AND a.case_id < b.case_id
        AND a.admit_date <= b.discharge_date AND b.admit_date <= a.discharge_date
        AND (a.setting = 'inpatient' OR b.setting = 'inpatient')
        WHERE a.case_id NOT IN (SELECT case_id FROM labels) AND b.case_id NOT IN (SELECT case_id FROM labels)
        """).fetchone()[0] == 0


def test_phantom_low_standard_and_upcoding_are_exactly_the_labels(db):
    phantom = ids(db, """SELECT k.case_id FROM cases k WHERE setting = 'inpatient' AND discharge_date - admit_date >= 4
        AND (SELECT count(DISTINCT service_date) FROM fee_items f WHERE f.case_id = k.case_id AND fee_category IN
             ('bed', 'nursing', 'western_drug', 'patent_drug', 'herbal')) < 0.5 * (discharge_date - admit_date)""")
    assert phantom == labelled(db, "phantom_stay") and phantom
    minor = " OR ".join(f"principal_dx LIKE '{p}%'" for p in MINOR_DX_PREFIXES)
    low = ids(db, f"""SELECT case_id FROM cases WHERE setting = 'inpatient' AND ({minor})
                      AND discharge_date - admit_date <= 3 AND total_cost < 3000""")
    assert low == labelled(db, "low_standard_admission") and low
    assert ids(db, f"SELECT case_id FROM cases WHERE setting = 'inpatient' AND ({minor})") == low
    tags = item_tags()
    support = [c for c, t in tags.items() if {"oxygen", "ventilation", "icu"} & set(t)]
    sup = ", ".join(f"'{c}'" for c in support)
    serious = " OR ".join(f"starts_with(s, '{p}')" for p in SERIOUS_DX_PREFIXES)
    up = ids(db, f"""SELECT case_id FROM cases k WHERE list_bool_or(list_transform(coalesce(secondary_dx, ['-']),
                     lambda s: {serious})) AND NOT EXISTS (SELECT 1 FROM fee_items f WHERE f.case_id = k.case_id
                     AND f.item_code IN ({sup}))""")
    assert up == labelled(db, "upcoding") and up
    assert db.execute(f"""SELECT count(*) FROM cases WHERE list_bool_or(list_transform(coalesce(secondary_dx, ['-']),
                          lambda s: {serious}))""").fetchone()[0] > len(up)  # clean severe stays exist, with support


def _suspensions(db) -> list[tuple[str, object, object]]:
    """(staff, from, until) per the contract: 9/10/11 points in a calendar year → 1/2/3 months, 12 → terminated."""
    import datetime as dt

    rows = db.execute("""SELECT staff_id, decided_on, points FROM sanctions WHERE responsibility <> 'none'
                         ORDER BY staff_id, decided_on""").fetchall()
    out, tot = [], {}
    for s, d, pts in rows:
        before = tot.get((s, d.year), 0)
        tot[(s, d.year)] = before + pts
        now = tot[(s, d.year)]
        if before < 9 <= now or (before < 12 <= now):
            if now >= 12:
                out.append((s, d, dt.date(9999, 1, 1)))
            else:
                m = d.month - 1 + now - 8
                out.append((s, d, dt.date(d.year + m // 12, m % 12 + 1, min(d.day, 28))))
    return out


def test_suspended_staff_are_exactly_the_labels(db):
    windows = _suspensions(db)
    db.execute("CREATE OR REPLACE TEMP TABLE susp (staff_id VARCHAR, s DATE, e DATE)")
    db.executemany("INSERT INTO susp VALUES (?, ?, ?)", windows)
    found = ids(db, """SELECT k.case_id FROM cases k JOIN susp x ON k.attending_staff_id = x.staff_id
                       AND k.admit_date >= x.s AND k.admit_date < x.e WHERE NOT k.emergency
                       UNION SELECT f.case_id FROM fee_items f JOIN cases k USING (case_id) JOIN susp x
                       ON f.staff_id = x.staff_id AND f.service_date >= x.s AND f.service_date < x.e
                       WHERE NOT k.emergency""")
    assert found == labelled(db, "suspended_staff") and found
    # the findings look like the real ones
    r = db.execute("""SELECT count(*) FILTER (fraud AND points = 12), count(*) FILTER (responsibility = 'none'),
                      count(DISTINCT basis), min(points), max(points) FROM sanctions""").fetchone()
    assert r[0] >= 1 and r[1] >= 1 and r[2] == 4 and r[3] >= 1 and r[4] == 12


def test_catalogue_has_version_changes_and_review_evidence_tags(db):
    changed = db.execute("SELECT count(*) FROM (SELECT item_code FROM catalog GROUP BY 1 HAVING count(*) > 1)"
                         ).fetchone()[0]
    assert changed >= 3
    assert db.execute("""SELECT count(*) FROM catalog a JOIN catalog b ON a.item_code = b.item_code
                         AND a.valid_to + 1 = b.valid_from AND a.price_cap <> b.price_cap""").fetchone()[0] == changed
    tags = {t for ts in item_tags().values() for t in ts}
    assert {"oxygen", "ventilation", "icu", "antibiotic", "transfusion", "bed", "nursing"} <= tags
    classes = dict(db.execute("SELECT class, count(*) FROM catalog GROUP BY 1").fetchall())
    assert set(classes) == {"A", "B", "C"}
    assert db.execute("SELECT count(*) FROM catalog WHERE class = 'B' AND self_pay_ratio IS NULL").fetchone()[0] == 0


# ------------------------------------------------------------------------------------------------- codes

def _builtin_codes() -> tuple[set[str], set[str]]:
    def read(name):
        with open(DATA_DIR / name, encoding="utf-8") as f:
            return [r for r in csv.DictReader(line for line in f if not line.startswith("#"))]

    dx = {r["code"] for r in read("diagnoses.csv")}
    pr = {r["code"] for r in read("procedures.csv")}
    for g in read("groups.csv"):
        dx |= {c for c in (g["dx"] + "|" + g["sec_fixed"] + "|" + g["severe"]).split("|") if c}
        pr |= {c for c in (g["procs"] + "|" + g["proc2"]).split("|") if c}
    return dx, pr


def test_builtin_codes_match_the_patterns_and_procedures_are_classified():
    dx, pr = _builtin_codes()
    assert len(dx) + len(pr) >= 200
    assert all(re.match(ICD10_PATTERN, c) for c in dx) and all(re.match(ICD9_PATTERN, c) for c in pr)
    with open(DATA_DIR / "procedures.csv", encoding="utf-8") as f:
        classes = {r["code"]: r["proc_class"] for r in csv.DictReader(x for x in f if not x.startswith("#"))}
    assert set(classes) == pr and set(classes.values()) == {"surgical", "therapeutic", "diagnostic"}


@needs_standards
def test_builtin_codes_are_real_codes_of_the_national_sets():
    dx, pr = _builtin_codes()
    with open(STANDARDS / "diagnoses.csv", encoding="utf-8") as f:
        known_dx = {r["code"] for r in csv.DictReader(f)}
    with open(STANDARDS / "procedures.csv", encoding="utf-8") as f:
        known_pr = {r["code"] for r in csv.DictReader(f)}
    with open(STANDARDS / "valid_procedures.csv", encoding="utf-8") as f:
        valid = {r["code"] for r in csv.DictReader(f)}
    assert dx - known_dx == set() and pr - known_pr == set()
    with open(DATA_DIR / "procedures.csv", encoding="utf-8") as f:
        surgical = {r["code"] for r in csv.DictReader(x for x in f if not x.startswith("#")) if r["proc_class"] == "surgical"}
    assert surgical <= valid


@needs_standards
def test_with_standards_codes_come_from_the_tables_and_spread_over_many_adrgs(tmp_path):
    s = generate(tmp_path, seed=11, cases=6000, standards_dir=STANDARDS)
    con = duckdb.connect()
    con.execute(f"CREATE TABLE cases AS SELECT * FROM read_csv('{tmp_path / 'cases.csv'}', header=true, all_varchar=true)")
    con.execute(f"CREATE TABLE dx AS SELECT * FROM read_csv('{STANDARDS / 'diagnoses.csv'}', all_varchar=true)")
    con.execute(f"CREATE TABLE pr AS SELECT * FROM read_csv('{STANDARDS / 'procedures.csv'}', all_varchar=true)")
    con.execute(f"CREATE TABLE ad AS SELECT * FROM read_csv('{STANDARDS / 'adrg_diagnoses.csv'}', all_varchar=true)")
    unknown = con.execute("""SELECT count(*) FROM cases, unnest(list_concat([principal_dx],
        coalesce(string_split(secondary_dx, '|'), []))) t(c) WHERE t.c NOT IN (SELECT code FROM dx)""").fetchone()[0]
    unknown_pr = con.execute("""SELECT count(*) FROM cases, unnest(coalesce(string_split(procedures, '|'), [])) t(c)
        WHERE t.c NOT IN (SELECT code FROM pr)""").fetchone()[0]
    assert (unknown, unknown_pr) == (0, 0)
    n_adrg = con.execute("""SELECT count(DISTINCT adrg) FROM cases JOIN ad ON ad.code = principal_dx
                            WHERE setting = 'inpatient'""").fetchone()[0]
    assert n_adrg >= 60
    assert set(s["labels"]) == set(LABEL_PATTERNS) - set(FAULTS) and all(v > 0 for v in s["labels"].values())
    bad_sex = con.execute("SELECT count(*) FROM cases WHERE principal_dx LIKE 'O%' AND sex <> '2'").fetchone()[0]
    assert bad_sex == 0


# ------------------------------------------------------------------------------------------------- cost levels

@pytest.fixture(scope="module")
def calibrated(tmp_path_factory):
    """30,000 cases (seed 1) in parquet, with the settings and levels of the cases."""
    out = tmp_path_factory.mktemp("calibrated")
    generate(out, seed=1, cases=30_000, fmt="parquet")
    con = duckdb.connect()
    con.execute(f"""CREATE TABLE k AS SELECT c.*, i.kind, i.level, discharge_date - admit_date AS los,
        CASE WHEN setting = 'inpatient' THEN 'ip' WHEN i.kind = 'pharmacy' THEN 'rx' ELSE 'op' END AS st
        FROM '{out / "cases.parquet"}' c JOIN '{out / "institutions.parquet"}' i USING (institution_id)""")
    return con


def test_cost_levels_match_the_national_statistics_bands(calibrated):
    """Average cost per case by setting and level within the bands of params.py (统计年鉴 2022-2023 scale)."""
    con = calibrated

    def avg(where: str, col: str = "total_cost") -> float:
        return con.execute(f"SELECT avg({col}) FROM k WHERE {where}").fetchone()[0]

    ip = "st = 'ip' AND kind = 'hospital'"
    assert 12_000 <= avg(f"{ip} AND level = 3") <= 15_000
    assert 6_000 <= avg(f"{ip} AND level = 2") <= 7_500
    assert 3_500 <= avg(f"{ip} AND level <= 1") <= 5_000
    assert 2_000 <= avg("st = 'ip' AND kind = 'primary'") <= 3_500
    assert 9_000 <= avg("st = 'ip'") <= 11_000
    assert 8 <= avg(f"{ip} AND level = 3", "los") <= 9 and 7 <= avg(f"{ip} AND level = 2", "los") <= 8
    op3, op_all = avg("st = 'op' AND kind = 'hospital' AND level = 3"), avg("st = 'op' AND kind = 'hospital'")
    assert 250 <= op_all <= 400 and op3 > avg("st = 'op' AND kind = 'hospital' AND level = 2") and op3 > op_all
    assert 80 <= avg("st = 'op' AND kind = 'primary'") <= 150
    assert 80 <= avg("st = 'rx'") <= 200


def test_inpatient_costs_are_right_skewed_and_surgery_with_implants_costs_most(calibrated):
    con = calibrated
    mean, med, p99 = con.execute("""SELECT avg(total_cost), median(total_cost), quantile_cont(total_cost, 0.99)
                                    FROM k WHERE st = 'ip'""").fetchone()
    assert med < 0.85 * mean and p99 > 3 * mean
    medical = con.execute("""SELECT avg(total_cost) FROM k WHERE st = 'ip' AND level = 3 AND kind = 'hospital'
                             AND procedures IS NULL AND principal_dx[1:3] IN ('J18', 'I50', 'I63', 'J44')""").fetchone()[0]
    # joint replacement, PCI with stents, thoracoscopic lobectomy / colectomy for cancer
    for proc in ("81.5400", "81.5201", "36.0700", "32.4100", "45.7300x007"):
        surgical = con.execute("""SELECT avg(total_cost) FROM k WHERE st = 'ip' AND level = 3 AND kind = 'hospital'
                                  AND list_contains(procedures, ?)""", [proc]).fetchone()[0]
        assert surgical > 1.6 * medical, proc


def test_budget_policy_fits_the_region(tmp_path):
    """The generated budget_policy.toml parses and its bookings equal the cases' fund_paid sums."""
    import duckdb

    from yibao.budget.policy import load_policy
    from yibao.budget.totals import compute_totals

    generate(tmp_path, seed=5, cases=8000)
    pol = load_policy(tmp_path / "budget_policy.toml")
    assert pol.year == 2025 and set(pol.funds) == {"employee", "resident"}
    booked = dict(duckdb.sql(
        f"SELECT scheme, CAST(sum(CAST(fund_paid AS DECIMAL(18,2))) AS VARCHAR) FROM read_csv('{tmp_path}/cases.csv', "
        "all_varchar=true) WHERE setting='inpatient' AND settle_date LIKE '2025-%' GROUP BY 1").fetchall())
    assert {s: str(f["booked_total"]) for s, f in pol.funds.items()} == booked
    assert all(t.final_total > 0 for t in compute_totals(pol))


def test_a_varied_region_has_another_catalogue_and_other_lists(tmp_path, region):
    """``generate(..., vary=N)`` (``yibao synth --vary N``): other codes, names and prices, drugs without a cap,
    drugs billed below their caps, low-standard admissions for other diagnoses; same seed and vary, same bytes."""
    from yibao.synth.vary import LOW_STANDARD_DX

    base_dir, _ = region
    a, b = tmp_path / "a", tmp_path / "b"
    generate(a, seed=7, cases=3000, vary=1)
    generate(b, seed=7, cases=3000, vary=1)
    assert all(filecmp.cmp(a / f, b / f, shallow=False) for f in os.listdir(a) if f != "manifest.json")
    con = duckdb.connect()
    cat = lambda d: f"read_csv_auto('{d}/catalog.csv', all_varchar=true)"
    assert con.execute(f"SELECT count(*) FROM {cat(a)} v JOIN {cat(base_dir)} u USING (item_code)").fetchone()[0] == 0
    n_drugs, no_cap = con.execute(f"SELECT count(*), count(*) FILTER (WHERE price_cap IS NULL) FROM {cat(a)} "
                                  "WHERE item_kind = 'drug'").fetchone()
    assert 0.15 * n_drugs < no_cap < 0.45 * n_drugs
    # clean drug lines with a cap are billed at 88–100 % of it (rounded to the fen: a little lower for cheap drugs)
    share = con.execute(f"""SELECT min(f.unit_price / c.price_cap), max(f.unit_price / c.price_cap)
        FROM read_csv_auto('{a}/fee_items.csv') f JOIN read_csv_auto('{a}/catalog.csv') c
             ON c.item_code = f.item_code AND f.service_date >= c.valid_from
             AND (c.valid_to IS NULL OR f.service_date <= c.valid_to)
        WHERE c.item_kind = 'drug' AND c.price_cap IS NOT NULL
          AND f.case_id NOT IN (SELECT case_id FROM read_csv_auto('{a}/labels.csv'))""").fetchone()
    assert 0.85 <= share[0] and share[1] <= 1.0
    low = con.execute(f"""SELECT DISTINCT c.principal_dx FROM read_csv_auto('{a}/cases.csv', all_varchar=true) c
        JOIN read_csv_auto('{a}/labels.csv') l USING (case_id) WHERE l.pattern = 'low_standard_admission'""").fetchall()
    assert low and {x for (x,) in low} <= set(LOW_STANDARD_DX)
