"""Out-of-area care (异地就医): filings, direct settlement, manual claims, inbound selection, monthly clearing."""

from yibao.outarea.policy import PARAMS, load_policy
from yibao.outarea.run import (
    Analysis,
    analyse,
    budget_figures,
    local_settlement_cases_sql,
    run,
    write_figures,
)

__all__ = ["PARAMS", "Analysis", "analyse", "budget_figures", "load_policy", "local_settlement_cases_sql", "run", "write_figures"]
