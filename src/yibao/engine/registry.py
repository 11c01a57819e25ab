"""Pipeline registry (流水线登记): every capability's pipelines, each with a small example input.

A capability registers its pipelines in a module ``yibao.<capability>.pipelines``::

    register(PROFILE, fixture=profile_fixture)

where the fixture is a callable returning the source tables (name → ``pa.Table``) of a small,
realistic example, and ``known_gaps`` (engine → reason) lists engines known to differ, which the
parity suite then expects to fail. :func:`pipelines` imports every such module it finds, so the engine parity
suite (``tests/parity``) runs each registered pipeline on every engine without being told.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import pyarrow as pa

from yibao.engine.runner import Pipeline

__all__ = ["Fixture", "Registered", "pipelines", "register"]

_PACKAGE_DIR = Path(__file__).resolve().parent.parent  # src/yibao: its capability packages

Fixture = Callable[[], Mapping[str, pa.Table]]


@dataclass(frozen=True)
class Registered:
    pipeline: Pipeline
    fixture: Fixture
    known_gaps: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.pipeline.name

    def sources(self) -> dict[str, pa.Table]:
        """The fixture's tables, checked to cover every source the pipeline reads."""
        tables = dict(self.fixture())
        missing = [s for s in self.pipeline.sources if s not in tables]
        if missing:
            raise ValueError(f"pipeline {self.name}: fixture lacks source tables {missing}")
        return tables


_REGISTRY: dict[str, Registered] = {}


def register(pipeline: Pipeline, fixture: Fixture, known_gaps: Mapping[str, str] | None = None) -> Pipeline:
    """Register ``pipeline`` with its example ``fixture``; a second, different one of the same name is an error."""
    entry = Registered(pipeline, fixture, dict(known_gaps or {}))
    known = _REGISTRY.get(pipeline.name)
    if known is not None and known != entry:
        raise ValueError(f"pipeline {pipeline.name!r} is already registered")
    _REGISTRY[pipeline.name] = entry
    return pipeline


def pipelines() -> list[Registered]:
    """Every registered pipeline, sorted by name, after importing all ``yibao.*.pipelines`` modules."""
    for mod in pkgutil.iter_modules([str(_PACKAGE_DIR)]):
        if mod.ispkg and importlib.util.find_spec(f"yibao.{mod.name}.pipelines") is not None:
            importlib.import_module(f"yibao.{mod.name}.pipelines")
    return [_REGISTRY[n] for n in sorted(_REGISTRY)]
