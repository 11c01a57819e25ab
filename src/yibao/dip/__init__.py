"""DIP (按病种分值付费, diagnosis-intervention packet): the catalogue, the scoring, the hospital's view, the
supervision indicators, the year's settlement and policy simulation (guide: docs/dip.md).

Modules: ``policy`` (every parameter declared once: TABLE; DipPolicy, load_policy), ``keys`` (the grouping-key
SQL), ``tables`` (the parameter tables the SQL reads), ``labels`` (Chinese labels), ``catalogue`` (the
catalogue pipeline; building, writing and reading a catalogue), ``scoring`` (the scoring pipeline and its
function; scoring a workspace), ``hospital`` (one institution's view), ``indicators`` (supervision
indicators), ``settlement`` (the settlement pipelines and the exact money; run_settlement), ``reports`` (the
settlement's files and statements), ``simulate`` (scenarios), ``inputs`` (workspace and scored-case readers),
``errors``, ``examples`` (the fixtures), ``pipelines`` (registers every pipeline with its fixture),
``commands`` (one function per ``yibao dip`` command).

Nothing is imported here eagerly (DuckDB and NumPy load with the module that needs them); the names below are
the public ones, loaded on first use.
"""

from __future__ import annotations

import importlib

_PUBLIC = {
    # the commands (yibao.dip.commands; its ``hospital`` and ``indicators`` share their modules' names, so they are
    # reached as yibao.dip.commands.hospital / .indicators)
    "build": "commands", "score": "commands", "settle": "commands", "simulate": "commands", "Done": "commands",
    "BudgetYear": "commands", "hospital_view": "hospital", "indicator_table": "indicators",
    "TABLE": "policy", "DipPolicy": "policy", "load_policy": "policy",
    "run_settlement": "settlement", "DipYear": "settlement", "write_year": "reports",
    "DipPolicyError": "errors", "HospitalError": "errors",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> object:
    if name in _PUBLIC:
        return getattr(importlib.import_module(f"yibao.dip.{_PUBLIC[name]}"), name)
    raise AttributeError(f"module 'yibao.dip' has no attribute {name!r}")
