"""Fund operation monitoring, early warning and expenditure projection (基金运行监测、风险预警与收支预测).

Seed 002 (提高统筹层次行动方案): 全面实施基金运行监控 … 建立健全基金运行风险评估预警机制; 人社部发〔2012〕70号 三(一):
the expenditure budget from recent payments, enrolment, age structure, disease spectrum and policy changes.
Public functions: :func:`run_monitor`, :func:`run_projection`, :func:`ledger_from_budget` (docs/fund.md).
"""

from __future__ import annotations

from yibao.fund.run import ledger_from_budget, run_monitor, run_projection

__all__ = ["run_monitor", "run_projection", "ledger_from_budget"]
