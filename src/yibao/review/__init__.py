"""Claims review (智能审核): the three catalogues, rules as data, findings, deductions, before-the-fact checks.

Issue 7 (seed 004 四、五; DOMAIN.md §3). Guide: docs/review.md. Modules, lowest first:

- :mod:`yibao.review.lookup` — what a single-case evaluation reads (catalogue versions by day, institutions,
  qualification periods) and its text helpers
- :mod:`yibao.review.logic` — every rule logic, once: its SQL and its single-case form in one record
- :mod:`yibao.review.rulesql` — a rule set rendered into the review pipeline's steps (:func:`build_pipeline`)
- :mod:`yibao.review.ruleset` — the rule base (``rules/*.toml``) with a region's overrides (:func:`load_rules`)
- :mod:`yibao.review.pipelines` — the pipeline's registration with its example region
- :mod:`yibao.review.run` — tables or a workspace in, findings out (:func:`run`, :func:`run_workspace`; the
  qualification periods of the staff capability are passed in, never imported)
- :mod:`yibao.review.outputs` — findings.csv, per-institution summaries, the settlement ``DEDUCTIONS``, the workbook
- :mod:`yibao.review.evaluation` — recall and precision against injected labels
- :mod:`yibao.review.check` — :class:`Checker`: one case or prescription before the fee is incurred (事前提醒)

The names below are the package's public functions; import them from their modules (importing this package
loads DuckDB, so the command line imports it only inside its commands).
"""

from yibao.review.check import Checker, check_many
from yibao.review.evaluation import evaluate, read_labels
from yibao.review.outputs import deductions_by_year, summaries, write_outputs
from yibao.review.ruleset import RuleSet, load_rules
from yibao.review.rulesql import build_pipeline
from yibao.review.run import ReviewResult, run, run_workspace

__all__ = [
           "Checker",
           "ReviewResult",
           "RuleSet",
           "build_pipeline",
           "check_many",
           "deductions_by_year",
           "evaluate",
           "load_rules",
           "read_labels",
           "run",
           "run_workspace",
           "summaries",
           "write_outputs",
]
