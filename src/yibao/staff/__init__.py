"""Payment qualification of personnel (医保支付资格管理): the "driving-licence" points ledger.

Issue 6, after 医保发〔2024〕23号 (seed 001). One append-only record per person (一人一档); every
status is derived from the events on or before a date (:mod:`yibao.staff.rules`). Guide:
docs/staff.md.

Public entry points for other layers (all return Arrow tables in the shapes of
:mod:`yibao.contract.derived`):

- :func:`periods_from_dir` — a region directory → QUALIFICATION_PERIODS
- :func:`periods_from_workspace` — a workspace (read-only) → QUALIFICATION_PERIODS, including
  procedure decisions and periods imported from other regions
- :func:`withheld` — fund amounts not paid because of them (DEDUCTIONS)
- :func:`year_summary` — the year's suspended/terminated counts and the amount withheld (``yibao staff summary``)
- :func:`load_policy` — the staff policy (parameters declared in :mod:`yibao.staff.params`)

Modules: ``params`` (the parameter table), ``policy`` (loading it), ``rules`` (the derivation: points,
suspensions, terminations, bars), ``ledger`` (the append-only record), ``procedure`` (notice → review →
decision, registration), ``exchange`` (files between regions), ``sources`` (events of a directory or a
workspace), ``settlement`` (amounts withheld), ``institutions`` (per-institution shares), ``record`` /
``letters`` / ``writers`` (what people read), ``summary`` (the year's figures), ``pipelines`` (registered
pipelines).
"""

from yibao.staff.policy import load_policy
from yibao.staff.settlement import withheld
from yibao.staff.sources import periods_from_dir, periods_from_workspace
from yibao.staff.summary import year_summary

__all__ = ["load_policy", "periods_from_dir", "periods_from_workspace", "withheld", "year_summary"]
