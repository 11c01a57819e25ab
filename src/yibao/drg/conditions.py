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
``ANY_SDX in dx.L``                some secondary diagnosis (position 2 onward) in the list L
``PPROC in proc.L`` / ``ANY_PROC in proc.L``  principal / some procedure in the ADRG's list L
``PPROC in valid_procedures``      principal procedure is a valid (operating-room) procedure
``ANY_PROC in valid_procedures``   some procedure is valid
``NO_PROC in valid_procedures``    no procedure is valid (also true without procedures)
``PROC_GROUPS(expr)``              over the group labels of the case's procedures in the ADRG's
                                   ``group_<label>`` lists: ``|`` or, ``&`` and (binds tighter)
``TRAUMA_REGIONS >= n``            the case's diagnoses cover at least n body regions
``VAR op n``                       VAR ∈ SEX, AGE_YEARS, AGE_DAYS, WEIGHT, LOS; op ∈ ==, <, <=, >, >=
``VAR known`` / ``VAR nonzero``    present / present and not 0
``MCC`` / ``CC_OR_MCC``            the case's complication level (DRG rules only)
=================================  ==============================================================

A condition may be a disjunction of such conjunctions, joined by `` OR `` (``AND`` binds tighter):
an ADRG split over several source modules (e.g. Beijing 2022's AH1) holds when any of its
*alternatives* holds (:func:`parse_alternatives`).

Where each atom may stand: MDC entry conditions (``mdc``), ADRG conditions (``adrg``) and DRG
rules (``drg``, the ``condition`` column of ``drg_rules.csv``). ``LOS`` (length of stay in days,
住院天数) is a DRG-rule variable only: the ADRG decision never depends on it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

VARS = ("SEX", "AGE_YEARS", "AGE_DAYS", "WEIGHT")          # variables of MDC and ADRG conditions
RULE_VARS = ("SEX", "AGE_YEARS", "AGE_DAYS", "WEIGHT", "LOS")  # variables of DRG rules
VAR_COLUMN = {"SEX": "sex", "AGE_YEARS": "age_years", "AGE_DAYS": "age_days", "WEIGHT": "weight", "LOS": "los"}
VAR_ZH = {"SEX": "性别", "AGE_YEARS": "年龄（岁）", "AGE_DAYS": "天龄", "WEIGHT": "出生体重（克）", "LOS": "住院天数"}
LEVEL_NEED = {None: 0, "cc_or_mcc": 1, "mcc": 2}  # a DRG rule's complication test: the least case level it needs


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
    level: str | None = None                   # MCC → "mcc", CC_OR_MCC → "cc_or_mcc" (DRG rules)

    @property
    def group_labels(self) -> tuple[str, ...]:
        return tuple(sorted({lab for conj in self.proc_group_dnf for lab in conj}, key=_label_key))

    def uses_list_atoms(self) -> bool:
        return bool(self.dx_lists or self.proc_lists or self.proc_group_dnf)


def _label_key(label: str) -> tuple[int, str]:
    return (int(label), "") if label.isdigit() else (1 << 30, label)


_LIST_ATOM = re.compile(r"^(PDX|ANY_DX|ANY_SDX) in dx\.([A-Za-z0-9_]+)$|^(PPROC|ANY_PROC) in proc\.([A-Za-z0-9_]+)$")
_NUM_ATOM = re.compile(r"^(SEX|AGE_YEARS|AGE_DAYS|WEIGHT|LOS) (==|<=|>=|<|>) (-?[0-9]+(?:\.[0-9]+)?)$")
_FLAG_ATOM = re.compile(r"^(SEX|AGE_YEARS|AGE_DAYS|WEIGHT|LOS) (known|nonzero)$")
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


_OR = re.compile(r"\s+OR\s+")


def parse_alternatives(text: str, *, where: str) -> tuple[Condition, ...]:
    """A condition that may hold alternatives joined by `` OR `` → one :class:`Condition` each."""
    text = (text or "").strip()
    if not text:
        raise ConditionError("条件为空（无条件请写 TRUE）")
    return tuple(parse(part, where=where) for part in _OR.split(text))


def parse(text: str, *, where: str) -> Condition:
    """Parse a conjunction; ``where`` is ``mdc``, ``adrg`` or ``drg`` (which atoms are allowed there)."""
    text = (text or "").strip()
    if not text:
        raise ConditionError("条件为空（无条件请写 TRUE）")
    if _OR.search(text):
        raise ConditionError("此处不允许 OR（只有 ADRG 条件可以有并列的备选条件）")
    atoms = tuple(a.strip() for a in re.split(r"\s+AND\s+", text))
    kw: dict = {"pdx_mdc_list": False, "has_proc": False, "pproc_valid": False, "any_proc_valid": False,
                "no_proc_valid": False, "trauma_min": None, "proc_groups": None, "proc_group_dnf": (), "level": None}
    dx_lists: list[tuple[str, str]] = []
    proc_lists: list[tuple[str, str]] = []
    bounds: dict[str, Bound] = {}
    for atom in atoms:
        if atom == "TRUE":
            continue
        if where == "drg":  # a DRG rule tests the complication level and the case's variables only
            if atom in ("MCC", "CC_OR_MCC"):
                lv = "mcc" if atom == "MCC" else "cc_or_mcc"
                if kw["level"] not in (None, lv):
                    raise ConditionError("一个 DRG 规则中只能有一个并发症条件（MCC 或 CC_OR_MCC）")
                kw["level"] = lv
                continue
            if not (_NUM_ATOM.match(atom) or _FLAG_ATOM.match(atom)):
                raise ConditionError(f"未知的条件项 {atom!r}（DRG 规则只能用 TRUE、MCC、CC_OR_MCC 和 变量 比较 数值）")
        elif atom in ("MCC", "CC_OR_MCC"):
            raise ConditionError(f"条件项 {atom!r} 只能用于 DRG 规则")
        elif atom.startswith("LOS "):
            raise ConditionError(f"条件项 {atom!r}：住院天数（LOS）只能用于 DRG 规则，不能用于 MDC 或 ADRG 条件")
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
