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
