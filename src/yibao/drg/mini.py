"""A miniature standards set (迷你分组标准), hand-made, in the layout of a standards directory.

Seven MDCs and sixteen ADRGs, a few codes each — enough to exercise every kind of rule by hand:
MDC A (valid principal procedure, falls through when no transplant/ventilation ADRG matches),
MDC P (newborns by age in days and birth weight), MDC Z (multiple trauma: two body regions),
the sex-specific MDCs M and N, procedure pairs (BB1) and procedure groups (GB1), and DRGs split
by MCC / CC / none with exclusion tables. It is what the registered pipeline's fixture and the
hand-checkable tests group; it is not CHS-DRG (the real tables are never copied into the
repository). :func:`mini_standards` loads it; :func:`mini_cases` are cases with known answers.
"""

from __future__ import annotations

from functools import lru_cache

import pyarrow as pa

from yibao.drg.standards import standards_from_files

FILES: dict[str, str] = {
    "diagnoses.csv": """code,name
I63.900,脑梗死
I61.900,脑出血
K80.100,胆囊结石伴急性胆囊炎
K35.800,急性阑尾炎
N40.x00,前列腺增生
N80.000,子宫内膜异位症
P07.100,低出生体重儿
P59.900,新生儿黄疸
S06.000,脑震荡
S36.100,肝损伤
S72.000,股骨颈骨折
J96.000,急性呼吸衰竭
R57.000,心源性休克
E11.900,2型糖尿病
I10.x00,高血压
K81.000,急性胆囊炎
Z99.900,依赖于未特指的辅助装置
""",
    "procedures.csv": """code,name
37.5100,心脏移植术
96.7200,连续性有创机械通气≥96小时
51.2300,腹腔镜胆囊切除术
51.2200,胆囊切除术
54.5100,腹腔镜腹膜粘连松解术
47.0100,腹腔镜阑尾切除术
60.2900,经尿道前列腺切除术
79.3500,股骨骨折切开复位内固定术
01.2401,颅骨切开术
38.9300,静脉置管
88.3800,计算机断层扫描
99.0400,输血
""",
    "valid_procedures.csv": """code,name
37.5100,心脏移植术
96.7200,连续性有创机械通气≥96小时
51.2300,腹腔镜胆囊切除术
51.2200,胆囊切除术
54.5100,腹腔镜腹膜粘连松解术
47.0100,腹腔镜阑尾切除术
60.2900,经尿道前列腺切除术
79.3500,股骨骨折切开复位内固定术
01.2401,颅骨切开术
""",
    "mdcs.csv": """mdc,order,entry_condition
A,1,HAS_PROC AND PPROC in valid_procedures
P,2,PDX in mdc_diagnoses AND AGE_YEARS == 0
Z,3,PDX in mdc_diagnoses AND TRAUMA_REGIONS >= 2
M,4,PDX in mdc_diagnoses AND SEX == 1
N,5,PDX in mdc_diagnoses AND SEX == 2
B,6,PDX in mdc_diagnoses
G,7,PDX in mdc_diagnoses
""",
    "mdc_diagnoses.csv": """mdc,code
P,P07.100
P,P59.900
Z,S06.000
Z,S36.100
Z,S72.000
M,N40.x00
N,N80.000
B,I63.900
B,I61.900
B,S06.000
G,K80.100
G,K35.800
G,S36.100
""",
    "mdc_z_trauma_regions.csv": """code,region
S06.000,头颈部创伤
S36.100,腹部创伤
S72.000,下肢创伤
""",
    "adrgs.csv": """adrg,mdc,order_in_mdc,condition
AA1,A,1,HAS_PROC AND PPROC in proc.main
AH1,A,2,HAS_PROC AND PPROC in proc.main
PS1,P,1,ANY_DX in dx.main AND WEIGHT nonzero AND WEIGHT < 1500 AND AGE_DAYS known AND AGE_DAYS <= 28
PS4,P,2,ANY_DX in dx.main AND WEIGHT nonzero AND WEIGHT >= 1500 AND AGE_DAYS known AND AGE_DAYS <= 28
PU1,P,3,PDX in dx.main AND AGE_DAYS known AND AGE_DAYS <= 28
PV1,P,4,TRUE
ZB1,Z,1,HAS_PROC AND PPROC in proc.main
ZZ1,Z,2,NO_PROC in valid_procedures
MA1,M,1,PDX in dx.main AND HAS_PROC AND PPROC in proc.main
MZ1,M,2,PDX in dx.main
NZ1,N,1,PDX in dx.main
BB1,B,1,HAS_PROC AND ANY_PROC in proc.main AND ANY_PROC in proc.second
BR1,B,2,PDX in dx.main
GB1,G,1,PDX in dx.main AND PROC_GROUPS(1&2|3)
GC1,G,2,HAS_PROC AND PPROC in proc.main
GZ1,G,3,PDX in dx.main
""",
    "adrg_diagnoses.csv": """adrg,list_name,code
PS1,main,P07.100
PS4,main,P07.100
PU1,main,P07.100
PU1,main,P59.900
MA1,main,N40.x00
MZ1,main,N40.x00
NZ1,main,N80.000
BR1,main,I63.900
BR1,main,I61.900
BR1,main,S06.000
GB1,main,K80.100
GZ1,main,K80.100
GZ1,main,K35.800
GZ1,main,S36.100
""",
    "adrg_procedures.csv": """adrg,list_name,code
AA1,main,37.5100
AH1,main,96.7200
ZB1,main,79.3500
MA1,main,60.2900
BB1,main,01.2401
BB1,second,38.9300
GB1,group_1,51.2300
GB1,group_2,54.5100
GB1,group_3,51.2200
GC1,main,51.2300
GC1,main,47.0100
""",
    "drgs.csv": """drg,name
AA19,心脏移植
AH19,有创呼吸机支持≥96小时
PS11,出生体重<1500克的新生儿，伴严重并发症或合并症
PS15,出生体重<1500克的新生儿
PS49,出生体重≥1500克的新生儿
PU13,新生儿其他疾患，伴并发症或合并症
PU15,新生儿其他疾患
PV19,新生儿其他情况
ZB19,多发性重要创伤的手术
ZZ11,多发性重要创伤，伴严重并发症或合并症
ZZ15,多发性重要创伤
MA19,男性生殖系统手术
MZ13,男性生殖系统疾患，伴并发症或合并症
MZ15,男性生殖系统疾患
NZ13,女性生殖系统疾患，伴并发症或合并症
NZ15,女性生殖系统疾患
BB19,颅骨切开术伴静脉置管
BR11,脑血管病，伴严重并发症或合并症
BR13,脑血管病，伴并发症或合并症
BR15,脑血管病
GB19,胆囊切除术伴粘连松解
GC11,腹腔镜手术，伴严重并发症或合并症
GC13,腹腔镜手术，伴并发症或合并症
GC15,腹腔镜手术
GZ11,消化系统疾患，伴严重并发症或合并症
GZ13,消化系统疾患，伴并发症或合并症
GZ15,消化系统疾患
""",
    "drg_rules.csv": """drg,adrg,order_in_adrg,rule_kind
AA19,AA1,1,always
AH19,AH1,1,always
PS11,PS1,1,mcc
PS15,PS1,2,always
PS49,PS4,1,always
PU13,PU1,1,cc_or_mcc
PU15,PU1,2,always
PV19,PV1,1,always
ZB19,ZB1,1,always
ZZ11,ZZ1,1,mcc
ZZ15,ZZ1,2,always
MA19,MA1,1,always
MZ13,MZ1,1,cc_or_mcc
MZ15,MZ1,2,always
NZ13,NZ1,1,cc_or_mcc
NZ15,NZ1,2,always
BB19,BB1,1,always
BR11,BR1,1,mcc
BR13,BR1,2,cc_or_mcc
BR15,BR1,3,always
GB19,GB1,1,always
GC11,GC1,1,mcc
GC13,GC1,2,cc_or_mcc
GC15,GC1,3,always
GZ11,GZ1,1,mcc
GZ13,GZ1,2,cc_or_mcc
GZ15,GZ1,3,always
""",
    "mcc.csv": """code,exclusion_table
J96.000,10
R57.000,40
""",
    "cc.csv": """code,exclusion_table
E11.900,20
I10.x00,30
K81.000,40
""",
    "cc_exclusions.csv": """principal_dx,exclusion_table
K80.100,40
I63.900,30
""",
}


@lru_cache(maxsize=1)
def mini_standards():
    """The miniature set, loaded and validated like a directory."""
    return standards_from_files(FILES, source="mini")


# (case_id, sex, age_years, age_days, weight, principal, secondary, procedures, expected status, drg)
MINI_CASES: tuple[tuple, ...] = (
    ("M01", "1", 60, None, None, "K80.100", "J96.000", "", "ok", "GZ11"),          # MCC
    ("M02", "1", 60, None, None, "K80.100", "E11.900|I10.x00", "", "ok", "GZ13"),  # CC
    ("M03", "2", 60, None, None, "K80.100", "K81.000", "", "ok", "GZ15"),          # CC excluded (table 40)
    ("M04", "2", 60, None, None, "K80.100", "R57.000|E11.900", "", "ok", "GZ13"),  # MCC excluded, CC counts
    ("M05", "1", 60, None, None, "K80.100", "", "51.2300|54.5100", "ok", "GB19"),  # groups 1&2
    ("M06", "1", 60, None, None, "K80.100", "J96.000", "51.2300", "ok", "GC11"),   # MDC A falls through; group 1 only
    ("M07", "1", 55, None, None, "I63.900", "", "37.5100", "ok", "AA19"),          # MDC A: transplant
    ("M08", "2", 55, None, None, "I63.900", "I10.x00", "", "ok", "BR15"),          # CC excluded (table 30)
    ("M09", "1", 40, None, None, "I61.900", "", "01.2401|38.9300", "ok", "BB19"),  # procedure pair
    ("M10", "1", 0, 5, 1200, "P07.100", "J96.000", "", "ok", "PS11"),              # newborn < 1500 g
    ("M11", "2", 0, 5, 2800, "P59.900", "P07.100", "", "ok", "PS49"),              # any diagnosis, ≥ 1500 g
    ("M12", "2", 0, 40, None, "P59.900", "", "", "ok", "PV19"),                    # 40 days: not neonate ADRGs
    ("M13", "1", 0, 5, None, "P59.900", "", "", "missing_newborn_weight", None),
    ("M14", "1", 0, None, None, "P59.900", "", "", "missing_age_days", None),
    ("M15", "1", 30, None, None, "S72.000", "S06.000", "79.3500", "ok", "ZB19"),  # two regions, operated
    ("M16", "1", 30, None, None, "S72.000", "S36.100|J96.000", "88.3800", "ok", "ZZ11"),
    ("M17", "1", 30, None, None, "S06.000", "", "", "ok", "BR15"),                 # one region: not Z
    ("M18", "1", 30, None, None, "S72.000", "", "", "ungroupable", None),          # one region, no other MDC
    ("M19", "1", 70, None, None, "N40.x00", "", "60.2900", "ok", "MA19"),
    ("M20", "2", 70, None, None, "N40.x00", "", "", "sex_conflict", None),         # male code, female patient
    ("M21", "2", 35, None, None, "N80.000", "E11.900", "", "ok", "NZ13"),
    ("M22", "1", 9, None, None, "P59.900", "", "", "age_conflict", None),          # newborn code, 9 years
    ("M23", None, 50, None, None, "K35.800", "", "", "missing_sex", None),
    ("M24", "9", 50, None, None, "K35.800", "", "", "invalid_sex", None),
    ("M25", "1", None, None, None, "K35.800", "", "", "missing_age", None),
    ("M26", "1", 50, None, None, None, "", "", "missing_dx", None),
    ("M27", "1", 50, None, None, "X99.999", "", "", "invalid_dx", None),
    ("M28", "1", 50, None, None, "Z99.900", "", "", "unacceptable_principal_dx", None),
    ("M29", "1", 50, None, None, "K35.800", "Q99.999", "47.0100|12.3456", "ok", "GC15"),  # unknown codes: warnings
    ("M30", "1", 50, None, None, "K35.800", "", "96.7200", "ok", "AH19"),
)


def mini_cases() -> pa.Table:
    """:data:`MINI_CASES` as a ``cases`` table (the columns the grouper reads, contract types),
    with one outpatient row that the grouper skips."""
    rows = [*MINI_CASES, ("M99", "1", 50, None, None, "K35.800", "", "", None, None)]

    def codes(s: str) -> list[str]:
        return [c for c in s.split("|") if c]

    return pa.table({
        "case_id": pa.array([r[0] for r in rows], pa.string()),
        "setting": pa.array(["outpatient" if r[0] == "M99" else "inpatient" for r in rows], pa.string()),
        "sex": pa.array([r[1] for r in rows], pa.string()),
        "age_years": pa.array([r[2] for r in rows], pa.int32()),
        "newborn_age_days": pa.array([r[3] for r in rows], pa.int32()),
        "newborn_weight_g": pa.array([r[4] for r in rows], pa.int32()),
        "principal_dx": pa.array([r[5] for r in rows], pa.string()),
        "secondary_dx": pa.array([codes(r[6]) for r in rows], pa.list_(pa.string())),
        "procedures": pa.array([codes(r[7]) for r in rows], pa.list_(pa.string())),
    })


# --------------------------------------------------------------------------- the extended miniature

# What city versions add to CHS-DRG 1.1 (Beijing 2022, standards README §6), on top of the miniature:
# an ADRG whose condition has alternatives (`` OR ``, one list per alternative, adrg_alternatives.csv),
# a test on secondary diagnoses only (``ANY_SDX``), DRG rules by age and by length of stay that do not
# end with ``always`` (a stay below every band is grouped to the ADRG code itself), and DRG rules given
# by ``rule_kind`` with band columns (the ``condition`` column left blank).
EXT_ADDED: dict[str, str] = {
    "diagnoses.csv": "K85.900,急性胰腺炎\nZ93.000,气管造口状态\n",
    "procedures.csv": "52.0100,胰腺囊肿引流术\n",
    "mdc_diagnoses.csv": "G,K85.900\n",
    "adrgs.csv": "GE1,G,4,PDX in dx.main_1 AND HAS_PROC AND ANY_PROC in proc.main_1 OR ANY_SDX in dx.second_2\n",
    "adrg_diagnoses.csv": "GE1,main_1,K85.900\nGE1,second_2,Z93.000\nGE1,second_2,K85.900\n",
    "adrg_procedures.csv": "GE1,main_1,52.0100\n",
    "drgs.csv": "GE11,急性胰腺炎，年龄≤6岁，伴并发症或合并症\nGE12,急性胰腺炎，住院≥7天\nGE14,急性胰腺炎，住院2-6天\n",
}
EXT_RULES = """GE11,GE1,1,age_max_and_cc_or_mcc,,,,6
GE12,GE1,2,los_band,LOS >= 7,7,,
GE14,GE1,3,los_band,,2,7,
"""
EXT_ALTERNATIVES = """adrg,alternative,condition
GE1,1,PDX in dx.main_1 AND HAS_PROC AND ANY_PROC in proc.main_1
GE1,2,ANY_SDX in dx.second_2
"""


def _ext_files() -> dict[str, str]:
    files = {name: text + EXT_ADDED.get(name, "") for name, text in FILES.items()}
    head, *rows = FILES["drg_rules.csv"].splitlines()
    files["drg_rules.csv"] = "\n".join([head + ",condition,min_los_days,max_los_days_exclusive,max_age_years",
                                         *(r + ",,,," for r in rows)]) + "\n" + EXT_RULES
    files["adrg_alternatives.csv"] = EXT_ALTERNATIVES
    return files


EXT_FILES: dict[str, str] = _ext_files()


@lru_cache(maxsize=1)
def mini_ext_standards():
    """The extended miniature: the miniature plus ADRG GE1 (alternatives, ANY_SDX, age and LOS rules)."""
    return standards_from_files(EXT_FILES, source="mini-ext")


# (case_id, sex, age_years, principal, secondary, procedures, admit, discharge, status, adrg, drg)
EXT_CASES: tuple[tuple, ...] = (
    ("E01", "1", 50, "K85.900", "", "52.0100", "2024-03-01", "2024-03-10", "ok", "GE1", "GE12"),  # alt 1, LOS 9
    ("E02", "1", 50, "K85.900", "", "52.0100", "2024-03-01", "2024-03-04", "ok", "GE1", "GE14"),  # LOS 3
    ("E03", "1", 50, "K85.900", "", "52.0100", "2024-03-01", "2024-03-02", "ok", "GE1", "GE1"),   # LOS 1: no band
    ("E04", "1", 50, "K85.900", "", "52.0100", "2024-03-01", "2024-03-01", "ok", "GE1", "GE1"),   # same day: LOS 0
    ("E05", "1", 50, "K85.900", "", "52.0100", None, None, "missing_los", "GE1", None),            # no dates
    ("E06", "1", 5, "K85.900", "E11.900", "52.0100", None, None, "ok", "GE1", "GE11"),           # age ≤ 6 with CC
    ("E07", "2", 50, "K85.900", "Z93.000", "", "2024-03-01", "2024-03-09", "ok", "GE1", "GE12"),  # alt 2 (secondary)
    ("E08", "1", 50, "K85.900", "", "", "2024-03-01", "2024-03-09", "ungroupable", None, None),   # principal ≠ secondary
    ("E09", "1", 5, "K85.900", "", "52.0100", None, None, "missing_los", "GE1", None),           # age ≤ 6, no CC
    ("E10", "1", 50, "K85.900", "", "52.0100", "2024-03-01", "2024-03-08", "ok", "GE1", "GE12"),  # LOS 7: the bound
)


def ext_cases() -> pa.Table:
    """:data:`EXT_CASES` as a ``cases`` table with admission and discharge dates."""
    from datetime import date

    def day(s: str | None):
        return date.fromisoformat(s) if s else None

    rows = EXT_CASES
    return pa.table({
        "case_id": pa.array([r[0] for r in rows], pa.string()),
        "setting": pa.array(["inpatient"] * len(rows), pa.string()),
        "sex": pa.array([r[1] for r in rows], pa.string()),
        "age_years": pa.array([r[2] for r in rows], pa.int32()),
        "newborn_age_days": pa.nulls(len(rows), pa.int32()),
        "newborn_weight_g": pa.nulls(len(rows), pa.int32()),
        "principal_dx": pa.array([r[3] for r in rows], pa.string()),
        "secondary_dx": pa.array([[c for c in r[4].split("|") if c] for r in rows], pa.list_(pa.string())),
        "procedures": pa.array([[c for c in r[5].split("|") if c] for r in rows], pa.list_(pa.string())),
        "admit_date": pa.array([day(r[6]) for r in rows], pa.date32()),
        "discharge_date": pa.array([day(r[7]) for r in rows], pa.date32()),
    })
