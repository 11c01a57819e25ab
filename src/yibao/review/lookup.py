"""What the single-case form of a rule logic reads (事前提醒): the catalogue versions valid on a day, the
institutions, the qualification periods of staff — indexed once per :class:`~yibao.review.check.Checker` —
and the small text helpers that give a finding's message the SQL path's exact text.

The SQL path reads the same facts set-based (``cat``, ``review_cases``, ``sp`` in :mod:`yibao.review.rulesql`);
the helpers here reproduce its casts (``qtext`` = :func:`yibao.review.logic.qty`, ``r2`` = ``money_round``).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import pyarrow as pa

from yibao.contract.derived import emergency_paid

__all__ = ["FEN", "CaseFacts", "Lookup", "dec", "fill", "qtext", "r2"]

FEN = Decimal("0.01")
_FAR = dt.date(9999, 12, 31)
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def r2(d: Decimal) -> Decimal:
    """Rounded to the fen, half up (the SQL ``money_round``)."""
    return d.quantize(FEN, rounding=ROUND_HALF_UP)


def qtext(d: Decimal) -> str:
    """A quantity as text without trailing zeros (the SQL ``qty``: 2.5000 → 2.5)."""
    return f"{d:.4f}".rstrip("0").rstrip(".")


def dec(v) -> Decimal:
    """A rule parameter (a TOML decimal string or integer) as a Decimal."""
    return Decimal(str(v))


def _text(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, Decimal):
        return f"{v:.2f}" if v.as_tuple().exponent == -2 else str(v)
    if isinstance(v, (list, tuple)):
        return str(list(v))
    return str(v)


def fill(template: str, ev: dict) -> str:
    """A message template with ``{name}`` replaced by the evidence as the SQL path casts it to text."""
    return _PLACEHOLDER.sub(lambda m: _text(ev.get(m.group(1))), template)


class Lookup:
    """Catalogue versions per item code as [valid_from, valid_end] (the SQL ``cat`` ranges: a later version
    starting inside an open or overlapping range ends the earlier one the day before), institutions by id,
    qualification periods by staff member; what the review learned from the period (reference prices, diagnosis
    profiles, the accompanying items of complications) and the CHS-DRG complication tables, when given."""

    def __init__(self, catalog: pa.Table, institutions: pa.Table, periods: pa.Table,
                 references: pa.Table | None = None, dx_profiles: pa.Table | None = None,
                 dx_evidence: pa.Table | None = None, standards: tuple[pa.Table, pa.Table] | None = None) -> None:
        by: dict[str, list[dict]] = {}
        for r in catalog.to_pylist():
            by.setdefault(r["item_code"], []).append(r)
        for rows in by.values():
            rows.sort(key=lambda r: r["valid_from"])
            for i, r in enumerate(rows):
                nxt = rows[i + 1]["valid_from"] - dt.timedelta(days=1) if i + 1 < len(rows) else _FAR
                r["valid_end"] = min(r["valid_to"] or _FAR, nxt)
        self.cat = by
        self.inst = {r["institution_id"]: r for r in institutions.to_pylist()}
        # learned reference prices (review_reference_prices) by (item code, basis, level); none before the fact
        # unless given: the price reference rule then judges against the catalogue cap only
        self.ref = {(r["item_code"], r["version_from"], r["basis"], r["inst_level"]): r
                    for r in (references.to_pylist() if references is not None else [])}
        # learned diagnosis-category profiles (review_dx_profiles, rule C06); none before the fact unless given
        self.dx_profile = {r["dx_cat"]: r for r in (dx_profiles.to_pylist() if dx_profiles is not None else [])}
        # learned accompanying items of each complication code (review_dx_evidence, rule C07), most frequent
        # first (the order the message names them in); none before the fact unless given
        ev: dict[str, list[dict]] = {}
        for r in (dx_evidence.to_pylist() if dx_evidence is not None else []):
            ev.setdefault(r["dx"], []).append(r)
        for rows in ev.values():
            rows.sort(key=lambda r: (-r["n_with_item"], r["item_code"]))
        self.dx_evidence = ev
        # the CHS-DRG complication tables (contract.standards.cc_tables: CC/MCC codes, exclusions); none: no code
        # is a complication (C07 then judges the evidence table's diagnoses only)
        cc, cce = standards if standards is not None else (None, None)
        self.cc_codes = {r["code"]: r for r in (cc.to_pylist() if cc is not None else [])}
        self.cc_exclusions = {r["principal_dx"]: r["exclusion_table"]
                              for r in (cce.to_pylist() if cce is not None else [])}
        self.periods: dict[str, list[dict]] = {}
        for r in periods.to_pylist():
            self.periods.setdefault(r["staff_id"], []).append(r)

    def version(self, code: str, day: dt.date) -> dict | None:
        """The catalogue version of ``code`` valid on ``day`` (None: not in the catalogue that day)."""
        for r in self.cat.get(code, ()):
            if r["valid_from"] <= day <= r["valid_end"]:
                return r
        return None

    def period(self, staff: str | None, day: dt.date) -> tuple[str, dt.date, bool] | None:
        """(strongest status, earliest start, whether every covering period still settles emergencies)."""
        hit = [p for p in self.periods.get(staff or "", ()) if p["start_date"] <= day
               and (p["end_date"] is None or day < p["end_date"])]
        if not hit:
            return None
        return max(p["status"] for p in hit), min(p["start_date"] for p in hit), all(emergency_paid(p) for p in hit)


@dataclass(frozen=True)
class CaseFacts:
    """What the single-case form of a case or person logic sees: the case facts (the ``review_cases`` row:
    ``dx_list``, ``inst_level``, ``inst_kind``, ``death_date``, agreement dates …), its lines, the person's
    cases known (``history``, the case itself included), the lookups and the upcoding evidence table."""

    case: dict
    lines: list[dict]
    history: list[dict]
    look: Lookup
    evidence: dict
