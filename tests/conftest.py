from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
REPO = TESTS.parent
sys.path.insert(0, str(TESTS))


def standards_dir() -> Path | None:
    """The CHS-DRG tables: ``YIBAO_STANDARDS`` or ``../shared/standards/chs-drg-1.1`` beside the repo."""
    from yibao.contract.standards import find_standards

    return find_standards()


@pytest.fixture
def standards() -> Path:
    d = standards_dir()
    if d is None:
        pytest.skip("CHS-DRG standards directory absent (set YIBAO_STANDARDS or place ../shared/standards/chs-drg-1.1)")
    return d


def run_cli(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``yibao`` as a user would, in a fresh process."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "yibao.cli", *map(str, args)], capture_output=True,
                          text=True, env=full_env, cwd=cwd)


# The test files that take longest (measured in CI with --durations), heaviest first. Run first, so that two
# workers (`make test`: pytest -n 2 --dist loadfile, files handed out in collection order as workers free up)
# do not end with one long file left on one worker while the other idles (longest-first scheduling).
HEAVY_FIRST = (
    "tests/parity/test_spark_load.py",
    "tests/review/test_logic_triggered.py",
    "tests/parity/test_command_parity.py",
    "tests/review/test_logic_equality.py",
    "tests/test_outputs_atomic.py",
    "tests/server/test_serve.py",
    "tests/server/test_periods.py",
    "tests/parity/test_runner_parity.py",
    "tests/review/test_varied_region.py",
    "tests/leads/test_schemes_eval.py",
    "tests/test_workbooks.py",
    "tests/outarea/test_inbound_selection.py",
    "tests/server/test_workflow.py",
)


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(HEAVY_FIRST)}
    where = {id(it): rank.get(Path(str(it.fspath)).relative_to(REPO).as_posix(), len(rank)) for it in items}
    items[:] = sorted(items, key=lambda it: where[id(it)])  # stable: the order within a file is kept
