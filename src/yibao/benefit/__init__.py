"""The benefit calculator (待遇计算): what the pooling fund owes for every case by the benefit policy, and the
review-side check B01 (booked ``fund_paid`` against the computed payment). See docs/benefit.md."""

from yibao.benefit.check import FINDINGS_COLUMNS, RULE_ID, findings
from yibao.benefit.compute import BASE_COLUMNS, RESULT_COLUMNS, Sources, compute
from yibao.benefit.policy import PARAMS, load_policy
from yibao.benefit.run import compute_workspace, run

__all__ = [
           "BASE_COLUMNS",
           "FINDINGS_COLUMNS",
           "PARAMS",
           "RESULT_COLUMNS",
           "RULE_ID",
           "Sources",
           "compute",
           "compute_workspace",
           "findings",
           "load_policy",
           "run",
]
