"""The parameter tables in the docs and the defaults files are the declarations' own (regenerate, never hand-edit)."""

from __future__ import annotations

from pathlib import Path

from yibao.benefit.policy import PARAMS as BENEFIT
from yibao.benefit.policy import load_policy
from yibao.outarea.policy import PARAMS as OUTAREA
from yibao.outarea.policy import load_policy as load_outarea

REPO = Path(__file__).resolve().parents[2]


def _block(doc: str, name: str) -> str:
    text = (REPO / "docs" / doc).read_text(encoding="utf-8")
    return text.split(f"<!-- params:{name} -->\n", 1)[1].split(f"<!-- /params:{name} -->", 1)[0]


def test_docs_carry_the_declared_tables():
    assert _block("benefit.md", "benefit") == BENEFIT.markdown()
    assert _block("out-of-area.md", "out_of_area") == OUTAREA.markdown()


def test_defaults_files_are_generated():
    assert (REPO / "src/yibao/outarea/defaults.toml").read_text(encoding="utf-8") == OUTAREA.defaults_toml()
    assert (REPO / "src/yibao/benefit/defaults.toml").read_text(encoding="utf-8") == BENEFIT.defaults_toml()


def test_example_policy_reads():
    p = REPO / "examples" / "benefit-policy.toml"
    v = load_policy(p)
    assert v["benefit.deductible"]["employee_inpatient"]["3"] == 900
    assert v["benefit.deductible"]["employee_inpatient"]["2"] == 600
    assert str(v["benefit.band1_top"]["resident_inpatient"]) == "20000.00"
    assert v.source("benefit.tolerance") == "benefit-policy.toml [benefit] tolerance"
    assert load_outarea(p)["out_of_area.inbound_in_local"] is False
