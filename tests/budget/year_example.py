"""Shared helpers for the budget-year tests: a policy from TOML text, hand-made inputs."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

from yibao.budget.policy import AMOUNTS, YearPolicy, load_policy
from yibao.budget.split import Institution
from yibao.budget.year import YearInputs

D = Decimal


def fund_toml(scheme: str = "employee") -> str:
    keys = {k: "0.00" for k in AMOUNTS} | {"contributions": "1000.00", "booked_total": "1000.00"}
    if scheme == "resident":
        keys.pop("personal_account")
    return f"[fund.{scheme}]\n" + "\n".join(f'{k} = "{v}"' for k, v in keys.items()) + "\n"


def policy_text(extra: str = "", year: int = 2025) -> str:
    return f"year = {year}\n{fund_toml()}{extra}\n"


def year_policy_from(tmp_path: Path, extra: str = "") -> YearPolicy:
    p = tmp_path / "policy.toml"
    p.write_text(policy_text(extra), encoding="utf-8")
    return load_policy(p).sections


def inst(iid: str, kind: str = "hospital", level: int = 3, category: str = "general",
         start: date = date(2015, 1, 1), end: date | None = None) -> Institution:
    return Institution(iid, f"机构{iid}", kind, level, category, start, end)


def inputs(institutions, history: dict, months: dict, pots: dict, year: int = 2025) -> YearInputs:
    return YearInputs(year, tuple(institutions), history, months, {k: D(v) for k, v in pots.items()})


def with_(policy: YearPolicy, section: str, **changes) -> YearPolicy:
    return replace(policy, **{section: replace(getattr(policy, section), **changes)})
