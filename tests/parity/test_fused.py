"""The fused DuckDB query of a pipeline equals its last step run step by step (every registered pipeline)."""

from __future__ import annotations

import pytest

from yibao.engine.registry import Registered, pipelines
from yibao.engine.runner import LocalRunner, fused_sql, tables_equal

REGISTERED = pipelines()


@pytest.mark.parametrize("entry", REGISTERED, ids=[e.name for e in REGISTERED])
def test_fused_equals_step_by_step(entry: Registered) -> None:
    sources = entry.sources()
    runner = LocalRunner()
    last = entry.pipeline.steps[-1].name
    stepwise = runner.run_pipeline(entry.pipeline, sources)[last]
    fused = runner.run_final(entry.pipeline, sources)
    assert tables_equal(fused, stepwise), entry.name
    assert fused_sql(entry.pipeline).count('AS _step') == len(entry.pipeline.steps)
