"""A varied synthetic region (``yibao synth --vary SEED``): the same clinical world drawn with lists the review
rules never saw, to test that a rule follows its policy meaning rather than the generator's lists.

With ``vary`` the generator (:func:`yibao.synth.generator.generate`) changes, from a random stream of its own
(``SeedSequence([seed, vary])``, so the default region's streams are untouched and the default output stays
byte-identical):

- **catalogue**: every item code redrawn in the same shape (letter prefix kept, digits new), drug names carry a
  maker (另一厂家的同名药品), every price cap multiplied by a factor drawn log-uniformly in [0.5, 2];
  30 % of the western and patent drugs have **no price cap** (a list price, but ``price_cap`` blank);
- **prices billed**: drugs at a per-institution share of their cap / list price (88–100 %: purchase prices under
  the cap), services as before (the cap × the level factor);
- **drug substitution** (``drug_substitution``): a drug line billed at the price of another drug, below 45 % of
  the line's own price, or — for a drug without a cap — above 220 % of it (a dear drug billed under a cheap
  code); not at another drug's cap;
- **low-standard admission** (``low_standard_admission``): other diagnoses (gastritis K29, reflux K21, back
  pain M54, insomnia G47, lipid disorders E78 — outpatient conditions outside the shipped minor list), stays of
  1–4 days, discharged home, with a biochemistry panel and a PPI;
- **upcoding** (``upcoding``): instead of respiratory failure and shock (the evidence table's J96 / R57), other
  complications — 3 of :data:`COMPLICATIONS`, MCC or CC in the CHS-DRG 1.1 tables, none in the evidence table, none
  excluded by a principal diagnosis of the built-in groups — each with other accompanying items (their order
  drawn: the first is billed in every clean stay coded with the complication, the others in half of them). Clean
  inpatient stays carry them with their items (:data:`CARRIERS_PER_UPCODED` clean stays per upcoded one), the
  upcoded stays without any: the review must learn what accompanies them from the region.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from yibao.synth.refdata import Items

__all__ = ["CARRIERS_PER_UPCODED", "COMPLICATIONS", "LOW_STANDARD_DX", "MAKERS", "NO_CAP_SHARE", "upcoding_lists",
           "vary_items", "vary_rng"]

NO_CAP_SHARE = 0.30
MAKERS = ("华北制药", "石药集团", "扬子江", "齐鲁制药", "恒瑞医药", "科伦药业", "华润双鹤", "正大天晴")
LOW_STANDARD_DX = ("K29.500", "K21.000", "M54.500", "G47.000", "E78.500")
LOW_STANDARD_LOS_MAX = 4
# (ICD-10 code, accompanying catalogue items by key): MCC / CC of CHS-DRG 1.1 (exclusion tables 42, 94, 106, 106, 74,
# 119; checked against every principal diagnosis of groups.csv), items without any catalogue restriction (sex, age,
# level, indication) and rare in other stays
COMPLICATIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("D65.x00", ("blood_rbc", "lab_culture")),            # 播散性血管内凝血: red cells, blood culture
    ("I26.900", ("drug_rivaroxaban", "drug_enoxaparin")),  # 肺栓塞: anticoagulants
    ("J81.x00", ("drug_furosemide", "lab_bnp")),           # 肺水肿: diuretic, NT-proBNP
    ("J80.x00", ("niv", "lab_bloodgas")),                  # 成人型呼吸窘迫综合征: non-invasive ventilation, blood gas
    ("G93.600", ("drug_mannitol", "ct_head")),             # 脑水肿: mannitol, head CT
    ("K92.208", ("gastroscopy", "blood_rbc")),             # 上消化道出血: gastroscopy, red cells
)
N_COMPLICATIONS = 3
CARRIERS_PER_UPCODED = 5


def vary_rng(seed: int, vary: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, vary]))


def _recode(code: str, rng: np.random.Generator) -> str:
    return "".join(str(rng.integers(0, 10)) if ch.isdigit() else ch for ch in code)


def vary_items(items: Items, rng: np.random.Generator) -> tuple[Items, np.ndarray]:
    """Another catalogue of the same items (index and keys unchanged): new codes, names, prices; returns the
    items and a boolean array: the item has no price cap."""
    n = len(items.code)
    codes, seen = [], set()
    for c in items.code:
        new = _recode(c, rng)
        while new in seen or new == c:
            new = _recode(c, rng)
        seen.add(new)
        codes.append(new)
    drug = np.isin(items.fee_category, ["western_drug", "patent_drug"])
    makers = rng.integers(0, len(MAKERS), n)
    rows = []
    for i, r in enumerate(items.rows):
        name = f"{r['item_name']}（{MAKERS[makers[i]]}）" if drug[i] else r["item_name"]
        rows.append({**r, "item_code": codes[i], "item_name": name})
    factor = np.exp(rng.uniform(np.log(0.5), np.log(2.0), n))
    price = np.maximum(10, np.rint(items.price * factor)).astype(np.int64)
    new_price = np.maximum(10, np.rint(items.new_price * factor)).astype(np.int64)
    no_cap = drug & (rng.random(n) < NO_CAP_SHARE) & (items.cls < 2)
    out = replace(items, rows=rows, code=codes, price=price, new_price=new_price)
    return out, no_cap


def drug_price_pct(rng: np.random.Generator, n_inst: int) -> np.ndarray:
    """Per institution: the share (percent) of the cap / list price its drugs are billed at."""
    return rng.integers(88, 101, n_inst).astype(np.int64)


def substitute_prices(rng: np.random.Generator, price: np.ndarray, no_cap: np.ndarray,
                      drug_prices: np.ndarray) -> np.ndarray:
    """New unit prices for substituted lines: another drug's price below 45 % of the line's price, or (a line of
    a drug without a cap, half of them) above 220 % of it; lines with no such drug keep their price."""
    dp = np.sort(drug_prices)
    out = price.copy()
    high = no_cap & (rng.random(len(price)) < 0.5)
    n_low = np.searchsorted(dp, price * 45 // 100, "right")
    first_high = np.searchsorted(dp, price * 220 // 100 + 1, "left")
    n_high = len(dp) - first_high
    high &= n_high > 0
    low = ~high & (n_low > 0)
    out[low] = dp[(rng.random(low.sum()) * n_low[low]).astype(np.int64)]
    out[high] = dp[first_high[high] + (rng.random(high.sum()) * n_high[high]).astype(np.int64)]
    return out


def upcoding_lists(rng: np.random.Generator) -> list[tuple[str, tuple[str, ...]]]:
    """The varied region's complications: :data:`N_COMPLICATIONS` of :data:`COMPLICATIONS`, each with its items in a
    drawn order (the first is billed in every clean stay coded with it)."""
    out = []
    for i in sorted(rng.choice(len(COMPLICATIONS), N_COMPLICATIONS, replace=False).tolist()):
        code, items = COMPLICATIONS[i]
        out.append((code, tuple(items[j] for j in rng.permutation(len(items)))))
    return out
