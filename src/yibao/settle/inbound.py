"""Which cases the local budget and DIP/DRG settlement settle (本地结算病例): the out-of-area selection.

A case is settled locally when it was treated at one of the pooling region's institutions; a case of a person
insured elsewhere (外地参保人员在本地就医, 参保地 ≠ ours) is kept only when the policy says so
(``out_of_area.inbound_in_local``, declared with its source in :mod:`yibao.outarea.policy`; default false: the
insured region's fund pays it and the regions clear monthly, docs/out-of-area.md). Cases at institutions elsewhere
(our insured's direct settlement there) are the place of care's to settle and are never in the local settlement.

Defined here, in the shared settlement layer, so that the budget, DIP and DRG apply the one selection without
importing the out-of-area capability; :class:`yibao.settle.pots.Budgets` carries it from the budget policy to
DIP and DRG. The selection applies only when the budget policy names the region (``[benefit] region_code``);
without it every case is settled as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from yibao.contract.vocab import sql_str
from yibao.engine.runner import query_arrow
from yibao.engine.workspace import Workspace

__all__ = ["INBOUND_IN_LOCAL", "CaseSelection", "in_region_sql", "keep_cases", "kept_case_ids", "kept_cases_sql",
           "selection_from_policy"]

INBOUND_IN_LOCAL = False  # the default of out_of_area.inbound_in_local (its source: yibao.outarea.policy)


def in_region_sql(code: str, region: str) -> str:
    """SQL: ``code`` (an expression) lies in pooling region ``region``: a province code (``440000``) takes every
    code with its first 2 digits, a city code (``440200``) every code with its first 4, any other only itself."""
    if region.endswith("0000"):
        return f"left({code}, 2) = {sql_str(region[:2])}"
    if region.endswith("00"):
        return f"left({code}, 4) = {sql_str(region[:4])}"
    return f"{code} = {sql_str(region)}"


@dataclass(frozen=True)
class CaseSelection:
    region: str                 # the pooling region's code (benefit.region_code)
    inbound_in_local: bool      # out_of_area.inbound_in_local


def selection_from_policy(raw: Mapping) -> CaseSelection | None:
    """The selection a policy file states (``[benefit] region_code``, ``[out_of_area] inbound_in_local``); None
    when it names no region."""
    region = (raw.get("benefit") or {}).get("region_code")
    if not region:
        return None
    flag = (raw.get("out_of_area") or {}).get("inbound_in_local", INBOUND_IN_LOCAL)
    return CaseSelection(str(region), bool(flag))


def kept_cases_sql(sel: CaseSelection, schema: str = "main") -> str:
    """SQL of the ``case_id`` s settled locally (over the workspace's ``cases``, ``institutions``, ``insured``)."""
    keep = "" if sel.inbound_in_local else \
        f" AND (p.region_code IS NULL OR {in_region_sql('p.region_code', sel.region)})"
    return (f"SELECT c.case_id FROM {schema}.cases c JOIN {schema}.institutions i ON i.institution_id = c.institution_id "
            f"LEFT JOIN {schema}.insured p ON p.person_id = c.person_id "
            f"WHERE {in_region_sql('i.region_code', sel.region)}{keep}")


def kept_case_ids(workspace: Path | str, sel: CaseSelection) -> pa.Array:
    """The kept case ids of a workspace (opened read-only for the moment)."""
    with Workspace(Path(workspace), read_only=True) as ws:
        return query_arrow(ws.con, kept_cases_sql(sel)).column("case_id").combine_chunks()


def keep_cases(cases, sel: CaseSelection, ids: pa.Array | None = None):
    """``cases`` (a relation name read on the workspace's connection, or an Arrow table with ``case_id``) with only
    the locally settled cases: a subquery for a relation, a filter by ``ids`` (:func:`kept_case_ids`) for a table."""
    if isinstance(cases, str):  # the workspace's qualified name ('"db".main.cases'): read its siblings the same way
        schema = cases.rsplit(".", 1)[0] if cases.endswith(".cases") else "main"
        return f"(SELECT * FROM {cases} WHERE case_id IN ({kept_cases_sql(sel, schema)}))"
    return cases.filter(pc.fill_null(pc.is_in(cases.column("case_id"), value_set=ids), False))
