"""Where the CHS-DRG standards tables are (the project reads them; it never ships them)."""

from __future__ import annotations

import os
from pathlib import Path

ENV = "YIBAO_STANDARDS"
RELATIVE = Path("shared") / "standards" / "chs-drg-1.1"


def find_standards(explicit: Path | str | None = None) -> Path | None:
    """``explicit``, else ``$YIBAO_STANDARDS``, else ``../shared/standards/chs-drg-1.1`` beside the
    working directory or beside this source checkout; None when none holds ``diagnoses.csv``."""
    if explicit is not None:
        return Path(explicit) if (Path(explicit) / "diagnoses.csv").is_file() else None
    candidates = [os.environ.get(ENV)] if os.environ.get(ENV) else [
        Path.cwd().parent / RELATIVE, Path(__file__).resolve().parents[3].parent / RELATIVE]
    for cand in candidates:
        if cand and (Path(cand) / "diagnoses.csv").is_file():
            return Path(cand)
    return None
