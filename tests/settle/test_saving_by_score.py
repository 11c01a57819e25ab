"""结余留用 reads the assessment score (人社部发〔2012〕70号 三（五）（八）): the kept saving × the deposit-return share."""

from __future__ import annotations

from decimal import Decimal as D

from budget.year_example import year_policy_from

from yibao.settle.bands import share


def _cp(tmp_path, extra: str = ""):
    return year_policy_from(tmp_path, extra).clearing


def test_a_low_score_keeps_less_of_the_saving(tmp_path):
    cp = _cp(tmp_path)
    # quota 10 000, booked 8 000: saving 2 000; kept min(2 000 × 0.50, 10 000 × 0.10) = 1 000
    full = share(D("10000.00"), D("8000.00"), cp, D("95"))
    assert (full.saving, full.saving_kept, full.base) == (D("2000.00"), D("1000.00"), D("9000.00"))
    # score 85: the deposit band 80–90 returns 0.9 → kept 1 000 × 0.9 = 900
    low = share(D("10000.00"), D("8000.00"), cp, D("85"))
    assert (low.saving_kept, low.base) == (D("900.00"), D("8900.00"))
    assert "考核得分 85 的返还比例 0.9，留用 1000.00 × 0.9 = 900.00" in low.note
    # score 50: share 0 → nothing kept; no score given: as before
    assert share(D("10000.00"), D("8000.00"), cp, D("50")).saving_kept == D("0.00")
    assert share(D("10000.00"), D("8000.00"), cp).saving_kept == D("1000.00")


def test_the_policy_can_turn_it_off(tmp_path):
    cp = _cp(tmp_path, '[clearing]\nsaving_by_score = "none"\n')
    assert share(D("10000.00"), D("8000.00"), cp, D("50")).saving_kept == D("1000.00")
