"""Fraud leads for unannounced inspections (飞行检查大数据模型线索; issue 17 §2; guide: docs/leads.md).

Public entry points:

- :func:`leads` — features, peer-group robust z-scores, isolation forest, the ranked list and its files
- :func:`evaluate` / :func:`read_labels` — precision@k and scheme ranks against a label file
"""

from yibao.leads.features import FEATURES, compute_features
from yibao.leads.run import Inputs, LeadsResult, evaluate, leads, read_labels
from yibao.leads.score import score_level

__all__ = ["FEATURES", "Inputs", "LeadsResult", "compute_features", "evaluate", "leads", "read_labels", "score_level"]
