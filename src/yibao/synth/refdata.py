"""Reference data of the synthetic generator: catalogue items, clinical groups, built-in codes.

Shipped files (``yibao/synth/data``): ``items.csv`` (catalogue items with review-evidence tags), ``groups.csv``
(clinical groups), ``diagnoses.csv`` and ``procedures.csv`` (the built-in ICD-10 / ICD-9-CM-3 医保版 codes).
With a CHS-DRG standards directory, a long tail of groups is derived from its ADRG tables
(:func:`standards_groups`) and part of the secondary diagnoses come from its CC/MCC lists.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from yibao.contract.schema import ICD9_PATTERN, ICD10_PATTERN

DATA_DIR = Path(__file__).with_name("data")

# Secondary diagnoses that need supporting fee lines (upcoding evidence): respiratory failure → oxygen or
# ventilation; shock → ICU. Clean cases carrying them always have such lines.
SERIOUS_DX_PREFIXES: tuple[str, ...] = ("J96", "R57")
SUPPORT_TAGS: tuple[str, ...] = ("oxygen", "ventilation", "icu")
# Listed minor conditions (低标准入院 list): never the principal diagnosis of a clean inpatient stay.
MINOR_DX_PREFIXES: tuple[str, ...] = ("J00", "J02", "J06", "A09", "K52", "I10", "R50", "R51", "R42", "J30", "H10", "L30")

# Sex-specific ICD-10 ranges (3-character prefixes) used for coherence of codes with the person's sex.
_MALE = ("C60", "C61", "C62", "C63", "D29", "D40", "E29", "N40", "N41", "N42", "N43", "N44", "N45", "N46", "N47",
         "N48", "N49", "N50", "N51", "Q53", "Q54", "Q55")
_FEMALE_RANGES = (("O00", "O9A"), ("C51", "C58"), ("D25", "D28"), ("N70", "N99"), ("Q50", "Q52"), ("Z32", "Z39"))
_FEMALE = ("D06", "D39", "E28")

_ICD10 = re.compile(ICD10_PATTERN)
_ICD9 = re.compile(ICD9_PATTERN)


def code_sex(code: str) -> int:
    """1 / 2 when an ICD-10 code only fits men / women, else 0."""
    p = code[:3]
    if p in _MALE:
        return 1
    if p in _FEMALE or any(lo <= p <= hi for lo, hi in _FEMALE_RANGES):
        return 2
    return 0


def _rows(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


def _split(text: str) -> list[str]:
    return [t for t in (text or "").split("|") if t]


# --------------------------------------------------------------------------------------------------------
# catalogue items

@dataclass
class Items:
    """Catalogue items as parallel arrays (index = item number)."""

    rows: list[dict]
    key: list[str]
    code: list[str]
    index: dict[str, int]  # key -> item number
    kind: np.ndarray  # object: drug/service/material/facility
    fee_category: np.ndarray
    cls: np.ndarray  # int8: 0 A, 1 B, 2 C
    ratio_bp: np.ndarray  # int64: self-pay ratio in 1/10000
    price: np.ndarray  # int64 fen: price cap (first version)
    new_price: np.ndarray  # int64 fen: cap after change_date (= price when no change)
    change_date: list[str]
    typical_qty: np.ndarray  # int64 centi-units
    max_qty: np.ndarray  # int64 centi-units, -1 = none
    sex: np.ndarray  # int8: 0 none, 1, 2
    min_age: np.ndarray  # int16: -1 none
    max_age: np.ndarray  # int16: 999 none
    min_level: np.ndarray  # int8
    indications: list[tuple[str, ...]]
    tags: list[tuple[str, ...]]

    def keys_with_tag(self, tag: str) -> list[int]:
        return [i for i, t in enumerate(self.tags) if tag in t]


def _fen(text: str) -> int:
    whole, _, frac = text.partition(".")
    return int(whole) * 100 + int((frac + "00")[:2])


def _centi(text: str) -> int:
    return _fen(text) if text else -1


@lru_cache(maxsize=1)
def load_items() -> Items:
    rows = _rows(DATA_DIR / "items.csv")
    price = np.array([_fen(r["price"]) for r in rows], np.int64)
    new_price = np.array([_fen(r["new_price"]) if r["new_price"] else _fen(r["price"]) for r in rows], np.int64)
    return Items(
        rows=rows,
        key=[r["key"] for r in rows],
        code=[r["item_code"] for r in rows],
        index={r["key"]: i for i, r in enumerate(rows)},
        kind=np.array([r["item_kind"] for r in rows], object),
        fee_category=np.array([r["fee_category"] for r in rows], object),
        cls=np.array(["ABC".index(r["class"]) for r in rows], np.int8),
        ratio_bp=np.array([round(float(r["self_pay_ratio"] or 0) * 10000) for r in rows], np.int64),
        price=price,
        new_price=new_price,
        change_date=[r["change_date"] for r in rows],
        typical_qty=np.array([_centi(r["typical_qty"]) for r in rows], np.int64),
        max_qty=np.array([_centi(r["max_daily_qty"]) for r in rows], np.int64),
        sex=np.array([int(r["sex_limit"] or 0) for r in rows], np.int8),
        min_age=np.array([int(r["min_age"]) if r["min_age"] else -1 for r in rows], np.int16),
        max_age=np.array([int(r["max_age"]) if r["max_age"] else 999 for r in rows], np.int16),
        min_level=np.array([int(r["min_level"] or 0) for r in rows], np.int8),
        indications=[tuple(_split(r["indications"])) for r in rows],
        tags=[tuple(_split(r["tags"])) for r in rows],
    )


def item_tags() -> dict[str, tuple[str, ...]]:
    """Evidence tags of the shipped catalogue items by item_code (e.g. ``oxygen``, ``ventilation``, ``icu``)."""
    items = load_items()
    return {c: t for c, t in zip(items.code, items.tags)}


# --------------------------------------------------------------------------------------------------------
# codes and clinical groups

@dataclass
class Codes:
    """Built-in diagnosis codes by role and procedure classes."""

    comorbidity: list[str]
    comorbidity_weight: np.ndarray
    comorbidity_age_min: np.ndarray
    minor: list[str]
    diagnosis_names: dict[str, str]
    procedure_class: dict[str, str]
    procedure_names: dict[str, str]


@lru_cache(maxsize=1)
def load_codes() -> Codes:
    dx = _rows(DATA_DIR / "diagnoses.csv")
    pr = _rows(DATA_DIR / "procedures.csv")
    com = [r for r in dx if r["role"] == "comorbidity"]
    return Codes(
        comorbidity=[r["code"] for r in com],
        comorbidity_weight=np.array([float(r["weight"]) for r in com]),
        comorbidity_age_min=np.array([int(r["age_min"]) for r in com], np.int16),
        minor=[r["code"] for r in dx if r["role"] == "minor"],
        diagnosis_names={r["code"]: r["name"] for r in dx},
        procedure_class={r["code"]: r["proc_class"] for r in pr},
        procedure_names={r["code"]: r["name"] for r in pr},
    )


@dataclass
class Group:
    """One clinical group (see the header of ``groups.csv``)."""

    gid: str
    setting: str  # inpatient / outpatient / pharmacy
    name: str
    weight: float
    dx: list[str]
    procs: list[str]
    proc2: list[str]
    male_share: float
    age_lo: int
    age_hi: int
    age_mean: float
    age_sd: float
    los_median: float
    los_sigma: float
    dept: str
    season: str
    min_level: int
    specialty: str
    surgery: list[int]  # item numbers of one-off surgical items (surgery, implants, anaesthesia)
    drugs: list[int]
    daily_tx: list[int]
    exams: list[int]
    severe: list[str]
    emergency_rate: float
    bw: tuple[int, int] | None
    sec_fixed: list[str]
    proc_surgical: bool = False
    extra: dict = field(default_factory=dict)
    tier: int = 2  # inpatient case-mix tier: 1 common, 2 general, 3 complex (concentrated at level-3 hospitals)

    @property
    def neonate(self) -> bool:
        return self.bw is not None


def _group_from_row(r: dict, items: Items) -> Group:
    def keys(text: str) -> list[int]:
        return [items.index[k] for k in _split(text)]

    surgery = keys(r["surgery"]) + keys(r["implants"]) + keys(r["anaesthesia"])
    min_level = max([int(r["min_level"] or 0)] + [int(items.min_level[i]) for i in surgery])
    return Group(
        gid=r["group_id"], setting=r["setting"], name=r["name"], weight=float(r["weight"]),
        dx=_split(r["dx"]), procs=_split(r["procs"]), proc2=_split(r["proc2"]),
        male_share=float(r["male_share"]), age_lo=int(r["age_lo"]), age_hi=int(r["age_hi"]),
        age_mean=float(r["age_mean"]), age_sd=float(r["age_sd"]),
        los_median=float(r["los_median"] or 1), los_sigma=float(r["los_sigma"] or 0.3),
        dept=r["dept"], season=r["season"] or "flat", min_level=min_level, specialty=r["specialty"],
        surgery=surgery, drugs=keys(r["drugs"]), daily_tx=keys(r["daily_tx"]), exams=keys(r["exams"]),
        severe=_split(r["severe"]), emergency_rate=float(r["emergency_rate"] or 0),
        bw=(int(r["bw_lo"]), int(r["bw_hi"])) if r["bw_lo"] else None,
        sec_fixed=_split(r["sec_fixed"]), tier=int(r.get("tier") or 2),
    )


def builtin_groups() -> list[Group]:
    items = load_items()
    return [_group_from_row(r, items) for r in _rows(DATA_DIR / "groups.csv")]


# --------------------------------------------------------------------------------------------------------
# CHS-DRG standards: long tail of ADRG-derived groups and CC/MCC secondary diagnoses

_MDC_DEPT = {"B": "0303", "C": "1000", "D": "1100", "E": "0301", "F": "0304", "G": "0302", "H": "0302",
             "I": "0403", "J": "1300", "K": "0307", "L": "0306", "M": "0404", "N": "0501", "O": "0502",
             "Q": "0305", "R": "1900", "S": "1600", "T": "1500", "U": "1500", "V": "0401", "W": "0407",
             "X": "0200"}
_EXCLUDED_SECONDARY = ("O", "P", "Q", "S", "T", "V", "W", "X", "Y", "Z", "C", "D0", "R")


def _csv(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.reader(f))[1:]


def _plain_dx(code: str) -> bool:
    p = code[:3]
    return (bool(_ICD10.match(code)) and not p.startswith(MINOR_DX_PREFIXES) and not p.startswith(SERIOUS_DX_PREFIXES)
            and not p.startswith("P"))


def standards_groups(standards_dir: Path, rng: np.random.Generator, total_weight: float) -> list[Group]:
    """Groups derived from the CHS-DRG ADRG tables (the long tail of clinical patterns).

    One group per ADRG whose rule is a principal diagnosis and/or principal procedure list (MDCs A, P, Y, Z are
    left to the built-in groups): principal diagnoses from the ADRG list (or, for procedure-only ADRGs, from the
    MDC's list), procedures from the ADRG list. Codes must exist in ``diagnoses.csv``/``procedures.csv`` and
    match the contract patterns; sex-specific codes only enter groups of that sex.
    """
    sd = Path(standards_dir)
    items = load_items()
    dx_names = {r[0] for r in _csv(sd / "diagnoses.csv")}
    pr_names = {r[0] for r in _csv(sd / "procedures.csv")}
    valid = {r[0] for r in _csv(sd / "valid_procedures.csv")}
    mdc_dx: dict[str, list[str]] = {}
    for mdc, code in _csv(sd / "mdc_diagnoses.csv"):
        mdc_dx.setdefault(mdc, []).append(code)
    adrg_dx: dict[str, list[str]] = {}
    for adrg, _, code in _csv(sd / "adrg_diagnoses.csv"):
        adrg_dx.setdefault(adrg, []).append(code)
    adrg_pr: dict[str, list[str]] = {}
    for adrg, lst, code in _csv(sd / "adrg_procedures.csv"):
        if lst == "main":
            adrg_pr.setdefault(adrg, []).append(code)
    with open(sd / "adrgs.csv", encoding="utf-8", newline="") as f:
        adrgs = list(csv.DictReader(f))

    generic_drugs = [items.index[k] for k in ("drug_ceftriaxone", "drug_cefuroxime", "drug_ns", "drug_glucose",
                                              "drug_ringer", "drug_omeprazole", "drug_tramadol")]
    generic_exams = [items.index[k] for k in ("lab_cbc", "lab_biochem", "lab_coag", "ecg", "xray_chest",
                                              "us_abdomen", "ct_chest", "lab_urine")]
    grade = {2: items.index["surg_grade2"], 3: items.index["surg_grade3"], 4: items.index["surg_grade4"]}
    groups: list[Group] = []
    for a in adrgs:
        mdc = a["mdc"]
        if mdc in "APYZ" or a["match_kind"] not in ("principal_dx", "principal_proc",
                                                     "principal_dx_and_principal_proc"):
            continue
        sex = 1 if mdc == "M" else 2 if mdc in "NO" else 0
        pool = adrg_dx.get(a["adrg"]) if a["dx_rule"] == "principal_in_list" else mdc_dx.get(mdc, [])
        mdc_set = set(mdc_dx.get(mdc, []))
        dx = [c for c in dict.fromkeys(pool or []) if c in dx_names and c in mdc_set and _plain_dx(c)
              and code_sex(c) in (0, sex) and (sex == 0 or code_sex(c) == sex or mdc in "MN")]
        if mdc == "O":
            dx = [c for c in dx if c.startswith("O")]
        procs: list[str] = []
        if a["proc_rule"] == "principal_in_list":
            procs = [c for c in dict.fromkeys(adrg_pr.get(a["adrg"], [])) if c in pr_names and _ICD9.match(c)]
            if not procs:
                continue
        if not dx:
            continue
        if len(dx) > 40:
            dx = [dx[i] for i in sorted(rng.choice(len(dx), 40, replace=False))]
        if len(procs) > 12:
            procs = [procs[i] for i in sorted(rng.choice(len(procs), 12, replace=False))]
        surgical = bool(procs) and procs[0] in valid
        surgery: list[int] = []
        if procs:
            if surgical:
                g = int(rng.choice([2, 3, 4], p=[0.3, 0.45, 0.25]))
                surgery = [grade[g], items.index["anaes_general" if g >= 3 else "anaes_spinal"], items.index["mat_suture"]]
            else:
                surgery = [items.index["surg_grade1"]]
        min_level = max([0] + [int(items.min_level[i]) for i in surgery])
        age = (18, 45, 30.0, 5.0) if mdc == "O" else (1, 95, 55.0, 20.0)
        groups.append(Group(
            gid=f"drg_{a['adrg']}", setting="inpatient", name=f"ADRG {a['adrg']}",
            weight=float(rng.lognormal(0.0, 1.0)), dx=dx, procs=procs[:1] if surgical else procs, proc2=[],
            male_share=1.0 if sex == 1 else 0.0 if sex == 2 else 0.5,
            age_lo=age[0], age_hi=age[1], age_mean=age[2], age_sd=age[3],
            los_median=float(rng.uniform(7, 14) if surgical else rng.uniform(5, 11)), los_sigma=0.4,
            dept=_MDC_DEPT.get(mdc, "0300"), season="flat", min_level=min_level,
            specialty="obstetrics" if mdc == "O" else "gynecology" if mdc == "N" else "",
            surgery=surgery, drugs=generic_drugs, daily_tx=[], exams=generic_exams, severe=[],
            emergency_rate=0.2, bw=None, sec_fixed=[], proc_surgical=surgical,
            tier=3 if surgical and g == 4 else 2,
        ))
    if groups:
        s = sum(g.weight for g in groups)
        for g in groups:
            g.weight = g.weight / s * total_weight
    return groups


def standards_secondary(standards_dir: Path, rng: np.random.Generator, n: int = 400) -> list[str]:
    """A sample of CC/MCC codes usable as secondary diagnoses of any adult person."""
    sd = Path(standards_dir)
    names = {r[0] for r in _csv(sd / "diagnoses.csv")}
    codes = [r[0] for r in _csv(sd / "cc.csv")] + [r[0] for r in _csv(sd / "mcc.csv")]
    ok = [c for c in dict.fromkeys(codes) if c in names and _plain_dx(c) and code_sex(c) == 0
          and not c.startswith(_EXCLUDED_SECONDARY)]
    if len(ok) > n:
        ok = [ok[i] for i in sorted(rng.choice(len(ok), n, replace=False))]
    return ok
