"""``yibao leads`` on a hand-built region: six level-2 hospitals with two doctors each and four pneumonia stays
per doctor, all admitted on weekdays, no secondary diagnoses, no readmissions, no sanctions; H006 keeps its
patients 20-26 days where the others keep them 4-6. H006 must be the first institution lead, with the LOS
feature named in its reasons, and its doctors the first two doctor leads."""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path

import pytest
from conftest import run_cli
from regions import write_region

from yibao.leads import leads
from yibao.synth import generate

HOSPITALS = [f"H00{k}" for k in range(1, 7)]
LOS = {"H001": (4, 5, 6, 5), "H002": (5, 6, 5, 6), "H003": (4, 4, 5, 5), "H004": (6, 5, 6, 4),
       "H005": (5, 5, 4, 6), "H006": (20, 24, 26, 22)}
MONDAY = date(2024, 3, 4)


def hand_tables() -> dict[str, list[list[str]]]:
    inst = [[h, f"医院{h}", "hospital", "2", "general", "440203", "2020-01-01", ""] for h in HOSPITALS]
    staff, insured, cases = [], [], []
    n = 0
    for hi, h in enumerate(HOSPITALS):
        for d in range(2):
            sid = f"D44020300{hi:02d}{d:02d}"
            staff.append([sid, "", "", "physician", h, "2020-01-01"])
            for j in range(4):
                n += 1
                pid = f"P{n:04d}"
                insured.append([pid, "", "", "1", "1960-01-01", "employee", "440203", ""])
                admit = MONDAY + timedelta(weeks=n // 2)
                los = LOS[h][(j + d) % 4]
                dis = admit + timedelta(days=los)
                cost = f"{8000 + 100 * ((n * 7) % 5)}.00"
                cases.append([f"C{n:04d}", pid, h, "employee", "1", "64", "inpatient", admit.isoformat(), dis.isoformat(),
                              "0301", sid, "J18.900", "", "", "1", "", "", "0", cost, cost, "0.00", "0.00",
                              (dis + timedelta(days=1)).isoformat()])
    return {"institutions": inst, "insured": insured, "staff": staff, "cases": cases}


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("leads")
    region = write_region(base / "region", hand_tables())
    r = run_cli("load", region, "--workspace", base / "ws")
    assert r.returncode == 0, r.stderr
    return base / "ws"


def read(path: Path) -> list[dict]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def out(ws, tmp_path_factory) -> Path:
    o = tmp_path_factory.mktemp("leads_out") / "a"
    r = run_cli("leads", "--workspace", ws, "--year", "2024", "--out", o)
    assert r.returncode == 0, r.stderr
    return o


def test_contract_columns_and_one_row_per_entity(out: Path) -> None:
    with (out / "leads.csv").open(encoding="utf-8-sig", newline="") as f:
        assert next(csv.reader(f)) == ["rank", "level", "institution_id", "staff_id", "score", "reasons"]
    rows = read(out / "leads.csv")
    inst = [r for r in rows if r["level"] == "institution"]
    docs = [r for r in rows if r["level"] == "doctor"]
    assert sorted(r["institution_id"] for r in inst) == HOSPITALS  # every institution with cases in 2024, once
    assert all(r["staff_id"] == "" for r in inst)
    assert len(docs) == 12 and len({(r["institution_id"], r["staff_id"]) for r in docs}) == 12
    assert [r["level"] for r in rows] == ["institution"] * 6 + ["doctor"] * 12
    for group in (inst, docs):
        assert [int(r["rank"]) for r in group] == list(range(1, len(group) + 1))
        scores = [r["score"] for r in group]
        assert all(len(s.split(".")[1]) == 4 for s in scores)
        assert [float(s) for s in scores] == sorted((float(s) for s in scores), reverse=True)


def test_inflated_los_hospital_ranks_first_and_los_is_named(out: Path) -> None:
    rows = read(out / "leads.csv")
    first = rows[0]
    assert (first["rank"], first["institution_id"]) == ("1", "H006")
    assert first["reasons"].startswith("病种调整平均住院日 ")  # the feature with the largest robust z comes first
    assert "同类机构中位数" in first["reasons"]
    docs = [r for r in rows if r["level"] == "doctor"]
    assert {docs[0]["institution_id"], docs[1]["institution_id"]} == {"H006"}
    assert "病种调整平均住院日" in docs[0]["reasons"]
    feats = [r for r in read(out / "leads_features.csv")
             if r["level"] == "institution" and r["feature"] == "los_days_adj"]
    h6 = next(r for r in feats if r["institution_id"] == "H006")
    # peer median: the six institutions' LOS indices around 1.0 of the region's mean LOS (all one dx category)
    assert float(h6["value"]) > 2 * float(h6["peer_median"])
    assert float(h6["robust_z"]) > 1


def test_cases_file_holds_the_cases_behind_the_leads(out: Path) -> None:
    cases = read(out / "leads_cases.csv")
    h6 = [c for c in cases if c["level"] == "institution" and c["rank"] == "1"]
    assert len(h6) == 8 and {c["institution_id"] for c in h6} == {"H006"}
    assert sorted(int(c["los"]) for c in h6) == [20, 20, 22, 22, 24, 24, 26, 26]
    assert len([c for c in cases if c["level"] == "doctor"]) == 10 * 4


def test_two_runs_are_byte_identical(ws: Path, out: Path, tmp_path: Path) -> None:
    leads(ws, 2024, tmp_path / "b")  # (in-process: the second run, the first was the CLI's)
    for name in ("leads.csv", "leads_features.csv", "leads_cases.csv"):
        assert (tmp_path / "b" / name).read_bytes() == (out / name).read_bytes(), name


def test_evaluate_reports_precision_and_scheme_rank(ws: Path, tmp_path: Path) -> None:
    labels = tmp_path / "scheme_labels.csv"
    labels.write_text("level,institution_id,staff_id,scheme\ninstitution,H006,,inflated_los\n"
                      "doctor,H001,D4402030000000,none\n", encoding="utf-8")
    res = leads(ws, 2024, tmp_path / "e", labels=labels)
    assert "leads_evaluation.csv" in res.files
    ev = read(tmp_path / "e" / "leads_evaluation.csv")
    p5 = next(e for e in ev if e["kind"] == "precision" and e["level"] == "institution" and e["k"] == "5")
    assert (p5["hits"], p5["value"]) == ("1", "0.2000")  # H006 in the top 5, 1 hit of 5
    rank = next(e for e in ev if e["kind"] == "scheme_rank" and e["scheme"] == "inflated_los")
    assert rank["value"] == "1"


def test_a_year_without_cases_is_refused(ws: Path, tmp_path: Path) -> None:
    r = run_cli("leads", "--workspace", ws, "--year", "2019", "--out", tmp_path / "x")
    assert r.returncode == 2
    assert r.stderr.startswith("错误：") and "2019" in r.stderr
    assert not (tmp_path / "x").exists()


def test_synth_schemes_are_opt_in_and_labelled(tmp_path: Path) -> None:
    generate(tmp_path / "plain", seed=5, cases=1500)
    assert not (tmp_path / "plain" / "scheme_labels.csv").exists()
    s = generate(tmp_path / "sch", seed=5, cases=1500, schemes=True)
    labels = read(tmp_path / "sch" / "scheme_labels.csv")
    assert [x["scheme"] for x in labels] == [r[3] for r in s["schemes"]]
    los = next(x for x in labels if x["scheme"] == "inflated_los")
    assert los["level"] == "institution" and los["staff_id"] == ""
    # the labelled hospital's stays are longer in the scheme region than in the plain one (same seed)
    def mean_los(d: Path) -> float:
        rows = [r for r in read(d / "cases.csv") if r["institution_id"] == los["institution_id"]
                and r["setting"] == "inpatient"]
        return sum((date.fromisoformat(r["discharge_date"]) - date.fromisoformat(r["admit_date"])).days
                   for r in rows) / len(rows)
    assert mean_los(tmp_path / "sch") > 1.5 * mean_los(tmp_path / "plain")


@pytest.fixture(scope="module")
def synth_ws(tmp_path_factory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("leads_synth")
    generate(base / "region", seed=3, cases=4000)
    r = run_cli("load", base / "region", "--workspace", base / "ws")
    assert r.returncode == 0, r.stderr
    return base / "region", base / "ws"


def test_expected_cost_is_the_exact_mean_rounded_half_up(synth_ws, tmp_path: Path) -> None:
    """leads_cases.csv's expected_cost: the DECIMAL mean of total_cost over the year's cases of the same
    setting and diagnosis category (first three characters), rounded half up to the fen — not a DOUBLE average
    (whose last fen depended on the summation order), and the same bytes on a second run."""
    from decimal import ROUND_HALF_UP, Decimal

    region, ws = synth_ws
    leads(ws, 2024, tmp_path / "a")
    leads(ws, 2024, tmp_path / "b")
    for name in ("leads.csv", "leads_features.csv", "leads_cases.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    sums: dict[tuple[str, str], list] = {}
    for c in read(region / "cases.csv"):
        if c["settle_date"][:4] == "2024":
            s = sums.setdefault((c["setting"], c["principal_dx"][:3]), [Decimal(0), 0])
            s[0] += Decimal(c["total_cost"])
            s[1] += 1
    rows = read(tmp_path / "a" / "leads_cases.csv")
    assert rows
    for r in rows:
        total, n = sums[(r["setting"], r["dx_category"])]
        assert r["expected_cost"] == str((total / n).quantize(Decimal("0.01"), ROUND_HALF_UP)), r["case_id"]
