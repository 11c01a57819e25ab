"""The public disclosure report: the figures of the budget run, cost dynamics by level and quarter recomputed by
hand, small cells suppressed, and no personal data anywhere (JSON, Excel, PDF text scanned)."""

from __future__ import annotations

import json
import re
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import openpyxl
import pytest
from conftest import run_cli
from regions import generated_workspace

ID_NUMBER = re.compile(r"\d{17}[\dXx]")


@pytest.fixture(scope="module")
def region(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("disclose")
    generated_workspace(base, seed=5, cases=3000)
    r = run_cli("budget", "--policy", base / "region" / "budget_policy.toml", "-w", base / "ws", "--out", base / "budget")
    assert r.returncode == 0, r.stderr
    r = run_cli("assess", "-w", base / "ws", "--year", "2025", "--out", base / "assess")
    assert r.returncode == 0, r.stderr
    r = run_cli("disclose", "-w", base / "ws", "--year", "2025", "--budget", base / "budget", "--assess", base / "assess",
                "--out", base / "pub")
    assert r.returncode == 0, r.stderr
    return base


def _texts(base: Path) -> dict[str, str]:
    pub = base / "pub"
    wb = openpyxl.load_workbook(pub / "信息公开.xlsx")
    cells = " ".join(str(c.value) for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.value is not None)
    pdfium = pytest.importorskip("pypdfium2", reason="pypdfium2 (test extra) reads the PDF's text")
    doc = pdfium.PdfDocument(str(pub / "信息公开.pdf"))
    pdf_text = " ".join(doc[i].get_textpage().get_text_range() for i in range(len(doc)))
    return {"json": (pub / "disclosure.json").read_text(encoding="utf-8"), "xlsx": cells, "pdf": pdf_text}


def test_no_personal_data_in_any_rendering(region: Path):
    con = duckdb.connect(str(region / "ws" / "yibao.duckdb"), read_only=True)
    names = {n for (n,) in con.execute("SELECT name FROM insured UNION SELECT name FROM staff").fetchall() if n}
    ids = {n for (n,) in con.execute("SELECT id_number FROM insured UNION SELECT id_number FROM staff").fetchall() if n}
    persons = {p for (p,) in con.execute("SELECT person_id FROM insured").fetchall()}
    assert names and ids
    for kind, text in _texts(region).items():
        assert not ID_NUMBER.search(text), f"an id-number-like string in the {kind}"
        assert not [n for n in names if len(n) >= 2 and n in text], f"a person's name in the {kind}"
        assert not [i for i in ids if i in text] and not [p for p in persons if p in text]
    assert "2025 年医疗保险基金总额控制信息公开" in _texts(region)["pdf"]


def test_figures_are_the_budget_runs_and_cost_dynamics_by_hand(region: Path):
    d = json.loads((region / "pub" / "disclosure.json").read_text(encoding="utf-8"))
    totals = (region / "budget" / "totals.csv").read_text(encoding="utf-8-sig").splitlines()[1:]
    assert [(t["scheme"], t["final_total"]) for t in d["totals"]] == [(x.split(",")[0], x.split(",")[4]) for x in totals]
    con = duckdb.connect(str(region / "ws" / "yibao.duckdb"), read_only=True)
    rows = con.execute("""SELECT c.total_cost, c.fund_paid FROM cases c JOIN institutions i USING (institution_id)
        WHERE year(settle_date) = 2025 AND quarter(settle_date) = 1 AND i.level = 3 AND c.setting = 'inpatient'""").fetchall()
    cell = next(c for c in d["cost_dynamics"] if c["level"] == "3" and c["setting"] == "inpatient" and c["quarter"] == "2025Q1")
    total, fund = sum(Decimal(r[0]) for r in rows), sum(Decimal(r[1]) for r in rows)
    assert cell["cases"] == len(rows) >= 10
    assert Decimal(cell["avg_cost"]) == (total / len(rows)).quantize(Decimal("0.01"), ROUND_HALF_UP)
    assert Decimal(cell["burden_share"]) == ((total - fund) / total).quantize(Decimal("0.0001"), ROUND_HALF_UP)
    small = [c for c in d["cost_dynamics"] if c["cases"] is None]
    assert all(c["avg_cost"] is None and "不公开" in c["note"] for c in small)
    assert d["staff_notice"] is None and len(d["assessment"]) > 0


def test_every_cell_suppressed_below_a_high_threshold(region: Path, tmp_path):
    pol = tmp_path / "p.toml"
    pol.write_text("[disclose]\nmin_cases = 10000\nstaff_notice = true\n", encoding="utf-8")
    r = run_cli("disclose", "-w", region / "ws", "--year", "2025", "--budget", region / "budget", "--policy", pol,
                "--out", tmp_path / "pub")
    assert r.returncode == 0, r.stderr
    d = json.loads((tmp_path / "pub" / "disclosure.json").read_text(encoding="utf-8"))
    assert d["cost_dynamics"] and all(c["cases"] is None for c in d["cost_dynamics"])
    assert d["staff_notice"] is not None and all(set(n) == {"institution_id", "name", "decided_on", "basis", "points"}
                                                 for n in d["staff_notice"])
    bad = run_cli("disclose", "-w", region / "ws", "--year", "2031", "--budget", region / "budget", "--out", tmp_path / "x")
    assert bad.returncode == 2 and bad.stderr.startswith("错误：") and not (tmp_path / "x").exists()


def test_docs_hold_the_generated_parameter_table():
    from yibao.disclose import DISCLOSE

    text = (Path(__file__).resolve().parents[2] / "docs" / "disclosure.md").read_text(encoding="utf-8")
    assert DISCLOSE.markdown() in text


def test_published_report_on_the_public_pages_without_login(region: Path, tmp_path):
    from fastapi.testclient import TestClient

    from yibao.server.app import Settings, create_app
    from yibao.store.db import open_store

    r = run_cli("disclose", "-w", region / "ws", "--year", "2025", "--budget", region / "budget", "--assess",
                region / "assess", "--publish", "--out", tmp_path / "pub")
    assert r.returncode == 0, r.stderr
    assert (region / "ws" / "public" / "2025" / "disclosure.json").is_file() and "/public/2025" in r.stdout
    app = create_app(Settings(store=open_store(region / "ws"), workspace=region / "ws"))
    with TestClient(app) as client:
        index = client.get("/public")
        assert index.status_code == 200 and "2025 年度报告" in index.text
        page = client.get("/public/2025")
        assert page.status_code == 200 and "2025 年医疗保险基金总额控制信息公开" in page.text
        d = json.loads((tmp_path / "pub" / "disclosure.json").read_text(encoding="utf-8"))
        assert d["split"][0]["name"] in page.text and "费用动态" in page.text
        con = duckdb.connect(str(region / "ws" / "yibao.duckdb"), read_only=True)
        names = {n for (n,) in con.execute("SELECT name FROM insured UNION SELECT name FROM staff").fetchall() if n}
        assert not ID_NUMBER.search(page.text) and not [n for n in names if len(n) >= 2 and n in page.text]
        pdf = client.get("/public/2025/信息公开.pdf")
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf" and pdf.content[:4] == b"%PDF"
        assert client.get("/public/2024").status_code == 404
        assert client.get("/public/2025/disclosure.json").status_code == 404  # only the two documents
