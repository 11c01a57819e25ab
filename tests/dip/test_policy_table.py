"""The DIP parameters are declared once (yibao.dip.policy.TABLE): the defaults file, the docs table and the SQL's
parameter row all come from that declaration, and a policy file's problems are reported together."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest

from yibao.dip.indicators import indicator_params
from yibao.dip.policy import DEFAULTS_FILE, DEFAULTS_HEADER, TABLE, DipPolicyError, load_policy
from yibao.dip.tables import PARAMS_SCHEMA, param_tables

REPO = Path(__file__).resolve().parents[2]
REGEN = ("PYTHONPATH=src python -c 'from yibao.dip.policy import *; "
         "DEFAULTS_FILE.write_text(TABLE.defaults_toml(header=DEFAULTS_HEADER), encoding=\"utf-8\")'")


def test_defaults_file_is_generated_from_the_declaration() -> None:
    assert DEFAULTS_FILE.read_text(encoding="utf-8") == TABLE.defaults_toml(header=DEFAULTS_HEADER), \
        f"src/yibao/dip/defaults.toml is stale: {REGEN}"


def test_docs_hold_the_generated_table() -> None:
    assert TABLE.markdown() in (REPO / "docs" / "dip.md").read_text(encoding="utf-8"), \
        "docs/dip.md §4 is stale: paste TABLE.markdown() between its markers"


def test_every_sql_number_comes_from_the_policy_file(tmp_path: Path) -> None:
    p = tmp_path / "dip.toml"
    p.write_text('[catalogue]\ncore_share = "0.9"\ncore_min_cases = 12\ntrim_lower = "0.1"\ntrim_upper = "0.8"\n'
                 'score_base = "500"\n[scoring]\nhigh_ratio = "3"\nlow_ratio = "0.4"\nextreme_ratio = "6"\n'
                 'review_share = "0.02"\n[indicators]\nreadmit_days = 30\n', encoding="utf-8")
    pol = load_policy(p)
    row = param_tables(pol, [2024])["dip_params"]
    assert row.schema == PARAMS_SCHEMA
    assert row.to_pylist() == [{"core_share": D("0.9000"), "core_min_cases": 12, "trim_lower": D("0.1000"),
                                "trim_upper": D("0.8000"), "score_base": D("500.0000"), "high_ratio": D("3.0000"),
                                "low_ratio": D("0.4000"), "extreme_ratio": D("6.0000"), "review_share": D("0.0200")}]
    assert pol["scoring.high_ratio"] == D("3.0000") and pol["catalogue.core_min_cases"] == 12
    ind = indicator_params(pol).to_pylist()[0]
    assert ind["readmit_days"] == D("30") and ind["shift_days"] == D("7") and len(ind) == 11
    # 0 = by core_share: NULL in SQL
    assert param_tables(load_policy(), [2024])["dip_params"].column("core_min_cases").to_pylist() == [None]


def test_every_problem_of_a_file_at_once(tmp_path: Path) -> None:
    p = tmp_path / "dip.toml"
    p.write_text('[catalogue]\ncore_share = "1.5"\n[scoring]\nlow_ratio = "x"\n[settlement]\nconvention = "cash"\n',
                 encoding="utf-8")
    with pytest.raises(DipPolicyError) as exc:
        load_policy(p)
    msg = str(exc.value)
    assert msg.startswith(f"{p}: 3 处问题：") and "\n" not in msg
    for key in ("catalogue.core_share", "scoring.low_ratio", "settlement.convention"):
        assert key in msg
    assert len(exc.value.problems) == 3 and exc.value.exit_code == 2
