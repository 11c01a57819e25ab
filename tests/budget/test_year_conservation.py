"""Conservation (Hypothesis): no fen appears or vanishes in the split, the months or the clearing.

Random regions of 1–6 institutions (any kind mix, agreements starting or ending inside the
year), random history and bookings (including zero months, big amounts, odd fen), random
policies (floors, factors, groups with transfers, deposit/reserve rates, flat or seasonal
months, monthly or cumulative cap, mid-year adjustment, turnover fund, band modes,
compensation caps, scores). For every pot:

- the quotas add up to the pot exactly (also after the mid-year adjustment);
- per institution: Σ month quotas + deposit + reserve = annual quota; Σ paid + Σ deferred =
  Σ booked; under the monthly cap no month pays more than its quota or its booking;
- the books close: Σ month transfers + Σ final transfers = Σ entitlements = fund total paid,
  and pot − fund total paid = the pot's balance; with compensation capped by the pot, the
  compensation never takes the pot below zero unless the shares themselves already did;
- every amount is a whole number of fen.
"""

from __future__ import annotations

import functools
import tempfile
from datetime import date
from decimal import ROUND_DOWN
from decimal import Decimal as D
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from budget.year_example import inputs, inst, with_, year_policy_from
from yibao.budget.policy import Adjustment, DepositBand, OverBand
from yibao.budget.year import compute_year

SETTINGS_ = ("inpatient", "outpatient")
money_fen = st.integers(min_value=0, max_value=5_000_000_00)
rate = st.integers(min_value=0, max_value=100).map(lambda n: D(n) / 100)


def fen(n: int) -> D:
    return (D(n) / 100).quantize(D("0.01"))


@st.composite
def regions(draw):
    n = draw(st.integers(1, 6))
    insts = []
    for i in range(n):
        kind = draw(st.sampled_from(("hospital", "primary")))
        start = draw(st.sampled_from((date(2015, 1, 1), date(2025, 3, 15), date(2025, 12, 31))))
        end = draw(st.sampled_from((None, None, date(2025, 8, 1), date(2025, 1, 1))))
        insts.append(inst(f"I{i}", kind=kind, level=draw(st.integers(0, 3)),
                          category=draw(st.sampled_from(("general", "tcm", "other"))), start=start, end=end))
    history, months = {}, {}
    for k in insts:
        for s in SETTINGS_:
            for y in (2022, 2023, 2024, 2025):
                if draw(st.booleans()):
                    history[(k.institution_id, y, "employee", s)] = (
                        draw(st.integers(0, 500)), draw(st.integers(0, 300)), fen(draw(money_fen)))
            for y in (2024, 2025):
                for m in range(1, 13):
                    if draw(st.integers(0, 3)):
                        months[(k.institution_id, y, m, "employee", s)] = (
                            draw(st.integers(0, 60)), fen(draw(st.integers(0, 60_000_00))))
    # make sure some history exists so a non-zero pot can be split
    history[(insts[0].institution_id, 2024, "employee", "inpatient")] = (10, 5, D("1000.00"))
    history[(insts[0].institution_id, 2024, "employee", "outpatient")] = (10, 5, D("100.00"))
    insts[0] = inst(insts[0].institution_id, kind=insts[0].kind)  # in force all year
    pots = {"employee.inpatient": fen(draw(money_fen)), "employee.outpatient": fen(draw(money_fen))}
    return inputs(insts, history, months, pots)


@st.composite
def policies(draw, base):
    p = base
    p = with_(p, "split", primary_floor={"inpatient": draw(rate), "outpatient": draw(rate)},
              level_factor={k: D(draw(st.integers(1, 20))) / 10 for k in ("0", "1", "2", "3")},
              groups=draw(st.booleans()), group_by=draw(st.sampled_from((("kind",), ("level",), ("kind", "level")))),
              basis=draw(st.sampled_from(({"fund_paid": D(1), "visits": D(0), "persons": D(0)},
                                           {"fund_paid": D("0.6"), "visits": D("0.3"), "persons": D("0.1")},
                                           {"fund_paid": D(0), "visits": D("0.5"), "persons": D("0.5")}))))
    deposit = draw(rate) / 2
    p = with_(p, "cycle", deposit_rate=deposit, clearing_rate=draw(rate) / 2,
              seasonality=draw(st.sampled_from(("flat", "last_year"))),
              monthly_cap=draw(st.sampled_from(("monthly", "cumulative"))), turnover_rate=draw(rate) / 5,
              turnover_recovery_month=draw(st.integers(0, 12)), midyear_month=draw(st.integers(0, 11)),
              midyear_threshold=draw(rate))
    bands = tuple(OverBand(D(u) / 100, draw(rate)) for u in sorted(draw(st.sets(st.integers(1, 50), max_size=3))))
    p = with_(p, "clearing", saving_keep_rate=draw(rate), saving_keep_cap=draw(rate),
              band_mode=draw(st.sampled_from(("marginal", "whole"))), compensation_growth_threshold=draw(rate),
              compensation_rate=draw(rate), compensation_cap=draw(st.sampled_from(("pot_balance", "none"))),
              over_bands=bands + (OverBand(None, draw(rate)),),
              deposit_return=(DepositBand(D(80), D(1)), DepositBand(D(0), draw(rate))),
              scores={"I0": D(draw(st.integers(0, 100)))})
    return p


def whole_fen(x: D) -> bool:
    return x == x.quantize(D("0.01"))


@functools.cache
def base_policy():
    return year_policy_from(Path(tempfile.mkdtemp(prefix="yibao-budget-")))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_fen_is_accounted_for(data) -> None:
    region = data.draw(regions())
    pol = data.draw(policies(base_policy()))
    res = compute_year(region, pol)
    if data.draw(st.booleans(), label="with a negotiated transfer"):
        # move part of I0's inpatient quota to another institution of the pot (recorded adjustment)
        q = {r.institution_id: r.quota for r in res.quotas if r.pot == "employee.inpatient"}
        to = data.draw(st.sampled_from(sorted(q)))
        amount = (q["I0"] * data.draw(st.integers(0, 100)) / 100).quantize(D("0.01"), rounding=ROUND_DOWN)
        pol = with_(pol, "split", adjustments=(Adjustment(1, "employee.inpatient", amount, from_institution="I0",
                                                          to_institution=to, note="协商"),))
        res = compute_year(region, pol)
        assert [a.amount for a in res.adjustments] == [amount]
    for pot, amount in region.pots.items():
        # split: every fen of the pot is allocated
        quotas = [r for r in res.quotas if r.pot == pot]
        assert sum((r.quota for r in quotas), D(0)) == amount
        lines = [c for c in res.cycle if c.pot == pot]
        assert sum((c.adjusted_quota for c in lines), D(0)) == amount  # mid-year re-split keeps the pot
        for c in lines:
            assert sum((m.quota for m in c.months), D(0)) + c.deposit + c.reserve == c.adjusted_quota
            assert c.paid + c.deferred == c.booked
            for m in c.months:
                assert all(whole_fen(x) for x in (m.quota, m.paid, m.deferred, m.transfer))
                assert m.transfer == m.paid + m.turnover_advance - m.turnover_recovery
                if pol.cycle.monthly_cap == "monthly":
                    assert m.paid == min(m.booked, m.quota)
        # clearing: the books close
        rows = [r for r in res.clearing if r.pot == pot]
        month_transfers = sum((m.transfer for c in lines for m in c.months), D(0))
        finals = sum((r.final_transfer for r in rows), D(0))
        entitlements = sum((r.entitlement for r in rows), D(0))
        assert month_transfers + finals == entitlements
        for r in rows:
            assert all(whole_fen(getattr(r, k)) for k in ("entitlement", "final_transfer", "compensation",
                                                            "saving_kept", "overrun_fund_share", "deposit_returned"))
            assert r.deposit_returned + r.deposit_deducted == r.deposit_withheld
            assert r.saving_kept <= r.saving and r.overrun_fund_share <= r.overrun
            assert r.overrun_fund_share + r.overrun_borne == r.overrun
        summary = next(p for p in res.rows("pots") if p["pot"] == pot)
        assert summary["fund_total_paid"] == entitlements and summary["balance"] == amount - entitlements
        if pol.clearing.compensation_cap == "pot_balance" and any(r.compensation for r in rows):
            assert summary["balance"] >= 0
