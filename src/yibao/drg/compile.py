"""Compile a :class:`~yibao.drg.standards.Standards` into integer-coded Arrow lookup tables.

The grouping SQL (:mod:`yibao.drg.grouper`) never reads a rule from its own text: it joins the
cases against these tables. Every diagnosis and procedure code of the set gets an integer id;
each MDC a bit (its position in the trial order); each ADRG a rank (its position in the overall
trial order: MDC order, then ``order_in_mdc``), so "first match wins, falling through to the next
MDC" is simply the smallest rank among the ADRGs whose whole condition holds.

An ADRG's condition, joined with its MDC's entry condition, is split into

- **list tests** (``PDX in dx.L``, ``ANY_DX in dx.L``, ``PPROC in proc.L``, ``ANY_PROC in proc.L``,
  procedure groups): each gets a bit; a code of the case that satisfies a list test is a *hit*
  carrying that bit. ``req_mask`` is the AND of the single tests, ``proc_dnf`` the procedure-group
  expression as OR of AND-masks;
- the **MDC list** (``PDX in mdc_diagnoses``): ``mdc_need``, the MDC's bit, against the principal
  diagnosis's ``mdc_mask``;
- **flag tests** (``HAS_PROC``, ``PPROC/ANY_PROC/NO_PROC in valid_procedures``,
  ``TRAUMA_REGIONS >= n``): ``need`` bits against the case's ``caps`` bits;
- **variable bounds** (``SEX``, ``AGE_YEARS``, ``AGE_DAYS``, ``WEIGHT``): every bound the set uses
  cuts each variable's number line (:class:`Intervals`); a case's value falls in one interval
  (its ``pos`` bit), a rule allows a set of intervals (``allowed``).

So every non-list test is one integer comparison: ``mdc_need & ~pdx_mask = 0``,
``need & ~caps = 0``, ``pos & ~allowed = 0``.

Tables (all small, broadcast to every split of the cases):

``drg_dx``      diagnosis code → id, ``mdc_mask``, ``trauma_bit`` (body region), ``mcc_table`` /
                ``cc_table`` (its exclusion table as MCC / CC), ``cce_table`` (the exclusion table
                it applies as principal diagnosis), ``sdx_hit`` (a hit of some ADRG as secondary
                diagnosis: a key of ``drg_cand`` in that role)
``drg_proc``    procedure code → id, ``valid``, ``proc_hit`` (a hit as further procedure)
``drg_cand``    key = id × 4 + role (0 principal diagnosis, 1 secondary diagnosis, 2 principal
                procedure, 3 further procedure) → the ADRGs the code is a hit for in that role, with
                the list bits it satisfies, ``multi`` (the ADRG needs the bits of several hits), and
                the ADRG's other tests (``mdc_need``, ``need``, ``allowed``); the ADRGs without list
                tests get every principal diagnosis of their MDC as hit (bits 0)
``drg_free_all`` ADRGs without list tests in MDCs without a principal list (tried for every case)
``drg_adrg``    one row per ADRG *arm*: an ADRG whose condition has alternatives (`` OR ``) is one arm per
                alternative, at consecutive ranks, so the first arm that holds is the ADRG's first
                alternative that holds; rank, tests, the ADRG code
``drg_rule``    the DRG rules of each arm in trial order: the DRG, the complication level it needs
                (``need``: 0 none, 1 CC or MCC, 2 MCC) and the intervals of the rule variables it
                allows (``allowed``, over ``rule_*`` cuts: length of stay, age …; ``uses``: which
                variables it bounds, to tell a missing length of stay from a rule that fails)
``drg_mdc``     one row per MDC; ``drg_mdc_dx``: (diagnosis id, MDC) with the MDC's entry tests
                (to say why a case entered no MDC)
``drg_meta``    one row: the standards version, the pre-checks' newborn age limit, the interval
                cuts of each variable, which cases need their interval positions
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

from yibao.drg.conditions import LEVEL_NEED, RULE_VARS, VAR_COLUMN, VARS, Bound, Condition

if TYPE_CHECKING:  # the standards compile themselves (Standards.tables): no import back
    from yibao.drg.standards import Standards

FIELD_BITS = 15   # each variable's interval position takes 15 bits of ``pos`` (4 × 15 < 63)
MAX_CUTS = FIELD_BITS - 2
NULL_SLOT = FIELD_BITS - 1  # the position of a missing value
CUT_LISTS = tuple(f"{VAR_COLUMN[v]}_{k}" for v in VARS for k in ("ge", "gt"))
FULL_ALLOWED = (1 << (FIELD_BITS * len(VARS))) - 1
# the DRG rules' variables (length of stay besides the ADRG variables) in fields of 12 bits (5 × 12 < 63)
RULE_FIELD_BITS = 12
RULE_CUT_LISTS = tuple(f"rule_{VAR_COLUMN[v]}_{k}" for v in RULE_VARS for k in ("ge", "gt"))

# a case's capabilities (``caps``) against a rule's needs (``need``): the rule's flag tests hold when
# need & ~caps = 0. "n_regions >= t" is bit CAP_REGIONS + t, set for every t up to the case's count.
CAP_HAS_PROC, CAP_PPROC_VALID, CAP_ANY_VALID, CAP_NO_VALID, CAP_REGIONS = 1, 2, 4, 8, 8

# roles of a code in a case (the key of drg_cand is id * 4 + role)
ROLE_PDX, ROLE_SDX, ROLE_PPROC, ROLE_PROC = 0, 1, 2, 3

def field_shift(var: str) -> int:
    return FIELD_BITS * VARS.index(var)


def rule_field_shift(var: str) -> int:
    return RULE_FIELD_BITS * RULE_VARS.index(var)


SCHEMAS: dict[str, pa.Schema] = {
    "drg_dx": pa.schema([("code", pa.string()), ("id", pa.int32()), ("mdc_mask", pa.int64()),
                         ("trauma_bit", pa.int64()), ("mcc_table", pa.int32()), ("cc_table", pa.int32()),
                         ("cce_table", pa.int32()), ("sdx_hit", pa.bool_())]),
    "drg_proc": pa.schema([("code", pa.string()), ("id", pa.int32()), ("valid", pa.bool_()), ("proc_hit", pa.bool_())]),
    "drg_cand": pa.schema([("key", pa.int64()), ("adrg_no", pa.int32()), ("bits", pa.int32()), ("multi", pa.bool_()),
                           ("mdc_need", pa.int64()), ("need", pa.int64()), ("allowed", pa.int64())]),
    "drg_free_all": pa.schema([("adrg_no", pa.int32())]),
    "drg_adrg": pa.schema([
        ("adrg_no", pa.int32()), ("adrg", pa.string()), ("mdc", pa.string()), ("mdc_bit", pa.int32()),
        ("mdc_need", pa.int64()), ("need", pa.int64()), ("allowed", pa.int64()),
        ("req_mask", pa.int32()), ("proc_dnf", pa.list_(pa.int32())), ("alternative", pa.int32()),
    ]),
    "drg_rule": pa.schema([("adrg_no", pa.int32()), ("rule_no", pa.int32()), ("drg", pa.string()),
                           ("need", pa.int8()), ("allowed", pa.int64()), ("uses", pa.int64())]),
    "drg_mdc": pa.schema([("mdc", pa.string()), ("mdc_no", pa.int32()), ("mdc_bit", pa.int32()),
                          ("mdc_list", pa.bool_()), ("need", pa.int64()), ("allowed", pa.int64())]),
    "drg_mdc_dx": pa.schema([("id", pa.int32()), ("mdc_bit", pa.int32()), ("need", pa.int64()), ("allowed", pa.int64())]),
    "drg_meta": pa.schema([("standards_version", pa.string()), ("newborn_max_days", pa.float64()),
                           ("pos_mdc_mask", pa.int64()), ("pos_always", pa.bool_()),
                           *[(n, pa.list_(pa.float64())) for n in CUT_LISTS + RULE_CUT_LISTS]]),
}
TABLE_NAMES = tuple(SCHEMAS)


class Intervals:
    """The number line of one variable cut at every bound the standards use.

    A cut is ``(t, False)`` for "x >= t" or ``(t, True)`` for "x > t". A value's position is the
    number of cuts it passes (the cuts passed are always a prefix of the sorted cuts), so every
    bound of the standards holds either for all values of a position or for none: a bound becomes a
    bit mask of the positions it allows (bit NULL_SLOT: a missing value, allowed only without bound).
    """

    def __init__(self, var: str, bounds: list[Bound], field_bits: int = FIELD_BITS) -> None:
        cuts: set[tuple[float, bool]] = set()
        for b in bounds:
            if b.nonzero:
                cuts |= {(0.0, False), (0.0, True)}
            if b.lo is not None:
                cuts.add((b.lo, b.lo_strict))
            if b.hi is not None:
                cuts.add((b.hi, not b.hi_strict))
        self.var = var
        self.bits = field_bits
        self.cuts = sorted(cuts)
        if len(self.cuts) > field_bits - 2:
            raise ValueError(f"{var}: {len(self.cuts)} distinct bound values (at most {field_bits - 2})")

    def position(self, x: float | None) -> int:
        if x is None:
            return self.bits - 1
        return sum(1 for t, strict in self.cuts if (x > t if strict else x >= t))

    def _passes(self, pos: int, cut: tuple[float, bool]) -> bool:
        return pos > self.cuts.index(cut)

    def mask(self, b: Bound) -> int:
        if b.empty:
            return (1 << self.bits) - 1
        m = 0
        for pos in range(len(self.cuts) + 1):
            ok = True
            if b.nonzero and self._passes(pos, (0.0, False)) and not self._passes(pos, (0.0, True)):
                ok = False
            if b.lo is not None and not self._passes(pos, (b.lo, b.lo_strict)):
                ok = False
            if b.hi is not None and self._passes(pos, (b.hi, not b.hi_strict)):
                ok = False
            m |= ok << pos
        return m  # the missing-value slot stays 0: a bound with any test needs a value

    def ge(self) -> list[float]:
        return [t for t, strict in self.cuts if not strict]

    def gt(self) -> list[float]:
        return [t for t, strict in self.cuts if strict]


def merged_bounds(*conds: Condition) -> dict[str, Bound]:
    out: dict[str, Bound] = {}
    for c in conds:
        for var, b in c.bounds.items():
            out[var] = out[var].merge(b) if var in out else b
    return out


def allowed_mask(bounds: dict[str, Bound], iv: dict[str, Intervals]) -> int:
    m = 0
    for v in VARS:
        m |= iv[v].mask(bounds.get(v, Bound())) << field_shift(v)
    return m


def need_mask(*conds: Condition) -> int:
    need = 0
    for c in conds:
        need |= (CAP_HAS_PROC if c.has_proc else 0) | (CAP_PPROC_VALID if c.pproc_valid else 0) \
            | (CAP_ANY_VALID if c.any_proc_valid else 0) | (CAP_NO_VALID if c.no_proc_valid else 0)
        if c.trauma_min:
            need |= 1 << (CAP_REGIONS + c.trauma_min)
    return need


def list_bits(c: Condition) -> tuple[dict[tuple[str, str], int], dict[str, int]]:
    """Bit of each (role, list) test of an ADRG arm's condition, and of each procedure-group label."""
    bits: dict[tuple[str, str], int] = {}
    for key in (*c.dx_lists, *c.proc_lists):
        bits[key] = 1 << len(bits)
    labels = {g: 1 << (len(bits) + i) for i, g in enumerate(c.group_labels)}
    return bits, labels


def single_list(c: Condition) -> bool:
    """True when one hit decides the arm's list tests: at most one list test, no procedure groups."""
    return len(c.dx_lists) + len(c.proc_lists) <= 1 and not c.proc_group_dnf


def _table(name: str, rows: list[dict]) -> pa.Table:
    schema = SCHEMAS[name]
    return pa.table({f.name: pa.array([r[f.name] for r in rows], f.type) for f in schema}, schema=schema)


def compile_tables(std: Standards) -> dict[str, pa.Table]:
    dx_codes, proc_codes = sorted(std.known_dx), sorted(std.known_proc)
    dx_id = {c: i for i, c in enumerate(dx_codes, start=1)}
    proc_id = {c: i for i, c in enumerate(proc_codes, start=1)}
    bit_of = {m.code: m.bit for m in std.mdcs}
    region_bit = {r: 1 << i for i, r in enumerate(std.region_names)}
    mdc_lists: dict[str, set[str]] = {}
    for code, mdcs in std.mdc_dx.items():
        for m in mdcs:
            mdc_lists.setdefault(m, set()).add(code)

    # the arms: one per alternative of each ADRG, ranked in trial order
    arms = [(a, k, c) for a in std.adrg_order for k, c in enumerate(a.alternatives, start=1)]
    merged = [merged_bounds(std.mdc_by_code[a.mdc].condition, c) for a, _, c in arms]
    iv = {v: Intervals(v, [b.get(v, Bound()) for b in merged]
                       + [m.condition.bounds.get(v, Bound()) for m in std.mdcs]) for v in VARS}
    rules = [r for a in std.adrg_order for r in a.rules]
    riv = {v: Intervals(v, [r.condition.bounds.get(v, Bound()) for r in rules], RULE_FIELD_BITS) for v in RULE_VARS}

    # -- ADRGs and their hits -----------------------------------------------------------------
    adrg_rows: list[dict] = []
    hits: dict[tuple[int, int, int], int] = {}  # (role, code id, rank) -> bits
    free: list[int] = []

    def add(role: int, cid: int, rank: int, bits: int) -> None:
        hits[(role, cid, rank)] = hits.get((role, cid, rank), 0) | bits

    rule_rows: list[dict] = []
    for rank, ((a, alt, ac), bounds) in enumerate(zip(arms, merged), start=1):
        mdc = std.mdc_by_code[a.mdc]
        mc = mdc.condition
        bits, labels = list_bits(ac)
        req = 0
        for b in bits.values():
            req |= b
        in_mdc = mdc_lists.get(a.mdc, set())
        for (role, lst), b in bits.items():
            if role == "PDX":
                for c in std.adrg_dx[a.code][lst]:
                    if not mc.pdx_mdc_list or c in in_mdc:  # otherwise the MDC is never entered with it
                        add(ROLE_PDX, dx_id[c], rank, b)
            elif role == "ANY_DX":
                for c in std.adrg_dx[a.code][lst]:
                    add(ROLE_PDX, dx_id[c], rank, b)
                    add(ROLE_SDX, dx_id[c], rank, b)
            elif role == "ANY_SDX":  # secondary diagnoses only
                for c in std.adrg_dx[a.code][lst]:
                    add(ROLE_SDX, dx_id[c], rank, b)
            elif role == "PPROC":
                for c in std.adrg_proc[a.code][lst]:
                    add(ROLE_PPROC, proc_id[c], rank, b)
            else:  # ANY_PROC
                for c in std.adrg_proc[a.code][lst]:
                    add(ROLE_PPROC, proc_id[c], rank, b)
                    add(ROLE_PROC, proc_id[c], rank, b)
        if ac.group_labels:
            for c, g in std.adrg_groups.get(a.code, {}).items():
                if g in labels:
                    add(ROLE_PPROC, proc_id[c], rank, labels[g])
                    add(ROLE_PROC, proc_id[c], rank, labels[g])
        if not ac.uses_list_atoms():
            if mc.pdx_mdc_list:  # hits: the principal diagnoses of its MDC
                for c in in_mdc:
                    add(ROLE_PDX, dx_id[c], rank, 0)
            else:
                free.append(rank)
        adrg_rows.append({
            "adrg_no": rank, "adrg": a.code, "mdc": a.mdc, "mdc_bit": mdc.bit,
            "mdc_need": (1 << mdc.bit) if mc.pdx_mdc_list else 0, "need": need_mask(mc, ac),
            "allowed": allowed_mask(bounds, iv), "req_mask": req,
            "proc_dnf": [sum(labels[g] for g in conj) for conj in ac.proc_group_dnf] or None,
            "alternative": alt,
        })
        for r in a.rules:
            uses = 0
            for v in r.condition.bounds:
                uses |= ((1 << RULE_FIELD_BITS) - 1) << rule_field_shift(v)
            rule_rows.append({"adrg_no": rank, "rule_no": r.order, "drg": r.drg,
                              "need": LEVEL_NEED[r.condition.level],
                              "allowed": sum(riv[v].mask(r.condition.bounds.get(v, Bound())) << rule_field_shift(v)
                                             for v in RULE_VARS),
                              "uses": uses})
    by_rank = {r["adrg_no"]: r for r in adrg_rows}
    multi = {rank for rank, (_, _, c) in enumerate(arms, start=1) if not single_list(c)}

    cand_rows = [{"key": cid * 4 + role, "adrg_no": rank, "bits": b, "multi": rank in multi,
                  "mdc_need": by_rank[rank]["mdc_need"], "need": by_rank[rank]["need"],
                  "allowed": by_rank[rank]["allowed"]}
                 for (role, cid, rank), b in sorted(hits.items(), key=lambda kv: (kv[0][1] * 4 + kv[0][0], kv[0][2]))]
    cand_keys = {r["key"] for r in cand_rows}
    dx_rows = []
    for code in dx_codes:
        mask = 0
        for m in std.mdc_dx.get(code, ()):
            mask |= 1 << bit_of[m]
        dx_rows.append({"code": code, "id": dx_id[code], "mdc_mask": mask,
                        "trauma_bit": region_bit.get(std.trauma_regions.get(code), 0),
                        "mcc_table": std.mcc.get(code), "cc_table": std.cc.get(code),
                        "cce_table": std.cc_exclusions.get(code),
                        "sdx_hit": dx_id[code] * 4 + ROLE_SDX in cand_keys})
    proc_rows = [{"code": c, "id": proc_id[c], "valid": c in std.valid_procedures,
                  "proc_hit": proc_id[c] * 4 + ROLE_PROC in cand_keys} for c in proc_codes]

    mdc_rows = [{"mdc": m.code, "mdc_no": m.order, "mdc_bit": m.bit, "mdc_list": m.condition.pdx_mdc_list,
                 "need": need_mask(m.condition), "allowed": allowed_mask(m.condition.bounds, iv)} for m in std.mdcs]
    by_bit = {r["mdc_bit"]: r for r in mdc_rows}
    mdc_dx_rows = [{"id": dx_id[code], "mdc_bit": bit_of[m], "need": by_bit[bit_of[m]]["need"],
                    "allowed": by_bit[bit_of[m]]["allowed"]}
                   for code in dx_codes for m in std.mdc_dx.get(code, ())]

    # a case's interval positions matter only if it can reach a rule with bounds: through the principal
    # list of an MDC holding such a rule, or (pos_always) through an MDC without a list
    bounded = [r for r in adrg_rows if r["allowed"] != FULL_ALLOWED] + \
              [r for r in mdc_rows if r["allowed"] != FULL_ALLOWED]
    list_mdcs = {m.bit for m in std.mdcs if m.condition.pdx_mdc_list}
    pos_mask = 0
    for r in bounded:
        pos_mask |= 1 << r["mdc_bit"]
    meta = {"standards_version": std.short_version, "newborn_max_days": std.newborn_max_days, "pos_mdc_mask": pos_mask,
            "pos_always": any(r["mdc_bit"] not in list_mdcs for r in bounded)}
    for v in VARS:
        meta[f"{VAR_COLUMN[v]}_ge"], meta[f"{VAR_COLUMN[v]}_gt"] = iv[v].ge(), iv[v].gt()
    for v in RULE_VARS:
        meta[f"rule_{VAR_COLUMN[v]}_ge"], meta[f"rule_{VAR_COLUMN[v]}_gt"] = riv[v].ge(), riv[v].gt()
    return {
        "drg_dx": _table("drg_dx", dx_rows),
        "drg_proc": _table("drg_proc", proc_rows),
        "drg_cand": _table("drg_cand", cand_rows),
        "drg_adrg": _table("drg_adrg", adrg_rows),
        "drg_rule": _table("drg_rule", rule_rows),
        "drg_free_all": _table("drg_free_all", [{"adrg_no": r} for r in free]),
        "drg_mdc": _table("drg_mdc", mdc_rows),
        "drg_mdc_dx": _table("drg_mdc_dx", mdc_dx_rows),
        "drg_meta": _table("drg_meta", [meta]),
    }
