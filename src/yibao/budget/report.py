"""Writing the budget outputs: each file whole (temporary name, then renamed); the command puts the directory in
place whole (:mod:`yibao.engine.outdir`), so all files appear together, or none does."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from yibao.budget.policy import BudgetPolicy
from yibao.budget.totals import TOTALS_COLUMNS, SchemeTotal, explain
from yibao.engine.csvfile import rows_csv_text


def totals_csv(totals: list[SchemeTotal]) -> str:
    return rows_csv_text(TOTALS_COLUMNS, (t.row() for t in totals))


def write_files(out_dir: Path, files: dict[str, str]) -> None:
    """Write each file to a temporary name in ``out_dir`` and rename when all are written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    temps = []
    try:
        for name, text in files.items():
            fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=f".{name}.")
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
                f.write(text)
            temps.append((tmp, out_dir / name))
        for tmp, final in temps:
            os.replace(tmp, final)
    finally:
        for tmp, _ in temps:
            if os.path.exists(tmp):
                os.unlink(tmp)


def write_totals(policy: BudgetPolicy, totals: list[SchemeTotal], out_dir: Path) -> None:
    write_files(out_dir, {"totals.csv": totals_csv(totals), "totals_explained.md": explain(policy, totals)})
