"""Engine parity suite (引擎一致性): one suite, every engine, in the pattern of ibis's backend tests.

A test that takes the ``runner`` fixture runs once per engine (``duckdb``, ``spark``). The Spark
runs carry ``pytest.mark.spark`` and are skipped, with the reason, when pyspark, pandas or a Java
runtime is missing; all of them share one session-scoped SparkSession.

A known difference is declared, never silently tolerated::

    @pytest.mark.known_gap("spark", "why Spark differs")

marks the test ``xfail(strict=True)`` on that engine only, so the gap closing fails the suite
until the marker is removed. Registered pipelines declare theirs with
``register(..., known_gaps={"spark": "why"})``.
"""

from __future__ import annotations

import importlib.util

import pytest

from yibao.engine.runner import LocalRunner

ENGINES = ("duckdb", "spark")


def spark_unavailable() -> str | None:
    """Why the Spark runner cannot run here, or None."""
    for module, need in (("pyspark", "pyspark"), ("pandas", "pandas (pyspark's Arrow UDFs)")):
        if importlib.util.find_spec(module) is None:
            return f"{need} not installed: pip install -e '.[spark]'"
    from yibao.engine.spark import java_home

    try:
        java_home()
    except RuntimeError:
        return "no Java runtime (17+) on PATH or in JAVA_HOME"
    return None


SPARK_UNAVAILABLE = spark_unavailable()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "known_gap(engine, reason): expected failure (strict xfail) on that engine only")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        engine = callspec.params.get("runner") if callspec else None
        for mark in item.iter_markers("known_gap"):
            gap_engine, reason = mark.args
            if gap_engine not in ENGINES:
                raise pytest.UsageError(f"known_gap: unknown engine {gap_engine!r} on {item.nodeid}")
            if gap_engine == engine:
                item.add_marker(pytest.mark.xfail(strict=True, reason=f"known gap on {engine}: {reason}"))


@pytest.fixture(scope="session")
def spark():
    """The one SparkSession of the test session (local[2])."""
    if SPARK_UNAVAILABLE:
        pytest.skip(SPARK_UNAVAILABLE)
    from yibao.engine.spark import spark_session

    session = spark_session()
    yield session
    session.stop()


@pytest.fixture(
    scope="session",
    params=[
        pytest.param("duckdb"),
        pytest.param("spark", marks=[pytest.mark.spark,
                                     pytest.mark.skipif(bool(SPARK_UNAVAILABLE), reason=str(SPARK_UNAVAILABLE))]),
    ],
)
def runner(request: pytest.FixtureRequest):
    """Each engine's runner in turn."""
    if request.param == "duckdb":
        local = LocalRunner()
        yield local
        local.close()
    else:
        from yibao.engine.spark import SparkRunner

        yield SparkRunner(request.getfixturevalue("spark"))
