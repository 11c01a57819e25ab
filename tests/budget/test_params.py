"""The budget policy's parameters are declared once (yibao.budget.params.BUDGET_PARAMS): the defaults file and
the docs table are generated from the declaration, and the loader reports every problem of a file at once."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from budget.year_example import policy_text
from yibao.budget.params import BUDGET_PARAMS, DEFAULTS_HEADER
from yibao.budget.policy import DEFAULTS_FILE, PolicyError, load_policy

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_file_is_generated_from_the_declaration() -> None:
    assert DEFAULTS_FILE.read_text(encoding="utf-8") == BUDGET_PARAMS.defaults_toml(DEFAULTS_HEADER), (
        "regenerate: PYTHONPATH=src python -c 'from yibao.budget.params import BUDGET_PARAMS, DEFAULTS_HEADER; "
        "from yibao.budget.policy import DEFAULTS_FILE; DEFAULTS_FILE.write_text(BUDGET_PARAMS.defaults_toml(DEFAULTS_HEADER), "
        "encoding=\"utf-8\")'")


def test_docs_hold_the_generated_table() -> None:
    assert BUDGET_PARAMS.markdown() in (ROOT / "docs" / "budget-policy.md").read_text(encoding="utf-8")


def test_values_are_kept_as_written_and_defaults_name_their_source(tmp_path: Path) -> None:
    p = tmp_path / "policy.toml"
    p.write_text(policy_text("[cycle]\ndeposit_rate = \"0.080\"\n[split.level_factor]\n\"3\" = \"1.2\"\n"), encoding="utf-8")
    sec = load_policy(p).sections
    assert str(sec.cycle.deposit_rate) == "0.080"  # as written, not padded to a fixed number of places
    assert sec.split.level_factor == {"3": Decimal("1.2"), "2": Decimal("1"), "1": Decimal("1"), "0": Decimal("1")}
    assert sec.sources["split.level_factor.3"] == "policy.toml [split.level_factor] 3"
    assert sec.sources["split.level_factor.2"].startswith("默认值：") and "按不同级别" in sec.sources["split.level_factor.2"]
    assert [b.fund_share for b in sec.clearing.over_bands] == [Decimal("0.60"), Decimal("0.50"), Decimal("0")]


def test_every_problem_of_a_file_at_once(tmp_path: Path) -> None:
    p = tmp_path / "policy.toml"
    p.write_text(policy_text("[cycle]\ndeposit_rate = \"1.5\"\nmidyear_month = 12\n[clearing]\nbonus = \"1\"\n"
                             "[[clearing.deposit_return]]\nmin_score = \"60\"\nshare = \"1\"\n"), encoding="utf-8")
    with pytest.raises(PolicyError) as err:
        load_policy(p)
    msg = str(err.value)
    assert msg.startswith(f"{p}: 4 处问题：") and "\n" not in msg
    assert err.value.problems == [
        "[clearing] 未知的键：bonus",
        "cycle.deposit_rate 超出允许范围 0–1：1.5",
        "cycle.midyear_month 应为 0–11 的整数，实际为 12",
        "clearing.deposit_return 最后一档的 min_score 应为 0（覆盖所有得分）",
    ]
