"""Helpers of the DRG tests: the miniature standards written to a directory, cases as CSV."""

from __future__ import annotations

import csv
from pathlib import Path

from yibao.drg.mini import FILES, MINI_CASES

HEADER = ("case_id", "sex", "age_years", "newborn_age_days", "newborn_weight_g", "principal_dx", "secondary_dx",
          "procedures")


def write_mini(directory: Path, **changes: str) -> Path:
    """The miniature standards set as files in ``directory``; ``changes`` replace whole files
    (keyword: file name with ``.csv`` written as ``_csv``) or, with value None, drop them."""
    directory.mkdir(parents=True, exist_ok=True)
    files = dict(FILES)
    for key, text in changes.items():
        name = key.replace("_csv", ".csv")
        if text is None:
            files.pop(name, None)
        else:
            files[name] = text
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    return directory


def case_dict(row: tuple) -> dict:
    return dict(zip(HEADER, row[:8]))


def write_cases(path: Path, rows: list[tuple], extra: dict[str, list[str]] | None = None) -> Path:
    extra = extra or {}
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow([*HEADER, *extra])
        for i, r in enumerate(rows):
            w.writerow(["" if v is None else v for v in r[:8]] + [extra[k][i] for k in extra])
    return path


def mini_rows() -> list[tuple]:
    return list(MINI_CASES)
