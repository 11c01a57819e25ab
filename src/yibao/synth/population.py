"""Institutions, their staff and the insured population of the synthetic region."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from yibao.synth import names
from yibao.synth.params import CENSUS_2020_AGE_SHARES, MALE_SHARE_BY_AGE, SynthParams

SPECIALTIES = ("oncology", "ophthalmology", "psychiatry", "orthopedics", "urology")
ROLES = ("physician", "nurse", "technician", "pharmacist", "billing", "pharmacy_principal")
ROLE_PREFIX = ("D", "N", "J", "Y", "B", "F")
# Fixed first institutions so that even a tiny region has every kind, level and category.
_HOSPITAL_FLOOR = ((3, "general", ""), (3, "general", ""), (3, "tcm", ""), (3, "maternal_child", ""),
                   (3, "specialist", "oncology"), (2, "general", ""), (2, "general", ""), (2, "tcm", ""),
                   (2, "maternal_child", ""), (2, "specialist", "ophthalmology"), (2, "specialist", "psychiatry"),
                   (2, "specialist", "orthopedics"), (1, "general", ""), (1, "other", ""), (0, "other", ""),
                   (2, "other", ""))
_PRIMARY_FLOOR = ((1, "general"), (1, "general"), (1, "tcm"), (0, "general"), (0, "other"), (1, "general"),
                  (0, "general"), (1, "other"))


def days(iso: str) -> int:
    return int(np.datetime64(iso, "D").astype(np.int64))


def ymd(d: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    dt = d.astype("datetime64[D]")
    y = dt.astype("datetime64[Y]").astype(np.int64) + 1970
    m = dt.astype("datetime64[M]").astype(np.int64) % 12 + 1
    dd = (dt - dt.astype("datetime64[M]")).astype(np.int64) + 1
    return y, m, dd


def age_years(birth: np.ndarray, on: np.ndarray) -> np.ndarray:
    """Completed years of age on a date (days since epoch)."""
    by, bm, bd = ymd(birth)
    oy, om, od = ymd(on)
    return oy - by - ((om * 100 + od) < (bm * 100 + bd))


@dataclass
class Institutions:
    n: int
    id: pa.Array
    name: list[str]
    kind: np.ndarray  # object
    level: np.ndarray  # int64
    category: np.ndarray  # object
    specialty: np.ndarray  # object ('' = none)
    region: np.ndarray  # object, 6-digit
    agreement_start: np.ndarray
    agreement_end: np.ndarray
    size: np.ndarray  # float capacity multiplier


def make_institutions(rng: np.random.Generator, p: SynthParams, n_insured: int, first_year: int,
                      last_year: int) -> Institutions:
    scale = n_insured / p.reference_insured
    nh, npri, nph = (max(fl, round(ref * scale)) for ref, fl in zip(p.institutions_at_reference, p.min_institutions))
    rows: list[tuple[str, int, str, str]] = []
    for i in range(nh):
        if i < len(_HOSPITAL_FLOOR):
            lv, cat, spec = _HOSPITAL_FLOOR[i]
        else:
            lv = int(rng.choice([3, 2, 1, 0], p=[0.2, 0.4, 0.3, 0.1]))
            cat = str(rng.choice(["general", "tcm", "specialist", "maternal_child", "other"],
                                 p=[0.6, 0.15, 0.12, 0.05, 0.08]))
            spec = str(rng.choice(SPECIALTIES)) if cat == "specialist" else ""
        rows.append(("hospital", lv, cat, spec))
    for i in range(npri):
        if i < len(_PRIMARY_FLOOR):
            lv, cat = _PRIMARY_FLOOR[i]
        else:
            lv = int(rng.choice([1, 0], p=[0.4, 0.6]))
            cat = str(rng.choice(["general", "tcm", "other"], p=[0.8, 0.1, 0.1]))
        rows.append(("primary", lv, cat, ""))
    for _ in range(nph):
        rows.append(("pharmacy", 0, str(rng.choice(["other", "tcm", "general"], p=[0.85, 0.1, 0.05])), ""))
    n = len(rows)
    kind = np.array([r[0] for r in rows], object)
    level = np.array([r[1] for r in rows], np.int64)
    category = np.array([r[2] for r in rows], object)
    specialty = np.array([r[3] for r in rows], object)
    dcodes = [d[0] for d in p.districts]
    dnames = dict(p.districts)
    central = rng.choice(dcodes[:2], n)
    anywhere = rng.choice(dcodes, n)
    region = np.where((kind == "hospital") & (level == 3), central, anywhere).astype(object)
    nm = names.institution_names(rng, list(kind), list(category), list(specialty), [dnames[r] for r in region],
                                 [int(x) for x in level], p.city_name)
    prefix = np.where(kind == "pharmacy", "P", "H").astype(object)
    seq = rng.permutation(np.arange(1, n + 1)) * 7 + rng.integers(0, 7, n)
    ids = pc.binary_join_element_wise(pa.array(prefix, pa.string()), pa.array(region, pa.string()),
                                      pc.utf8_lpad(pc.cast(pa.array(seq), pa.string()), 5, "0"), "")
    start = rng.integers(days("2016-01-01"), days(f"{first_year - 1}-07-01"), n)
    end = np.where(rng.random(n) < 0.25, days(f"{last_year + 1}-12-31"), -(2**62)).astype(np.int64)
    size = rng.lognormal(0.0, 0.45, n)
    return Institutions(n, ids, nm, kind, level, category, specialty, region, start, end, size)


@dataclass
class Staff:
    n: int
    id: pa.Array
    name: pa.Array
    id_number: pa.Array
    role: np.ndarray  # int8 index into ROLES
    inst: np.ndarray  # int64 institution number
    registered_on: np.ndarray
    # lookup: staff numbers sorted by (institution, role) with start offsets and counts
    start: np.ndarray  # (n_inst, n_roles)
    count: np.ndarray


def make_staff(rng: np.random.Generator, p: SynthParams, inst: Institutions, annual_weighted: np.ndarray,
               first_year: int) -> Staff:
    """Staff per institution: physicians from the expected workload (floors/caps by level), other roles by ratio."""
    n_inst = inst.n
    counts = np.zeros((n_inst, len(ROLES)), np.int64)
    for i in range(n_inst):
        lv = int(inst.level[i])
        if inst.kind[i] == "pharmacy":
            counts[i, 5] = 1
            counts[i, 3] = int(rng.integers(p.pharmacy_pharmacists[0], p.pharmacy_pharmacists[1] + 1))
            continue
        floor_, cap = p.physician_floor[lv], p.physician_cap[lv]
        if inst.kind[i] == "primary":
            floor_, cap = (4, 40) if lv == 1 else (2, 6)
        phys = int(np.clip(round(annual_weighted[i] / p.cases_per_physician_year), floor_, cap))
        counts[i, 0] = phys
        counts[i, 1] = max(1, round(phys * p.nurse_ratio[lv]))
        counts[i, 2] = max(1, round(phys * p.technician_ratio))
        counts[i, 3] = max(1, round(phys * p.pharmacist_ratio))
        counts[i, 4] = max(1, round(phys * p.billing_ratio))
    flat = counts.ravel()
    total = int(flat.sum())
    inst_of = np.repeat(np.repeat(np.arange(n_inst), len(ROLES)), flat)
    role_of = np.repeat(np.tile(np.arange(len(ROLES)), n_inst), flat).astype(np.int8)
    start = (np.cumsum(flat) - flat).reshape(n_inst, len(ROLES))
    sex = np.where(role_of == 1, np.where(rng.random(total) < 0.9, 2, 1),
                   np.where(rng.random(total) < 0.55, 1, 2)).astype(np.int8)
    birth = rng.integers(days("1963-01-01"), days("2000-12-31"), total)
    region = np.array([int(r) for r in inst.region], np.int64)[inst_of]
    migrant = rng.random(total) < 0.3
    region = np.where(migrant, rng.choice(np.array([int(r) for r in p.other_regions]), total), region)
    prefix = np.array(ROLE_PREFIX, object)[role_of]
    seq = rng.permutation(np.arange(1, total + 1))
    ids = pc.binary_join_element_wise(pa.array(prefix, pa.string()),
                                      pa.array(np.array(inst.region, object)[inst_of], pa.string()),
                                      pc.utf8_lpad(pc.cast(pa.array(seq), pa.string()), 6, "0"), "")
    reg = rng.integers(days("2019-01-01"), days(f"{first_year - 1}-12-31"), total)
    return Staff(total, ids, names.person_names(rng, sex), names.id_numbers(rng, region, birth, sex), role_of,
                 inst_of, reg, start, counts)


def pick_staff(rng: np.random.Generator, staff: Staff, inst: np.ndarray, role: int | np.ndarray) -> np.ndarray:
    """A random staff member of ``role`` at each institution (-1 where the institution has none)."""
    c = staff.count[inst, role]
    s = staff.start[inst, role]
    pick = s + (rng.random(len(inst)) * np.maximum(c, 1)).astype(np.int64)
    return np.where(c > 0, pick, -1)


@dataclass
class Insured:
    n: int
    sex: np.ndarray  # int8
    birth: np.ndarray  # days
    employee: np.ndarray  # bool
    region: np.ndarray  # object 6-digit (参保地)
    id_region: np.ndarray  # int64 (birth place of the id number)
    death: np.ndarray  # days or NULL
    birth_weight: np.ndarray  # grams or NULL (newborns of neonatal stays)


def _male_share(age: np.ndarray) -> np.ndarray:
    out = np.empty(len(age))
    lo = -1
    for hi, share in MALE_SHARE_BY_AGE:
        out[(age > lo) & (age < hi)] = share
        lo = hi - 1
    return out


def _employee_share(p: SynthParams, age: np.ndarray) -> np.ndarray:
    out = np.empty(len(age))
    lo = -1
    for hi, share in p.employee_share_by_age:
        out[(age > lo) & (age < hi)] = share
        lo = hi - 1
    return out


def make_insured(rng: np.random.Generator, p: SynthParams, n_base: int, start: int, end: int,
                 extra_birth: np.ndarray, extra_sex: np.ndarray, extra_weight: np.ndarray) -> Insured:
    """Census-shaped population on ``start`` plus births during the period and the newborns of neonatal stays."""
    years = (end - start + 1) / 365.25
    shares = np.array(CENSUS_2020_AGE_SHARES) / sum(CENSUS_2020_AGE_SHARES)
    band = rng.choice(len(shares), n_base, p=shares)
    age_days = ((band * 5 + rng.random(n_base) * np.where(band == len(shares) - 1, 10, 5)) * 365.25).astype(np.int64)
    birth = start - 1 - age_days
    n_births = int(round(n_base * p.birth_rate * years))
    birth = np.concatenate([birth, rng.integers(start, end + 1, n_births), extra_birth])
    n = len(birth)
    age0 = np.maximum(age_years(birth, np.full(n, start)), 0)
    sex = np.where(rng.random(n) < _male_share(age0), 1, 2).astype(np.int8)
    k = len(extra_birth)
    if k:
        sex[n - k:] = extra_sex
    employee = rng.random(n) < _employee_share(p, age0)
    employee[birth >= start] = False
    dcodes = np.array([d[0] for d in p.districts], object)
    region = dcodes[rng.integers(0, len(dcodes), n)]
    other = rng.random(n) < p.other_region_share
    region = np.where(other, np.array(p.other_regions, object)[rng.integers(0, len(p.other_regions), n)], region)
    id_region = np.array([int(r) for r in region], np.int64)
    migrant = rng.random(n) < 0.15
    id_region = np.where(migrant, rng.choice(np.array([int(r) for r in p.other_regions]), n), id_region)
    # deaths: Gompertz annual hazard over the period, uniform date; newborns of neonatal stays survive
    q = np.minimum(p.mortality_a * np.exp(p.mortality_b * age0), 0.5)
    dies = rng.random(n) < 1 - (1 - q) ** years
    if k:
        dies[n - k:] = False
    death_day = np.maximum(rng.integers(start, end + 1, n), birth + 1)
    death = np.where(dies & (death_day <= end), death_day, -(2**62)).astype(np.int64)
    bw = np.full(n, -(2**62), np.int64)
    if k:
        bw[n - k:] = extra_weight
    return Insured(n, sex, birth, employee, region, id_region, death, bw)
