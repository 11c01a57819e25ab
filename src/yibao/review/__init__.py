"""Claims review (智能审核): the three catalogues, rules as data, findings, deductions, before-the-fact checks.

Issue 7 (seed 004 四、五; DOMAIN.md §3). Entry points for other layers:

- :func:`yibao.review.ruleset.load_rules` — the rule base (``rules/*.toml``) with a region's overrides
- :func:`yibao.review.engine.run` / :func:`~yibao.review.engine.run_workspace` — tables in, findings out
  (the qualification periods of the staff capability are passed in, never imported)
- :func:`yibao.review.engine.summaries` — per-institution summaries and the settlement ``DEDUCTIONS``
- :func:`yibao.review.engine.evaluate` — recall and precision against injected labels
- :class:`yibao.review.check.Checker` — one case or prescription before the fee is incurred (事前提醒)

Guide: docs/review.md.
"""
