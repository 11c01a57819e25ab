"""Global budget control (总额控制): the year's payment total, its split, the monthly cycle, the clearing.

Modules: ``params`` (every parameter with a default, declared once: BUDGET_PARAMS), ``policy`` (reading a policy
file: fund figures and the parameters), ``totals`` (the regional total, step by step), ``split`` (the pots over
the institutions), ``cycle`` (the twelve months), ``clearing`` (the year-end clearing), ``year`` (the whole
year over a workspace; the pots DIP and DRG settle against), ``pipelines`` (the aggregation of the cases, a
registered pipeline), ``report`` / ``statements`` (the files and statements written). Guide: docs/budget.md;
every parameter: docs/budget-policy.md.
"""

from yibao.budget.params import BUDGET_PARAMS
from yibao.budget.policy import BudgetPolicy, PolicyError, load_policy
from yibao.budget.report import write_totals
from yibao.budget.split import BudgetError
from yibao.budget.statements import write_statements
from yibao.budget.totals import compute_totals, explain
from yibao.budget.year import YearResult, pot_amounts, run_year, settlement_pots, write_year

__all__ = [
    "BUDGET_PARAMS", "BudgetError", "BudgetPolicy", "PolicyError", "YearResult", "compute_totals", "explain",
    "load_policy", "pot_amounts", "run_year", "settlement_pots", "write_statements", "write_totals", "write_year",
]
