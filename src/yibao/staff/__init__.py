"""Payment qualification of personnel (医保支付资格管理): the "driving-licence" points ledger.

Issue 6, after 医保发〔2024〕23号 (seed 001). One append-only record per person (一人一档); every
status is derived from the events on or before a date (:mod:`yibao.staff.rules`). Guide:
docs/staff.md.

Public entry points for other layers (all return Arrow tables in the shapes of
:mod:`yibao.contract.derived`):

- :func:`periods_from_dir` — a region directory → QUALIFICATION_PERIODS
- :func:`periods_from_workspace` — a workspace (read-only) → QUALIFICATION_PERIODS, including
  procedure decisions and periods imported from other regions
- :func:`yibao.staff.settlement.withheld` — fund amounts not paid because of them (DEDUCTIONS)
- :func:`yibao.staff.demo.year_summary` — the year's suspended/terminated counts for ``make demo``
"""

from yibao.staff.sources import periods_from_dir, periods_from_workspace  # noqa: F401
