"""A budget policy file (总额控制政策文件) that fits the generated region: ``budget_policy.toml``.

The fund figures of a real region come from its fund accounts; a synthetic region has none, so
they are derived from what its institutions booked, with shares typical of a prefecture city:

- ``booked_total`` (当年记账总额): Σ fund_paid of the year's inpatient settlements (by settle_date);
  ``prior_year_total``: the same for the year before (as if last year's total equalled its bookings).
- ``outpatient_pooling`` (普通门诊统筹): Σ fund_paid of the year's outpatient settlements.
- The other deductions as shares of the inpatient bookings (out-of-area care, special outpatient
  diseases, …); the personal-account transfer as a share of employee contributions.
- ``contributions`` solved so that the formula total lands a little below the floor for employees
  and a little above for residents, so the demo shows both rules at work.

All figures are exact fen, rounded half up.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from yibao.contract.vocab import SCHEME_ZH, sql_str
from yibao.engine.money import allocate

# Shares of the year's inpatient bookings (typical prefecture-city fund statements; example values).
DEDUCTION_SHARES = {
    "out_of_area_realtime": Decimal("0.09"),   # 异地联网即时结算
    "out_of_area_manual": Decimal("0.01"),     # 异地就医零星报销
    "special_outpatient": Decimal("0.07"),     # 特殊病种门诊
    "marriage_checkup": Decimal("0.001"),      # 婚检
    "outpatient_special_items": Decimal("0.04"),  # 门诊特定项目
    "bed_day": Decimal("0.02"),                # 按床日结算
    "other_policy": Decimal("0.01"),           # 其他政策性支出
}
PERSONAL_ACCOUNT_SHARE = Decimal("0.30")  # employee contributions transferred to personal accounts
RISK = Decimal("0.03")
FORMULA_VS_FLOOR = {"employee": Decimal("0.99"), "resident": Decimal("1.02")}


def _fen(d: Decimal) -> Decimal:
    return d.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def budget_policy_text(out_dir: Path, fmt: str, year: int) -> str:
    """The policy file's text (its figures: :func:`budget_figures`)."""
    return policy_text(budget_figures(out_dir, fmt, year), year)


def budget_figures(out_dir: Path, fmt: str, year: int) -> dict[str, dict[str, Decimal]]:
    """Per scheme the ``[fund.SCHEME]`` figures that fit the region's bookings."""
    src = str(Path(out_dir) / f"cases.{'csv' if fmt == 'csv' else 'parquet'}")
    reader = f"read_csv({sql_str(src)}, all_varchar=true)" if fmt == "csv" else f"read_parquet({sql_str(src)})"
    con = duckdb.connect()
    try:
        rows = con.execute(f"""
            SELECT scheme, setting, CAST(left(CAST(settle_date AS VARCHAR), 4) AS INTEGER) AS y,
                   CAST(sum(CAST(fund_paid AS DECIMAL(18,2))) AS VARCHAR)
            FROM {reader} GROUP BY ALL""").fetchall()
    finally:
        con.close()
    booked = {(s, st, y): Decimal(v) for s, st, y, v in rows}
    out: dict[str, dict[str, Decimal]] = {}
    for scheme in ("employee", "resident"):
        inpatient = booked.get((scheme, "inpatient", year), Decimal(0))
        prior = booked.get((scheme, "inpatient", year - 1), Decimal(0))
        outpatient = booked.get((scheme, "outpatient", year), Decimal(0))
        deductions = {k: _fen(inpatient * s) for k, s in DEDUCTION_SHARES.items()}
        fixed = outpatient + sum(deductions.values())
        target = _fen(prior * Decimal("1.05") * FORMULA_VS_FLOOR[scheme])
        account_share = PERSONAL_ACCOUNT_SHARE if scheme == "employee" else Decimal(0)
        contributions = _fen((target + fixed) / (1 - RISK - account_share))
        figures = {
            "contributions": contributions,
            "personal_account": _fen(contributions * account_share),
            "outpatient_pooling": outpatient,
            **deductions,
            "risk_reserve_rate": RISK,
            "prior_year_total": prior,
            "booked_total": inpatient,
            "current_surplus": _fen(contributions * Decimal("0.01")),
            "accumulated_surplus": _fen(contributions * Decimal("0.25")),
            "floor_rate": Decimal("1.05"),
            "ceiling_rate": Decimal("1.05"),
        }
        out[scheme] = figures
    return out


def policy_text(funds: dict[str, dict[str, Decimal]], year: int) -> str:
    out = ["# 合成统筹区的总额控制政策文件（由 yibao synth 生成，基金数据按机构记账额推算，仅供演示）",
           f"year = {year}", ""]
    for scheme, figures in funds.items():
        out.append(f"[fund.{scheme}]  # {SCHEME_ZH[scheme]}")
        out += [f'{k} = "{v}"' for k, v in figures.items()]
        out.append("")
    return "\n".join(out)


# the annual items of the policy that a monthly ledger (fund_flows) carries, spread over the months
LEDGER_ITEMS = ("contributions", "personal_account", "out_of_area_realtime", "out_of_area_manual", "special_outpatient",
                "marriage_checkup", "outpatient_special_items", "other_policy")


def ledger_columns(funds: dict[str, dict[str, Decimal]], year: int) -> dict:
    """The region's monthly fund ledger (``fund_flows``) for ``year``: the opening balance of January = the
    accumulated surplus, each annual item spread over the twelve months by largest remainder (the months add up
    to the year to the fen). Money as integer fen, for the table writer."""
    months, schemes, items, fen = [], [], [], []
    for scheme, f in funds.items():
        parts = [(f"{year}-01", "opening_balance", [f["accumulated_surplus"]])]
        parts += [(None, item, allocate(f[item], [1] * 12)) for item in LEDGER_ITEMS]
        for first, item, amounts in parts:
            for k, a in enumerate(amounts):
                months.append(first or f"{year}-{k + 1:02d}")
                schemes.append(scheme)
                items.append(item)
                fen.append(int(a * 100))
    return {"month": pa.array(months, pa.string()), "scheme": pa.array(schemes, pa.string()),
            "item": pa.array(items, pa.string()), "amount": np.array(fen, dtype=np.int64)}
