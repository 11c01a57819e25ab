"""Supervision indicators (`yibao dip indicators`): a toy region of four institutions, by hand.

Defaults: high-score group ≥ 2000, low-score group ≤ 300 with a stay ≤ 2 days, readmission ≤ 15 days,
outpatient window 7 days, multiples 1.5 (upcoding) / 2 (others), refusal drop 0.05, at least 3 peers.
"""

from __future__ import annotations

import csv
import random
from decimal import Decimal
from pathlib import Path

import pyarrow as pa

from yibao.dip.examples import STAYS, VISITS, example_tables  # noqa: F401
from yibao.dip.indicators import indicator_table, indicators_csv
from yibao.dip.policy import load_policy

D = Decimal

toy = example_tables  # the example region lives beside the code: it is also the parity suite's fixture


def result(rows: list[dict]) -> dict[tuple, dict]:
    return {(r["institution_id"], r["year"], r["indicator"]): r for r in rows}


def test_indicators_by_hand() -> None:
    """2025, level 3 (A, B, C):

    high-score share  A 2/4 = 0.5000, B 1/2 = 0.5000, C 0/3 = 0 → median 0.5000, band × 1.5 = 0.7500: none flagged
    CMI               A 6 250/4 000 = 1.5625, B 3 200/2 000 = 1.6000, C 2 400/3 000 = 0.8000 → median 1.5625,
                      band 2.34375 → 2.3438
    readmission       A 1/4 = 0.2500 (A2), B 0, C 0 → median 0, band 0: A flagged
    低标入院          A 1/4 = 0.2500 (A3: score 250, 1 day), B 0, C 0 (C3 score 400 > 300) → A flagged
    转嫁费用          A (300 + 100)/4 = 100.00, B 0.00, C 30/3 = 10.00 → median 10.00, band 20.00: A flagged
    推诿 (2024 → 2025) A 0.5 → 0.5: 0.0000; B 0 → 0.5: 0.5000; C 1 → 0: −1.0000 → median 0, band −0.0500: C flagged
    D (level 2) is alone: value 1.0000, no flag (fewer than 3 peers). 2024 has no previous year: blank.
    """
    rows = indicator_table(*toy(), load_policy())
    r = result(rows)
    assert len(rows) == 7 * 6  # A, B, C × 2024, 2025 and D × 2025; six indicators
    hs = [r[(i, 2025, "upcoding_high_share")] for i in "ABC"]
    assert [x["value"] for x in hs] == [D("0.5000"), D("0.5000"), D("0.0000")]
    assert (hs[0]["median"], hs[0]["band"], hs[0]["peers"], any(x["flag"] for x in hs)) == \
        (D("0.5000"), D("0.7500"), 3, False)
    cmi = r[("A", 2025, "upcoding_cmi")]
    assert (cmi["value"], cmi["median"], cmi["band"], cmi["flag"]) == (D("1.5625"), D("1.5625"), D("2.3438"), False)
    assert r[("C", 2025, "upcoding_cmi")]["value"] == D("0.8000")
    ra = r[("A", 2025, "readmission")]
    assert (ra["value"], ra["median"], ra["band"], ra["flag"]) == (D("0.2500"), D("0.0000"), D("0.0000"), True)
    assert r[("A", 2025, "low_standard_admission")]["value"] == D("0.2500")
    assert r[("A", 2025, "low_standard_admission")]["flag"] and not r[("C", 2025, "low_standard_admission")]["flag"]
    cs = {i: r[(i, 2025, "cost_shifting")] for i in "ABC"}
    assert [cs[i]["value"] for i in "ABC"] == [D("100.00"), D("0.00"), D("10.00")]
    assert (cs["A"]["median"], cs["A"]["band"], cs["A"]["flag"], cs["C"]["flag"]) == (D("10.00"), D("20.00"), True,
                                                                                     False)
    rf = {i: r[(i, 2025, "refusing_severe")] for i in "ABC"}
    assert [rf[i]["value"] for i in "ABC"] == [D("0.0000"), D("0.5000"), D("-1.0000")]
    assert (rf["C"]["median"], rf["C"]["band"], [rf[i]["flag"] for i in "ABC"]) == \
        (D("0.0000"), D("-0.0500"), [False, False, True])
    assert (r[("A", 2024, "refusing_severe")]["value"], r[("A", 2024, "refusing_severe")]["flag"]) == (None, None)
    d = r[("D", 2025, "upcoding_high_share")]
    assert (d["value"], d["peers"], d["flag"]) == (D("1.0000"), 1, None)
    # 2024: high share A 0.5, B 0, C 1 → median 0.5, band 0.75: C flagged
    assert r[("C", 2024, "upcoding_high_share")]["flag"] and not r[("A", 2024, "upcoding_high_share")]["flag"]


def test_even_peer_count_median_and_policy(tmp_path: Path) -> None:
    """Without C's 2025 stays, A and B remain at level 3 in 2025 (2 < 3 peers: no flags); the median of
    A 1.5625 and B 1.6000 CMI is (1.5625 + 1.6000) / 2 = 1.58125 → 1.5813. min_peers = 2 turns flags on:
    低标入院 A 0.2500, B 0 → median 0.1250, band 0.2500, A is not above it."""
    scored, cases, levels = toy()
    keep = pa.array([not (c.startswith("C") and y == 2025) for c, y in
                     zip(scored.column("case_id").to_pylist(), scored.column("year").to_pylist())])
    scored = scored.filter(keep)
    r = result(indicator_table(scored, cases, levels, load_policy()))
    assert r[("A", 2025, "upcoding_cmi")]["median"] == D("1.5813")
    assert r[("A", 2025, "readmission")]["flag"] is None
    p = tmp_path / "dip.toml"
    p.write_text('[indicators]\nmin_peers = 2\nreadmit_days = 5\n', encoding="utf-8")
    r = result(indicator_table(scored, cases, levels, load_policy(p)))
    assert r[("A", 2025, "readmission")]["value"] == D("0.0000")  # 10 days > 5
    low = r[("A", 2025, "low_standard_admission")]  # median (0.25 + 0) / 2 = 0.1250, band 0.2500: not above
    assert (low["median"], low["band"], low["flag"]) == (D("0.1250"), D("0.2500"), False)


def test_csv_is_deterministic_and_chinese() -> None:
    scored, cases, levels = toy()
    a = indicators_csv(indicator_table(scored, cases, levels, load_policy()), load_policy())
    idx = list(range(cases.num_rows))
    random.Random(3).shuffle(idx)
    b = indicators_csv(indicator_table(scored.take(list(reversed(range(scored.num_rows)))), cases.take(idx), levels,
                                       load_policy()), load_policy())
    assert a == b
    lines = a.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("机构编码,机构等级,年度,指标代码,指标,指标值,同级机构数,同级中位数,预警界值")
    assert "分值 ≥ 2000 的入组病例数" in a.decode("utf-8")
    assert "同级机构不足 3" in a.decode("utf-8")


def test_bad_indicator_policy(tmp_path: Path) -> None:
    import pytest

    from yibao.dip.policy import DipPolicyError

    p = tmp_path / "dip.toml"
    p.write_text('[indicators]\nreadmit_days = "1.5"\n', encoding="utf-8")
    with pytest.raises(DipPolicyError, match="indicators.readmit_days"):
        load_policy(p)


def test_cli_on_a_generated_region(tmp_path: Path) -> None:
    from conftest import run_cli
    from regions import generated_workspace

    generated_workspace(tmp_path, seed=7, cases=3000)
    assert run_cli("dip", "build", "-w", tmp_path / "ws", "--out", tmp_path / "cat").returncode == 0
    assert run_cli("dip", "score", "-w", tmp_path / "ws", "--catalogue", tmp_path / "cat",
                   "--out", tmp_path / "s").returncode == 0
    for out in ("i1", "i2"):
        r = run_cli("dip", "indicators", "-w", tmp_path / "ws", "--scored", tmp_path / "s", "--out", tmp_path / out)
        assert r.returncode == 0, r.stderr
    data = (tmp_path / "i1" / "indicators.csv").read_bytes()
    assert data == (tmp_path / "i2" / "indicators.csv").read_bytes()
    rows = list(csv.DictReader((tmp_path / "i1" / "indicators.csv").open(encoding="utf-8-sig")))
    scored = list(csv.DictReader((tmp_path / "s" / "scored_cases.csv").open(encoding="utf-8-sig")))
    pairs = {(s["institution_id"], s["year"]) for s in scored}
    assert len(rows) == 6 * len(pairs)
    assert {r["预警"] for r in rows} <= {"是", "否", "", "同级机构不足 3"}
