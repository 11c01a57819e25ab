"""The staff policy's parameters are declared once (yibao.staff.params.STAFF_PARAMS): the defaults file and the
docs table are generated from the declaration; every problem of a policy file is reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from yibao.staff.params import DEFAULTS_HEADER, STAFF_PARAMS
from yibao.staff.policy import DEFAULTS_FILE, StaffPolicyError, load_policy

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_file_is_generated_from_the_declaration() -> None:
    assert DEFAULTS_FILE.read_text(encoding="utf-8") == STAFF_PARAMS.defaults_toml(DEFAULTS_HEADER), (
        "regenerate: PYTHONPATH=src python -c 'from yibao.staff.params import STAFF_PARAMS, DEFAULTS_HEADER; "
        "from yibao.staff.policy import DEFAULTS_FILE; DEFAULTS_FILE.write_text(STAFF_PARAMS.defaults_toml(DEFAULTS_HEADER), "
        "encoding=\"utf-8\")'")


def test_docs_hold_the_generated_table() -> None:
    assert STAFF_PARAMS.markdown() in (ROOT / "docs" / "staff.md").read_text(encoding="utf-8")


def test_a_policy_table_of_months_replaces_the_default_one(tmp_path: Path) -> None:
    p = tmp_path / "p.toml"
    p.write_text('[staff]\nsuspend_months = { "9" = 2, "10" = 4 }\n', encoding="utf-8")
    pol = load_policy(p)
    assert pol.suspend_months == {9: 2, 10: 4} and pol.months_for(11) == 4


def test_every_problem_of_a_file_at_once(tmp_path: Path) -> None:
    p = tmp_path / "p.toml"
    p.write_text('[staff]\nbar_years_at_once = "3"\nno_such_key = 1\n[institutions]\nflag_share = "2"\n',
                 encoding="utf-8")
    with pytest.raises(StaffPolicyError) as err:
        load_policy(p)
    assert str(err.value).startswith(f"{p}: 3 处问题：") and err.value.exit_code == 2
    assert sorted(err.value.problems) == sorted([
        "staff.no_such_key 不是已知的参数（见 docs/staff.md）",
        "staff.bar_years_at_once 应为整数，实际为 '3'",
        "institutions.flag_share 应在 0 与 1 之间：'2'",
    ])
