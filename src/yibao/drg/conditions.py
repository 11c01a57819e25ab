"""The condition notation of a CHS-DRG standards directory (分组条件记法), parsed into atoms.

``mdcs.csv`` (``entry_condition``) and ``adrgs.csv`` (``condition``) write each entry test as
atoms joined by `` AND `` (the notation of §3 of the standards README). Every atom is parsed
here; an atom this module does not know is an error, so a standards set never groups by a rule
the grouper silently ignores.

Atoms (``n`` an integer, ``L`` a list name such as ``main``):

=================================  ==============================================================
``TRUE``                           no condition
``HAS_PROC``                       at least one procedure
``PDX in mdc_diagnoses``           principal diagnosis in the MDC's list (MDC conditions only)
``PDX in dx.L`` / ``ANY_DX in dx.L``      principal / some diagnosis in the ADRG's list L
``PPROC in proc.L`` / ``ANY_PROC in proc.L``  principal / some procedure in the ADRG's list L
``PPROC in valid_procedures``      principal procedure is a valid (operating-room) procedure
``ANY_PROC in valid_procedures``   some procedure is valid
``NO_PROC in valid_procedures``    no procedure is valid (also true without procedures)
``PROC_GROUPS(expr)``              over the group labels of the case's procedures in the ADRG's
                                   ``group_<label>`` lists: ``|`` or, ``&`` and (binds tighter)
``TRAUMA_REGIONS >= n``            the case's diagnoses cover at least n body regions
``VAR op n``                       VAR ∈ SEX, AGE_YEARS, AGE_DAYS, WEIGHT; op ∈ ==, <, <=, >, >=
``VAR known`` / ``VAR nonzero``    present / present and not 0
=================================  ==============================================================
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

VARS = ("SEX", "AGE_YEARS", "AGE_DAYS", "WEIGHT")
VAR_COLUMN = {"SEX": "sex", "AGE_YEARS": "age_years", "AGE_DAYS": "age_days", "WEIGHT": "weight"}
VAR_ZH = {"SEX": "性别", "AGE_YEARS": "年龄（岁）", "AGE_DAYS": "天龄", "WEIGHT": "出生体重（克）"}


class ConditionError(ValueError):
    """An atom or expression the notation does not define."""


@dataclass(frozen=True)
class Bound:
    """A numeric variable's constraint: lo / hi with strictness; ``known``/``nonzero`` flags."""

    known: bool = False
    nonzero: bool = False
    lo: float | None = None
    lo_strict: bool = False
    hi: float | None = None
    hi_strict: bool = False

    def tighten(self, op: str, value: float) -> "Bound":
        b = self
        if op in ("==", ">=", ">"):
            strict = op == ">"
            if b.lo is None or value > b.lo or (value == b.lo and strict):
                b = Bound(b.known, b.nonzero, value, strict, b.hi, b.hi_strict)
        if op in ("==", "<=", "<"):
            strict = op == "<"
            if b.hi is None or value < b.hi or (value == b.hi and strict):
                b = Bound(b.known, b.nonzero, b.lo, b.lo_strict, value, strict)
        return b

    def merge(self, other: "Bound") -> "Bound":
        b = Bound(self.known or other.known, self.nonzero or other.nonzero, self.lo, self.lo_strict,
                  self.hi, self.hi_strict)
        if other.lo is not None:
            b = b.tighten(">" if other.lo_strict else ">=", other.lo)
        if other.hi is not None:
            b = b.tighten("<" if other.hi_strict else "<=", other.hi)
        return b

    @property
    def empty(self) -> bool:
        return not (self.known or self.nonzero or self.lo is not None or self.hi is not None)

    def holds(self, value: float | None) -> bool:
        if value is None:
            return self.empty
        if self.nonzero and value == 0:
            return False
        if self.lo is not None and (value <= self.lo if self.lo_strict else value < self.lo):
            return False
        if self.hi is not None and (value >= self.hi if self.hi_strict else value > self.hi):
            return False
        return True


@dataclass(frozen=True)
class Condition:
    """A parsed condition: the conjunction of its atoms, in normal form."""

    text: str
    atoms: tuple[str, ...]
    pdx_mdc_list: bool = False                 # PDX in mdc_diagnoses
    has_proc: bool = False                     # HAS_PROC
    pproc_valid: bool = False                  # PPROC in valid_procedures
    any_proc_valid: bool = False               # ANY_PROC in valid_procedures
    no_proc_valid: bool = False                # NO_PROC in valid_procedures
    trauma_min: int | None = None              # TRAUMA_REGIONS >= n
    dx_lists: tuple[tuple[str, str], ...] = ()   # (role PDX|ANY_DX, list name)
    proc_lists: tuple[tuple[str, str], ...] = ()  # (role PPROC|ANY_PROC, list name)
    proc_groups: str | None = None             # PROC_GROUPS expression text
    proc_group_dnf: tuple[frozenset[str], ...] = ()  # the expression as OR of AND-sets of labels
    bounds: dict[str, Bound] = field(default_factory=dict)

    @property
    def group_labels(self) -> tuple[str, ...]:
        return tuple(sorted({lab for conj in self.proc_group_dnf for lab in conj}, key=_label_key))

    def uses_list_atoms(self) -> bool:
        return bool(self.dx_lists or self.proc_lists or self.proc_group_dnf)


def _label_key(label: str) -> tuple[int, str]:
    return (int(label), "") if label.isdigit() else (1 << 30, label)


_LIST_ATOM = re.compile(r"^(PDX|ANY_DX) in dx\.([A-Za-z0-9_]+)$|^(PPROC|ANY_PROC) in proc\.([A-Za-z0-9_]+)$")
_NUM_ATOM = re.compile(r"^(SEX|AGE_YEARS|AGE_DAYS|WEIGHT) (==|<=|>=|<|>) (-?[0-9]+(?:\.[0-9]+)?)$")
_FLAG_ATOM = re.compile(r"^(SEX|AGE_YEARS|AGE_DAYS|WEIGHT) (known|nonzero)$")
_TRAUMA_ATOM = re.compile(r"^TRAUMA_REGIONS >= ([0-9]+)$")
_GROUPS_ATOM = re.compile(r"^PROC_GROUPS\((.+)\)$")
_LABEL = re.compile(r"^[A-Za-z0-9_]+$")


def parse_group_expr(expr: str) -> tuple[frozenset[str], ...]:
    """``1&2|1&3&4`` → ({1,2}, {1,3,4}): ``|`` separates alternatives, ``&`` joins labels."""
    dnf = []
    for alt in expr.split("|"):
        labels = [x.strip() for x in alt.split("&")]
        if not labels or any(not _LABEL.match(x) for x in labels):
            raise ConditionError(f"过程组表达式 {expr!r} 无法解析（只允许组号、| 和 &）")
        dnf.append(frozenset(labels))
    return tuple(dnf)


def parse(text: str, *, where: str) -> Condition:
    """Parse a condition; ``where`` is ``mdc`` or ``adrg`` (which atoms are allowed there)."""
    text = (text or "").strip()
    if not text:
        raise ConditionError("条件为空（无条件请写 TRUE）")
    atoms = tuple(a.strip() for a in re.split(r"\s+AND\s+", text))
    kw: dict = {"pdx_mdc_list": False, "has_proc": False, "pproc_valid": False, "any_proc_valid": False,
                "no_proc_valid": False, "trauma_min": None, "proc_groups": None, "proc_group_dnf": ()}
    dx_lists: list[tuple[str, str]] = []
    proc_lists: list[tuple[str, str]] = []
    bounds: dict[str, Bound] = {}
    for atom in atoms:
        if atom == "TRUE":
            continue
        if atom == "HAS_PROC":
            kw["has_proc"] = True
        elif atom == "PDX in mdc_diagnoses":
            if where != "mdc":
                raise ConditionError(f"条件项 {atom!r} 只能用于 MDC 的入组条件")
            kw["pdx_mdc_list"] = True
        elif atom == "PPROC in valid_procedures":
            kw["pproc_valid"] = True
        elif atom == "ANY_PROC in valid_procedures":
            kw["any_proc_valid"] = True
        elif atom == "NO_PROC in valid_procedures":
            kw["no_proc_valid"] = True
        elif m := _LIST_ATOM.match(atom):
            if where != "adrg":
                raise ConditionError(f"条件项 {atom!r} 只能用于 ADRG 条件（MDC 没有自己的 dx./proc. 列表）")
            if m.group(1):
                dx_lists.append((m.group(1), m.group(2)))
            else:
                proc_lists.append((m.group(3), m.group(4)))
        elif m := _NUM_ATOM.match(atom):
            var, op, value = m.group(1), m.group(2), float(m.group(3))
            bounds[var] = bounds.get(var, Bound()).tighten(op, value)
        elif m := _FLAG_ATOM.match(atom):
            var, flag = m.group(1), m.group(2)
            b = bounds.get(var, Bound())
            bounds[var] = Bound(True, b.nonzero or flag == "nonzero", b.lo, b.lo_strict, b.hi, b.hi_strict)
        elif m := _TRAUMA_ATOM.match(atom):
            kw["trauma_min"] = max(int(m.group(1)), kw["trauma_min"] or 0)
        elif m := _GROUPS_ATOM.match(atom):
            if where != "adrg":
                raise ConditionError(f"条件项 {atom!r} 只能用于 ADRG 条件")
            if kw["proc_groups"] is not None:
                raise ConditionError("一个条件中只能有一个 PROC_GROUPS")
            kw["proc_groups"] = m.group(1)
            kw["proc_group_dnf"] = parse_group_expr(m.group(1))
        else:
            raise ConditionError(f"未知的条件项 {atom!r}")
    return Condition(text=text, atoms=atoms, dx_lists=tuple(dict.fromkeys(dx_lists)),
                     proc_lists=tuple(dict.fromkeys(proc_lists)), bounds=bounds, **kw)
