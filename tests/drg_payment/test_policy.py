"""The DRG payment policy declared once (issue 14 item 3): defaults file and docs table generated from the
declaration, every problem of a file at once, the SQL parameter table derived from the typed values."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest

from yibao.contract.errors import BadPolicy
from yibao.drg.policy import DEFAULTS_FILE, PAYMENT_PARAMS, DrgPolicyError, history_years, load_payment_policy, param_tables

REPO = Path(__file__).resolve().parents[2]


def test_defaults_file_is_generated_from_the_declaration() -> None:
    assert DEFAULTS_FILE.read_text(encoding="utf-8") == PAYMENT_PARAMS.defaults_toml(), \
        "src/yibao/drg/payment.toml is stale: regenerate it from PAYMENT_PARAMS.defaults_toml()"
    assert load_payment_policy(DEFAULTS_FILE).values.as_dict() == load_payment_policy().values.as_dict()


def test_docs_hold_the_generated_table() -> None:
    assert PAYMENT_PARAMS.markdown() in (REPO / "docs" / "drg-payment.md").read_text(encoding="utf-8")


def test_every_problem_of_a_file_at_once(tmp_path) -> None:
    p = tmp_path / "drg.toml"
    p.write_text('[weights]\nyear_weights = ["1", "x"]\n[payment]\nhigh_ratio = "0.5"\nprepay_cap = "all"\n'
                 'nope = 1\n[payment.level_coefficient]\n"9" = "1"\n', encoding="utf-8")
    with pytest.raises(DrgPolicyError) as exc:
        load_payment_policy(p)
    msg = str(exc.value)
    assert isinstance(exc.value, BadPolicy) and exc.value.exit_code == 2
    assert msg.startswith(f"{p}: 5 处问题："), msg
    for part in ("weights.year_weights[1] 不是数字", "payment.high_ratio 超出允许范围 1–100：0.5",
                 "payment.prepay_cap 应为 none / booked 之一", "payment.nope 不是已知的参数（见 docs/drg-payment.md）",
                 "[payment.level_coefficient] 未知的键：9"):
        assert part in msg, msg


def test_years_and_their_weights_must_match(tmp_path) -> None:
    p = tmp_path / "drg.toml"
    p.write_text('[weights]\nyears = [2023, 2024]\nyear_weights = ["1", "2", "7"]\n', encoding="utf-8")
    with pytest.raises(DrgPolicyError, match="weights.year_weights 之和应大于 0，且与 weights.years 个数相同"):
        load_payment_policy(p)


def test_a_file_overrides_key_by_key_and_the_sql_tables_follow(tmp_path) -> None:
    p = tmp_path / "drg.toml"
    p.write_text('[weights]\nyear_weights = ["3", "7"]\n[payment]\nlong_stay_days = 45\n'
                 'per_diem_prefixes = [" f20", "Z50", "F20"]\n[payment.level_coefficient]\n"3" = "1.1"\n'
                 '[payment.institution_coefficient]\nH9 = "0.95"\n', encoding="utf-8")
    pol = load_payment_policy(p)
    assert pol.values.source("payment.long_stay_days") == "drg.toml [payment] long_stay_days"
    assert pol.values.source("payment.high_ratio").startswith("默认值")
    # the other levels keep their default 1; prefixes trimmed, upper-cased, without repeats
    assert pol.level_coefficient == {"3": D("1.1000"), "2": D("1.0000"), "1": D("1.0000"), "0": D("1.0000")}
    assert pol.per_diem_prefixes == ("F20", "Z50")
    # two history years before 2025 from the cases; their weights the last two of year_weights
    hist = history_years([2021, 2022, 2023, 2024, 2025], 2025, pol)
    assert hist == [2023, 2024]
    t = param_tables(pol, 2025, hist)
    assert t["drg_pay_params"].to_pylist() == [{
        "year": 2025, "trim_lower": D("0.0500"), "trim_upper": D("0.9500"), "base": D("1.0000"),
        "high_ratio": D("3.0000"), "low_ratio": D("0.4000"), "short_stay_days": 0, "long_stay_days": 45}]
    assert t["drg_years"].to_pylist() == [{"year": 2023, "weight": D("3.0000")}, {"year": 2024, "weight": D("7.0000")}]
    assert t["drg_per_diem"].column("prefix").to_pylist() == ["F20", "Z50"]
    assert ("institution", "H9", D("0.9500")) in [(r["scope"], r["key"], r["coefficient"])
                                                  for r in t["drg_coefficients"].to_pylist()]
