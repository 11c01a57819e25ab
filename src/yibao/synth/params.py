"""Every tunable rate of the synthetic region, in one place, with where the figure comes from.

Figures are round numbers in the range published for Chinese pooling regions; they shape the data, they are
not statistics. Change them here (or pass a modified ``SynthParams`` to ``generate``), never in the code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# China 2020 census (第七次全国人口普查), share of population by 5-year age band 0-4 … 90+ (percent).
CENSUS_2020_AGE_SHARES = (5.4, 6.4, 6.2, 5.3, 5.3, 6.4, 8.9, 7.0, 6.6, 8.3, 8.7, 7.1, 5.2, 5.6, 3.8, 2.4, 1.6, 0.9, 0.3)
# Census 2020: share of men by broad age band (upper bound exclusive).
MALE_SHARE_BY_AGE = ((20, 0.535), (60, 0.51), (80, 0.49), (200, 0.42))


@dataclass(frozen=True)
class SynthParams:
    # --- region & utilisation -------------------------------------------------------------------------
    # Shaoguan (韶关市, the city of seed 000) and its districts/counties (GB/T 2260 codes).
    city_code: str = "440200"
    city_name: str = "韶关市"
    districts: tuple[tuple[str, str], ...] = (
        ("440203", "武江区"), ("440204", "浈江区"), ("440205", "曲江区"), ("440222", "始兴县"),
        ("440224", "仁化县"), ("440229", "翁源县"), ("440232", "乳源瑶族自治县"), ("440233", "新丰县"),
        ("440281", "乐昌市"), ("440282", "南雄市"),
    )
    # Insured persons of other regions (异地参保) and id-number birth places of migrants.
    other_regions: tuple[str, ...] = ("440100", "440300", "441800", "430100", "431000", "450300", "360700")
    other_region_share: float = 0.03
    # Settled cases per insured person and year. Admissions: ~0.18 (national hospitalisation rate ~20 %,
    # 国家医保局 statistical bulletins); outpatient pooling settlements and pharmacy purchases: after the
    # 2023 employee outpatient-pooling reform roughly 1.4 and 0.5 settlements per insured-year.
    admissions_per_year: float = 0.18
    outpatient_per_year: float = 1.4
    pharmacy_per_year: float = 0.5
    min_insured: int = 1000
    # Institutions of a city of 5 million insured (韶关-sized region ×1.7): hospitals, primary, pharmacies.
    reference_insured: int = 5_000_000
    institutions_at_reference: tuple[int, int, int] = (60, 300, 800)
    min_institutions: tuple[int, int, int] = (16, 8, 8)  # floors so every kind/level/category exists
    growth_per_year: float = 0.05  # case volume growth (基金运行 reports: 5-8 %/year)
    birth_rate: float = 0.0064  # 2023 national crude birth rate 6.39 ‰
    # Gompertz mortality q(age) = a·exp(b·age): ~0.2 % at 40, 1 % at 60, 5 % at 80 (China life tables).
    mortality_a: float = 7.99e-5
    mortality_b: float = 0.0805
    in_hospital_death_share: float = 0.4  # of deaths of persons whose last case is a stay
    # P(employee scheme | age): working age ≈ half employed, retirees keep employee cover, children resident.
    employee_share_by_age: tuple[tuple[int, float], ...] = ((18, 0.0), (23, 0.1), (60, 0.5), (200, 0.3))

    # --- institutions & staff --------------------------------------------------------------------------
    # Inpatient capacity weight by (kind, level): beds of a 三级 hospital ≈ 10× those of a 一级 one.
    inpatient_capacity: dict = field(default_factory=lambda: {
        ("hospital", 3): 10.0, ("hospital", 2): 4.0, ("hospital", 1): 1.0, ("hospital", 0): 0.3,
        ("primary", 1): 0.5, ("primary", 0): 0.0})
    outpatient_capacity: dict = field(default_factory=lambda: {
        ("hospital", 3): 8.0, ("hospital", 2): 4.0, ("hospital", 1): 1.5, ("hospital", 0): 0.8,
        ("primary", 1): 2.0, ("primary", 0): 0.8})
    # Physicians per 1,000 weighted annual cases, floors/caps by level; other roles per physician.
    cases_per_physician_year: float = 350.0
    physician_floor: dict = field(default_factory=lambda: {3: 40, 2: 15, 1: 4, 0: 2})
    physician_cap: dict = field(default_factory=lambda: {3: 900, 2: 300, 1: 60, 0: 10})
    nurse_ratio: dict = field(default_factory=lambda: {3: 1.6, 2: 1.3, 1: 0.9, 0: 0.6})  # 医护比 targets
    technician_ratio: float = 0.25
    pharmacist_ratio: float = 0.1
    billing_ratio: float = 0.05
    pharmacy_pharmacists: tuple[int, int] = (1, 4)

    # --- cases and cost levels -------------------------------------------------------------------------
    # Calibration targets (中国卫生健康统计年鉴 / 我国卫生健康事业发展统计公报, 2022-2023, rounded orders of
    # magnitude, current prices): average cost per inpatient case ≈ 三级 hospitals 12,000-15,000 yuan, 二级
    # 6,000-7,500, 一级/未定级 3,500-5,000, 基层 (township / community health centres) 2,000-3,500, all
    # hospitals ≈ 10,000; average length of stay ≈ 8-9 days at 三级, 7-8 at 二级. Cost per outpatient visit ≈
    # 250-400 yuan at hospitals (三级 highest), 80-150 at 基层; a 定点药店 purchase ≈ 80-200. Costs are
    # right-skewed (median < mean, p99 several times the mean) and surgical DRGs with implants or high-value
    # consumables (joint replacement, PCI, cancer surgery) cost several times a medical stay. The level gradient
    # comes from case mix (``tier_level_affinity``), intensity (drugs, labs, implants per stay) and the
    # service-price grading (``service_price_factor``); checked by tests/test_synth.py at 30,000 cases.
    los_level_factor: dict = field(default_factory=lambda: {3: 1.02, 2: 0.93, 1: 0.85, 0: 0.85})
    los_cap: int = 60
    los_cap_psychiatry: int = 120
    # Inpatient case mix by hospital level (multiplies the capacity weight of institution_probs), by the
    # ``tier`` of groups.csv: complex stays (tier 3) concentrate at 三级 hospitals (CMI ≈ 1.1-1.3 at 三级 vs
    # ≈ 0.7-0.8 at 二级 in published DRG reports), common conditions (tier 1) at 二级/一级 ones.
    tier_level_affinity: dict = field(default_factory=lambda: {
        1: {3: 0.3, 2: 1.2, 1: 1.5, 0: 1.5}, 2: {3: 1.0, 2: 1.0, 1: 1.0, 0: 1.0}, 3: {3: 8.0, 2: 0.25, 1: 0.1, 0: 0.1}})
    # Intensity of a stay (log-normal multiplier by level): number and quantity of daily drugs, repeated labs,
    # units of multi-unit implants (stents, stapler reloads).
    intensity_mu: dict = field(default_factory=lambda: {3: 0.8, 2: 0.25, 1: 0.15, 0: 0.1})
    primary_intensity_mu: float = -0.45  # 基层 (township / community) stays, whatever their level
    intensity_sigma: float = 0.35
    daily_drugs_per_intensity: float = 5.0  # distinct daily drugs ≈ this × intensity, clipped to the range below
    daily_drugs_range: tuple[int, int] = (2, 12)
    lab_repeat_per_intensity: float = 0.45  # P(a lab is repeated at each of 4 points of a stay ≥ 4 days) / intensity
    exam_prob_by_level: dict = field(default_factory=lambda: {3: 0.95, 2: 0.75, 1: 0.5, 0: 0.4})
    # Admission work-up of every stay (血常规, 尿常规, 粪便常规, 生化, 凝血, 术前/入院感染筛查, 心电图): item keys.
    admission_panel: tuple[str, ...] = ("lab_cbc", "lab_urine", "lab_stool", "lab_biochem", "lab_coag",
                                        "lab_infection", "ecg")
    admission_panel_prob_by_level: dict = field(default_factory=lambda: {3: 1.0, 2: 0.95, 1: 0.8, 0: 0.7})
    # Admission imaging (胸部CT / 腹部彩超), each with this probability by level.
    admission_imaging: dict = field(default_factory=lambda: {
        "ct_chest": {3: 0.75, 2: 0.45, 1: 0.25, 0: 0.2}, "us_abdomen": {3: 0.75, 2: 0.45, 1: 0.25, 0: 0.2},
        "us_heart": {3: 0.5, 2: 0.25, 1: 0.1, 0: 0.05}, "ct_abdomen": {3: 0.3, 2: 0.15, 1: 0.05, 0: 0.0}})
    # ECG monitoring (心电监测) over the first days of a stay of a patient aged ≥ 60, probability by level.
    monitor_prob_by_level: dict = field(default_factory=lambda: {3: 0.6, 2: 0.3, 1: 0.1, 0: 0.0})
    monitor_days: int = 5
    # Everyday consumables: precision-filter infusion sets on every day of a stay at level ≥ this.
    daily_iv_set_min_level: int = 2
    # After an operation under general / spinal anaesthesia: anaesthesia monitoring and kit, a PCA pump and ECG
    # monitoring for this many days.
    postop_monitor_days: int = 3
    # Bedside glucose monitoring (lab_glucose, 4 per day) on every day of a stay of a diabetic patient.
    glucose_checks_per_day: int = 4
    # Outpatient visits: probability of each of the group's exams (first / others) by level, primary-care
    # visits (基层) scaled by ``primary_exam_factor``; boxes per prescribed drug (uniform 1..n) by level.
    op_exam_prob_by_level: dict = field(default_factory=lambda: {
        3: (0.75, 0.45), 2: (0.6, 0.35), 1: (0.45, 0.2), 0: (0.4, 0.15)})
    primary_exam_factor: float = 0.7
    op_drug_boxes_by_level: dict = field(default_factory=lambda: {3: 4, 2: 3, 1: 2, 0: 2})
    op_senior_share_by_level: dict = field(default_factory=lambda: {3: 0.35, 2: 0.2, 1: 0.0, 0: 0.0})
    pharmacy_boxes: tuple[int, int] = (3, 6)  # boxes per drug of a pharmacy purchase (uniform, ≤ max_daily_qty)
    # Share of 'severe' group stays with respiratory failure / shock (and support), by level: sicker patients
    # concentrate at 三级 hospitals. Shock and invasive ventilation are ICU stays (``icu_days``, uniform).
    severe_rate_by_level: dict = field(default_factory=lambda: {3: 0.12, 2: 0.08, 1: 0.05, 0: 0.05})
    icu_days: tuple[int, int] = (2, 7)
    transfusion_rate: float = 0.25  # of stays whose group cross-matches blood
    settle_delay_days: tuple[int, int] = (1, 12)
    # Secondary diagnoses: mean count by age band (upper bound exclusive); 国家病案首页 averages 3-5 for elderly.
    secondary_mean_by_age: tuple[tuple[int, float], ...] = ((15, 0.3), (45, 0.7), (65, 1.6), (200, 2.6))
    max_secondary: int = 8
    standards_tail_share: float = 0.3  # with a standards dir: share of admissions from ADRG-derived groups
    standards_tail_secondary_share: float = 0.3  # share of secondary diagnoses drawn from cc.csv/mcc.csv
    # Service prices by institution level as a share of the cap (医疗服务价格分级定价); drugs/materials at cap
    # (zero mark-up, centrally procured).
    service_price_factor: dict = field(default_factory=lambda: {3: 1.0, 2: 0.85, 1: 0.75, 0: 0.7})

    # --- benefit rules (deductible in yuan, fund share) — typical Guangdong prefecture settings -----------
    inpatient_deductible: dict = field(default_factory=lambda: {
        ("employee", 3): 1000, ("employee", 2): 600, ("employee", 1): 300, ("employee", 0): 300,
        ("resident", 3): 1200, ("resident", 2): 700, ("resident", 1): 300, ("resident", 0): 300})
    inpatient_fund_rate: dict = field(default_factory=lambda: {
        ("employee", 3): 0.85, ("employee", 2): 0.88, ("employee", 1): 0.92, ("employee", 0): 0.92,
        ("resident", 3): 0.65, ("resident", 2): 0.75, ("resident", 1): 0.85, ("resident", 0): 0.85})
    outpatient_fund_rate: dict = field(default_factory=lambda: {
        ("employee", 3): 0.5, ("employee", 2): 0.6, ("employee", 1): 0.7, ("employee", 0): 0.7,
        ("resident", 3): 0.3, ("resident", 2): 0.4, ("resident", 1): 0.5, ("resident", 0): 0.5})
    pharmacy_fund_rate: dict = field(default_factory=lambda: {"employee": 0.5, "resident": 0.4})

    # --- anomalies ------------------------------------------------------------------------------------
    # Relative weight of each injected pattern inside anomaly_rate.
    pattern_weights: dict = field(default_factory=lambda: {
        "split_admission": 1.0, "phantom_stay": 0.8, "low_standard_admission": 1.0, "upcoding": 1.0,
        "dead_patient": 0.6, "overlapping_stay": 0.6, "duplicate_charge": 1.2, "drug_substitution": 1.0,
        "uncovered_item": 1.0, "over_quantity": 1.2, "restricted_item": 1.2, "price_over_cap": 1.0,
        "amount_mismatch": 0.8, "suspended_staff": 0.6})
    # Completeness faults of the settlement list (yibao synth --faults; seed 004 五), weights on the same scale as
    # pattern_weights (a weight of 1.0 is as many cases as split_admission): a case sent with its totals and no
    # fee line, a case whose lines do not add up to its total (one lab or exam line left out), a case whose
    # payment parts do not add up (self_pay off by 0.01-50.00 yuan).
    fault_weights: dict = field(default_factory=lambda: {
        "no_fee_lines": 0.8, "lines_total_mismatch": 0.8, "payment_parts_mismatch": 0.8})
    readmit_window_days: int = 15  # split_admission: readmission within this many days of discharge
    # Sanctions (人员记分): count per staff member, points bands (医保发〔2024〕23号: 1-3, 4-6, 7-9, 10-12).
    sanctions_per_staff: float = 0.08
    sanctions_min_max: tuple[int, int] = (60, 400)
    repairs_share: float = 0.15  # share of sanctioned staff granted a repair (修复)
