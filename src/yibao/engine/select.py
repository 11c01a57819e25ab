"""Choosing a runner by the name a user gives (``--engine duckdb|spark``).

Kept apart from :mod:`yibao.engine.runner` so that the Spark runner (which builds on the runner's
``Pipeline`` and ``Step``) and the local runner are both imported from here without a cycle.
"""

from __future__ import annotations

from yibao.engine.runner import LocalRunner, Runner

__all__ = ["ENGINES", "runner_for"]

ENGINES = ("duckdb", "spark")


def runner_for(engine: str, **kw) -> Runner:
    """``duckdb`` (default) or ``spark`` (needs the ``spark`` extra and a JDK: pyspark is imported only
    when a Spark runner is made)."""
    if engine == "duckdb":
        return LocalRunner(**kw)
    if engine == "spark":
        from yibao.engine.spark import SparkRunner  # optional dependency: pyspark only when asked for

        return SparkRunner(**kw)
    raise ValueError(f"unknown engine {engine!r} (duckdb, spark)")
