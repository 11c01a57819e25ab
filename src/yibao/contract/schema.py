"""The data contract: one schema definition per table, used by loaders, generator and docs.

Every table a region hands to yibao (see ``shared/contract/README.md``) is declared here once.
Loaders derive their validation SQL from it, the synthetic generator writes exactly these
columns, the workspace creates its DuckDB tables from it, and ``docs/contract.md`` is generated
from it (``yibao contract docs``).

Column kinds (``Column.kind``) and how each is stored:

============  ==================  ===========================  =================================
kind          DuckDB type         Arrow type                   text accepted in a file
============  ==================  ===========================  =================================
id            VARCHAR             string                       a safe code (CODE_PATTERN), trimmed
text          VARCHAR             string                       any text
enum          VARCHAR             string                       one of ``Column.values``
date          DATE                date32                       ``YYYY-MM-DD``, a real date
money         DECIMAL(18,2)       decimal128(18,2)             ``1234.50``: ≥ 0, ≤ 2 decimals
quantity      DECIMAL(18,4)       decimal128(18,4)             ``2``, ``0.5``: ≥ 0, ≤ 4 decimals
ratio         DECIMAL(9,4)        decimal128(9,4)              ``0.10``: 0 ≤ x ≤ 1, ≤ 4 decimals
int           INTEGER             int32                        whole number in [lo, hi]
flag          BOOLEAN             bool                         ``1`` or ``0``
icd10         VARCHAR             string                       ICD-10 医保版 code
icd10_list    VARCHAR[]           list<string>                 codes separated by ``|``
icd9          VARCHAR             string                       ICD-9-CM-3 医保版 code
icd9_list     VARCHAR[]           list<string>                 codes separated by ``|``
prefix_list   VARCHAR[]           list<string>                 ICD-10 prefixes separated by ``|``
============  ==================  ===========================  =================================
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

MONEY_PRECISION, MONEY_SCALE = 18, 2
QUANTITY_PRECISION, QUANTITY_SCALE = 18, 4
RATIO_PRECISION, RATIO_SCALE = 9, 4

# ICD-10 医保版: K80.1, K80.100, K80.100x001, A33.x00, A01.001+K77.0*, A01.002+G01*
ICD10_PATTERN = r"^[A-Z][0-9]{2}(\.([0-9]{1,3}|[xX][0-9]{2})([xX][0-9]{3,4})?)?(\+[A-Z][0-9]{2}(\.[0-9]{1,2})?\*)?$"
# ICD-9-CM-3 医保版: 00.0100, 00.0200x001, 01.6x00, 03.1x00x001, 17.912A0, 86.700x0013, 54.4x15
ICD9_PATTERN = r"^[0-9]{2}(\.([0-9]{1,5}|[0-9][xX][0-9]{2})([xX][0-9]{2,4})?([A-Z][0-9])?)?$"
# 限定支付范围 prefixes: an ICD-10 code or any prefix of one (K, K80, K80.1)
ICD10_PREFIX_PATTERN = r"^[A-Z]([0-9]{1,2}(\.[0-9xX]{0,3}([xX][0-9]{0,4})?)?)?$"
REGION_CODE_PATTERN = r"^[0-9]{6}$"

# --------------------------------------------------------------------------- codes and plausibility bounds
# Every code column (kind ``id``: keys, references, dept_code …) must be a *safe code*: letters, digits,
# ``-``, ``_`` and ``.`` (not leading, never ``..``), at most CODE_MAX_LENGTH characters. No ``/``, ``\``,
# whitespace, control or invisible characters: a code names output files (statements/{institution_id}.xlsx)
# and joins tables, so ``../../x`` or a key with a BOM or zero-width space is quarantined, never loaded.
CODE_PATTERN = r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$"
CODE_MAX_LENGTH = 64  # longest national code is 27 characters (医用耗材 27-character codes); room for local case ids
# Invisible characters that make two codes look the same: BOM, zero-width space/joiners, word joiner, soft hyphen,
# left-to-right/right-to-left marks. Named in the quarantine message (a reader cannot see them).
INVISIBLE_CHARS = "\u00ad\u200b\u200c\u200d\u200e\u200f\u2060\ufeff"
# Control characters (NUL and the like) are refused in every text cell; tab and line ends may stand in free text.
CONTROL_PATTERN = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
# Longest text cell: 32,767 characters, the most an Excel cell can hold (Microsoft, "Excel specifications and
# limits"); a longer cell cannot have come from a clerk's workbook and is quarantined (its original cut short).
CELL_MAX_CHARS = 32_767
# Plausible dates: anything outside is a placeholder (0000-01-01, 9999-12-31 for "open-ended") or a typo.
# 1900-01-01: an earlier birth date makes a person over 120 years old at every service date the contract covers;
# 2100-12-31: far beyond any agreement or catalogue end a region sets (open-ended is blank, as the contract
# says). A birth date must also not be after the day of the load.
DATE_MIN, DATE_MAX = "1900-01-01", "2100-12-31"
# An .xlsx is a zip: refused before it is opened when its members declare more than this unpacked (a 1 MiB
# file unpacking to 1 GiB took 45 s and 6.4 GB). 256 MiB holds ~2 M cells of a contract table; larger tables
# belong in CSV or Parquet (openpyxl reads a workbook cell by cell).
XLSX_MAX_UNPACKED_BYTES = 256 * 1024 * 1024
# A CSV with more lines swallowed by unclosed quotes than this is refused (it is not quoted the CSV way).
CSV_MAX_UNCLOSED_QUOTES = 20


@dataclass(frozen=True)
class CodeFormat:
    """A national format a code column's values must follow (on top of the safe-code character set).

    ``check`` is an extra SQL predicate over ``{v}`` (the trimmed cell) for formats with a check digit.
    ``majority`` formats are enforced for a column of a file when at least NATIONAL_FORMAT_MIN_SHARE of
    its non-blank values follow the format (a region's real export); a file whose codes are local
    (test regions use ``H001``, ``S1``) is checked for the safe character set only, with a note
    (``Validated.notes``).
    """

    name: str
    zh: str
    pattern: str
    source: str
    majority: bool = True
    check: str | None = None
    fixed: tuple[tuple[str, int], ...] = ()  # the pattern as (allowed characters, count) runs, for a byte check


NATIONAL_FORMAT_MIN_SHARE = 0.5

# GB 11643-1999 公民身份号码: 17 digits + check character (ISO 7064 MOD 11-2: weights 2^(17-i) mod 11, the
# remainder 0..10 of the weighted sum maps to 1 0 X 9 8 7 6 5 4 3 2).
ID_NUMBER_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_SUM = " + ".join(f"{w} * TRY_CAST(substr({{v}}, {i + 1}, 1) AS INTEGER)" for i, w in enumerate(ID_NUMBER_WEIGHTS))
ID_NUMBER_CHECK = f"substr('10X98765432', (({_ID_SUM}) % 11) + 1, 1) = upper(substr({{v}}, 18, 1))"

_DIGITS, _UPPER = "0123456789", "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
FORMATS: dict[str, CodeFormat] = {f.name: f for f in (
    CodeFormat("institution_code", "定点医药机构编码", r"^[HP][0-9]{11}$",
               "国家医保局《医疗保障信息业务编码标准》定点医疗机构（H）/定点零售药店（P）代码："
               "类别 1 位 + 行政区划 6 位 + 顺序号 5 位，如 H44020300001", fixed=(("HP", 1), (_DIGITS, 11))),
    CodeFormat("staff_code", "医保相关人员代码", r"^[A-Z][0-9]{12}$",
               "国家医保局《医疗保障信息业务编码标准》医保医师（D）、护士（N）、药师（Y）、医技（J）等代码："
               "类别 1 位 + 行政区划 6 位 + 顺序号 6 位，如 D440203000001", fixed=((_UPPER, 1), (_DIGITS, 12))),
    CodeFormat("region_code", "行政区划代码", r"^[0-9]{6}$", "GB/T 2260 县级及以上行政区划代码，6 位数字",
               majority=False),
    CodeFormat("id_number", "公民身份号码", r"^[0-9]{17}[0-9Xx]$",
               "GB 11643-1999 公民身份号码：18 位，第 18 位为 ISO 7064 MOD 11-2 校验码；"
               "只校验 18 位的号码（护照等其他证件号码只查字符集）", majority=False, check=ID_NUMBER_CHECK),
)}

KINDS = (
    "id", "text", "enum", "date", "money", "quantity", "ratio", "int", "flag",
    "icd10", "icd10_list", "icd9", "icd9_list", "prefix_list",
)

_DUCK = {
    "id": "VARCHAR", "text": "VARCHAR", "enum": "VARCHAR", "date": "DATE",
    "money": f"DECIMAL({MONEY_PRECISION},{MONEY_SCALE})",
    "quantity": f"DECIMAL({QUANTITY_PRECISION},{QUANTITY_SCALE})",
    "ratio": f"DECIMAL({RATIO_PRECISION},{RATIO_SCALE})",
    "int": "INTEGER", "flag": "BOOLEAN",
    "icd10": "VARCHAR", "icd10_list": "VARCHAR[]", "icd9": "VARCHAR", "icd9_list": "VARCHAR[]",
    "prefix_list": "VARCHAR[]",
}
_ARROW = {
    "id": pa.string(), "text": pa.string(), "enum": pa.string(), "date": pa.date32(),
    "money": pa.decimal128(MONEY_PRECISION, MONEY_SCALE),
    "quantity": pa.decimal128(QUANTITY_PRECISION, QUANTITY_SCALE),
    "ratio": pa.decimal128(RATIO_PRECISION, RATIO_SCALE),
    "int": pa.int32(), "flag": pa.bool_(),
    "icd10": pa.string(), "icd10_list": pa.list_(pa.string()), "icd9": pa.string(),
    "icd9_list": pa.list_(pa.string()), "prefix_list": pa.list_(pa.string()),
}


@dataclass(frozen=True)
class Column:
    """One column of a contract table."""

    name: str
    kind: str
    zh: str
    required: bool = False
    values: tuple[str, ...] = ()  # enum: allowed values
    lo: int | None = None  # int: inclusive bounds
    hi: int | None = None
    pattern: str | None = None  # extra regex a non-blank value must match (e.g. region_code)
    format: str | None = None  # a national format of FORMATS (institution_code, staff_code, id_number …)
    personal: bool = False  # personal information (个人信息): masked in exports and logs
    doc: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown column kind {self.kind!r} for {self.name}")
        if self.kind == "enum" and not self.values:
            raise ValueError(f"enum column {self.name} needs values")
        if self.format is not None and self.format not in FORMATS:
            raise ValueError(f"unknown format {self.format!r} for {self.name}")

    @property
    def is_code(self) -> bool:
        """A code: held as text, never a spreadsheet number (keys, references, region and id numbers)."""
        return self.kind == "id" or self.format is not None

    @property
    def free_text(self) -> bool:
        """Free text (names): the only cells that may hold a line break."""
        return self.kind == "text" and self.pattern is None and self.format is None

    @property
    def duckdb_type(self) -> str:
        return _DUCK[self.kind]

    @property
    def arrow_type(self) -> pa.DataType:
        return _ARROW[self.kind]

    @property
    def is_list(self) -> bool:
        return self.kind.endswith("_list")


@dataclass(frozen=True)
class ForeignKey:
    """``columns`` of this table must match ``ref_columns`` of ``ref_table`` (blank = no check)."""

    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]
    reason: str  # reason code when the referenced row is unknown


@dataclass(frozen=True)
class RowCheck:
    """A cross-column check: ``violation_sql`` is true (over typed columns) when the row is bad."""

    reason: str
    violation_sql: str
    detail_sql: str  # a Chinese text expression naming the evidence


@dataclass(frozen=True)
class RefCheck:
    """A check against the referenced row: ``violation_sql`` over this row's typed columns and ``r.`` columns
    of the ``ref_table`` row whose ``ref_column`` equals ``column`` (checked where the workspace holds it)."""

    reason: str
    column: str
    ref_table: str
    ref_column: str
    violation_sql: str
    detail_sql: str


@dataclass(frozen=True)
class Table:
    name: str
    zh: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    foreign_keys: tuple[ForeignKey, ...] = ()
    row_checks: tuple[RowCheck, ...] = ()
    ref_checks: tuple[RefCheck, ...] = ()
    doc: str = ""
    _by_name: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {c.name: c for c in self.columns})
        for k in self.key:
            if k not in self._by_name:
                raise ValueError(f"{self.name}: key column {k} not declared")

    def column(self, name: str) -> Column:
        return self._by_name[name]

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required_columns(self) -> list[str]:
        """Columns a file must have in its header (the key and every required column)."""
        return [c.name for c in self.columns if c.required or c.name in self.key]

    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.arrow_type) for c in self.columns])

    def create_sql(self, qualified_name: str | None = None) -> str:
        cols = ",\n  ".join(f'"{c.name}" {c.duckdb_type}' for c in self.columns)
        return f"CREATE TABLE IF NOT EXISTS {qualified_name or self.name} (\n  {cols}\n)"


def _c(name: str, kind: str, zh: str, **kw) -> Column:
    return Column(name, kind, zh, **kw)


SEX = ("1", "2")
SCHEMES = ("employee", "resident")

INSTITUTIONS = Table(
    "institutions", "定点医药机构",
    (
        _c("institution_id", "id", "机构编码", required=True, format="institution_code",
           doc="national institution code, unique"),
        _c("name", "text", "机构名称", required=True),
        _c("kind", "enum", "机构类型", required=True, values=("hospital", "primary", "pharmacy")),
        _c("level", "int", "机构级别", required=True, lo=0, hi=3, doc="3/2/1/0 = 三级/二级/一级/未定级"),
        _c("category", "enum", "机构类别", required=True,
           values=("general", "tcm", "specialist", "maternal_child", "other")),
        _c("region_code", "text", "行政区划代码", required=True, pattern=REGION_CODE_PATTERN, format="region_code"),
        _c("agreement_start", "date", "协议开始日期", required=True),
        _c("agreement_end", "date", "协议结束日期"),
    ),
    key=("institution_id",),
    row_checks=(
        RowCheck("DATE_ORDER", "agreement_end < agreement_start",
                 "'协议结束日期 ' || agreement_end || ' 早于开始日期 ' || agreement_start"),
    ),
)

INSURED = Table(
    "insured", "参保人",
    (
        _c("person_id", "id", "医保编号", required=True),
        _c("id_number", "text", "身份证号", personal=True, format="id_number"),
        _c("name", "text", "姓名", personal=True),
        _c("sex", "enum", "性别", required=True, values=SEX),
        _c("birth_date", "date", "出生日期", required=True),
        _c("scheme", "enum", "险种", required=True, values=SCHEMES),
        _c("region_code", "text", "参保地", required=True, pattern=REGION_CODE_PATTERN, format="region_code"),
        _c("death_date", "date", "死亡日期"),
    ),
    key=("person_id",),
    row_checks=(
        RowCheck("DATE_ORDER", "death_date < birth_date",
                 "'死亡日期 ' || death_date || ' 早于出生日期 ' || birth_date"),
        RowCheck("BIRTH_IN_FUTURE", "birth_date > current_date",
                 "'出生日期 ' || birth_date || ' 晚于装载当日 ' || current_date"),
    ),
)

STAFF = Table(
    "staff", "定点医药机构相关人员",
    (
        _c("staff_id", "id", "医保相关人员代码", required=True, format="staff_code"),
        _c("name", "text", "姓名", personal=True),
        _c("id_number", "text", "身份证号", personal=True, format="id_number"),
        _c("role", "enum", "人员类别", required=True,
           values=("physician", "nurse", "technician", "pharmacist", "billing", "pharmacy_principal")),
        _c("institution_id", "id", "所在机构", required=True, format="institution_code"),
        _c("registered_on", "date", "登记备案日期", required=True),
    ),
    key=("staff_id",),
    foreign_keys=(ForeignKey(("institution_id",), "institutions", ("institution_id",), "UNKNOWN_INSTITUTION"),),
)

CASES = Table(
    "cases", "医保结算清单",
    (
        _c("case_id", "id", "结算清单号", required=True),
        _c("person_id", "id", "医保编号", required=True),
        _c("institution_id", "id", "机构编码", required=True, format="institution_code"),
        _c("scheme", "enum", "险种", required=True, values=SCHEMES),
        _c("sex", "enum", "性别", values=SEX, doc="blank: take it from insured"),
        _c("age_years", "int", "年龄（岁）", lo=0, hi=150, doc="blank: compute from insured.birth_date"),
        _c("setting", "enum", "就诊类型", required=True, values=("inpatient", "outpatient")),
        _c("admit_date", "date", "入院日期", required=True),
        _c("discharge_date", "date", "出院日期", required=True),
        _c("dept_code", "id", "科室代码"),
        _c("attending_staff_id", "id", "主诊医师代码", format="staff_code"),
        _c("principal_dx", "icd10", "主要诊断", required=True),
        _c("secondary_dx", "icd10_list", "其他诊断"),
        _c("procedures", "icd9_list", "手术及操作", doc="principal first"),
        _c("discharge_mode", "enum", "离院方式", values=("1", "2", "3", "4", "5", "9")),
        _c("newborn_age_days", "int", "新生儿天龄", lo=0, hi=365),
        _c("newborn_weight_g", "int", "新生儿出生体重（克）", lo=0, hi=9999),
        _c("emergency", "flag", "急诊抢救"),
        _c("total_cost", "money", "医疗费用总额", required=True),
        _c("fund_paid", "money", "统筹基金支付", required=True),
        _c("self_pay", "money", "个人自付", required=True),
        _c("out_of_pocket_excluded", "money", "个人自费", required=True),
        _c("settle_date", "date", "结算日期", required=True),
    ),
    key=("case_id",),
    foreign_keys=(
        ForeignKey(("person_id",), "insured", ("person_id",), "UNKNOWN_PERSON"),
        ForeignKey(("institution_id",), "institutions", ("institution_id",), "UNKNOWN_INSTITUTION"),
        ForeignKey(("attending_staff_id",), "staff", ("staff_id",), "UNKNOWN_STAFF"),
    ),
    row_checks=(
        RowCheck("DISCHARGE_BEFORE_ADMISSION", "discharge_date < admit_date",
                 "'出院日期 ' || discharge_date || ' 早于入院日期 ' || admit_date"),
        RowCheck("SETTLED_BEFORE_DISCHARGE", "settle_date < discharge_date",
                 "'结算日期 ' || settle_date || ' 早于出院日期 ' || discharge_date"),
    ),
    ref_checks=(
        RefCheck("ADMITTED_BEFORE_BIRTH", "person_id", "insured", "person_id", "admit_date < r.birth_date",
                 "'入院日期 ' || admit_date || ' 早于参保人出生日期 ' || r.birth_date"),
    ),
)

FEE_ITEMS = Table(
    "fee_items", "费用明细",
    (
        _c("case_id", "id", "结算清单号", required=True),
        _c("line_no", "int", "明细序号", required=True, lo=1, hi=2_000_000_000),
        _c("item_code", "id", "医保项目编码", required=True),
        _c("item_name", "text", "项目名称"),
        _c("item_kind", "enum", "项目类别", required=True, values=("drug", "service", "material", "facility")),
        _c("fee_category", "enum", "费用类别", required=True,
           values=("bed", "exam", "lab", "treatment", "surgery", "nursing", "material", "western_drug",
                   "patent_drug", "herbal", "general_care", "registration", "other")),
        _c("service_date", "date", "服务日期", required=True),
        _c("quantity", "quantity", "数量", required=True),
        _c("unit_price", "money", "单价", required=True),
        _c("amount", "money", "金额", required=True,
           doc="should equal quantity × unit_price (a review finding, not a load error)"),
        _c("staff_id", "id", "开单/执行人员代码", format="staff_code"),
    ),
    key=("case_id", "line_no"),
    foreign_keys=(
        ForeignKey(("case_id",), "cases", ("case_id",), "UNKNOWN_CASE"),
        ForeignKey(("staff_id",), "staff", ("staff_id",), "UNKNOWN_STAFF"),
    ),
)

CATALOG = Table(
    "catalog", "三目录",
    (
        _c("item_code", "id", "医保项目编码", required=True),
        _c("item_name", "text", "项目名称", required=True),
        _c("item_kind", "enum", "项目类别", required=True, values=("drug", "service", "material", "facility")),
        _c("class", "enum", "甲乙丙类", required=True, values=("A", "B", "C")),
        _c("self_pay_ratio", "ratio", "自付比例"),
        _c("price_cap", "money", "最高限价"),
        _c("max_daily_qty", "quantity", "每日最大数量"),
        _c("sex_limit", "enum", "限定性别", values=SEX),
        _c("min_age", "int", "最小年龄", lo=0, hi=150),
        _c("max_age", "int", "最大年龄", lo=0, hi=150),
        _c("indications", "prefix_list", "限定支付范围（诊断前缀）"),
        _c("min_level", "int", "最低机构级别", lo=0, hi=3),
        _c("valid_from", "date", "生效日期", required=True),
        _c("valid_to", "date", "失效日期"),
    ),
    key=("item_code", "valid_from"),
    row_checks=(
        RowCheck("DATE_ORDER", "valid_to < valid_from",
                 "'失效日期 ' || valid_to || ' 早于生效日期 ' || valid_from"),
        RowCheck("BAD_RANGE", "max_age < min_age",
                 "'最大年龄 ' || max_age || ' 小于最小年龄 ' || min_age"),
    ),
)

SANCTIONS = Table(
    "sanctions", "人员记分依据（处理决定）",
    (
        _c("sanction_id", "id", "处理决定编号", required=True),
        _c("staff_id", "id", "医保相关人员代码", required=True, format="staff_code"),
        _c("institution_id", "id", "机构编码", required=True, format="institution_code"),
        _c("decided_on", "date", "决定日期", required=True),
        _c("basis", "text", "处理依据", required=True,
           doc="admin_penalty, agreement_termination, agreement_suspension, liquidated_damages; "
               "another value loads but cannot score (the staff capability reports it)"),
        _c("responsibility", "enum", "责任程度", required=True, values=("main", "secondary", "none")),
        _c("points", "int", "记分", required=True,
           doc="1–12 scores; a value outside loads but cannot score (the staff capability reports it)"),
        _c("fraud", "flag", "欺诈骗保一次记满12分"),
    ),
    key=("sanction_id",),
    foreign_keys=(
        ForeignKey(("staff_id",), "staff", ("staff_id",), "UNKNOWN_STAFF"),
        ForeignKey(("institution_id",), "institutions", ("institution_id",), "UNKNOWN_INSTITUTION"),
    ),
)

REPAIRS = Table(
    "repairs", "信用修复",
    (
        _c("repair_id", "id", "修复决定编号", required=True),
        _c("staff_id", "id", "医保相关人员代码", required=True, format="staff_code"),
        _c("decided_on", "date", "决定日期", required=True),
        _c("points_reduced", "int", "减少记分", required=True, lo=0, hi=12),
        _c("shorten_days", "int", "缩短天数", required=True, lo=0, hi=3660),
    ),
    key=("repair_id",),
    foreign_keys=(ForeignKey(("staff_id",), "staff", ("staff_id",), "UNKNOWN_STAFF"),),
)

# --------------------------------------------------------------------------- out-of-area care (issue 21)
FILING_KINDS = ("one_off", "posted", "retiree_resident")  # 临时外出就医 / 异地工作 / 异地长期居住（退休）
FILINGS = Table(
    "filings", "异地就医备案",
    (
        _c("filing_id", "id", "备案编号", required=True),
        _c("person_id", "id", "医保编号", required=True),
        _c("filing_kind", "enum", "备案类型", required=True, values=FILING_KINDS,
           doc="one_off 临时外出就医 (travel, emergency, transfer), posted 异地工作 (staff posted away), "
               "retiree_resident 异地长期居住 (retirees living elsewhere)"),
        _c("one_off_reason", "enum", "临时外出原因", values=("travel", "emergency", "transfer"),
           doc="one_off filings: 异地急诊抢救 (emergency), 转诊转院 (transfer), other travel"),
        _c("destination_region", "text", "就医地", required=True, pattern=REGION_CODE_PATTERN,
           format="region_code", doc="6-digit code of the region where care is allowed"),
        _c("valid_from", "date", "备案生效日期", required=True),
        _c("valid_to", "date", "备案失效日期", doc="blank = open-ended"),
        _c("channel", "enum", "备案渠道", values=("online", "offline"), doc="online (国家医保服务平台 等) or offline (窗口)"),
        _c("filed_on", "date", "备案申请日期"),
    ),
    key=("filing_id",),
    foreign_keys=(ForeignKey(("person_id",), "insured", ("person_id",), "UNKNOWN_PERSON"),),
    row_checks=(
        RowCheck("DATE_ORDER", "valid_to < valid_from",
                 "'备案失效日期 ' || valid_to || ' 早于生效日期 ' || valid_from"),
    ),
)

# The five documents of a manual reimbursement claim (seed 001): the card copy, the confirmed filing form, the
# discharge or diagnosis certificate (for 门特 with the approved form), the itemised list, the invoice.
CLAIM_DOCUMENTS = ("doc_card", "doc_filing_form", "doc_certificate", "doc_itemised_list", "doc_invoice")
CLAIMS = Table(
    "claims", "异地就医零星报销",
    (
        _c("claim_id", "id", "报销申请编号", required=True),
        _c("person_id", "id", "医保编号", required=True),
        _c("institution_name", "text", "就医机构名称", required=True),
        _c("institution_region", "text", "就医地", required=True, pattern=REGION_CODE_PATTERN, format="region_code"),
        _c("institution_level", "int", "就医机构级别", required=True, lo=0, hi=3),
        _c("setting", "enum", "就诊类型", required=True, values=("inpatient", "outpatient"),
           doc="outpatient = 门诊特定项目/特殊病种门诊 (only those are reimbursed by claim)"),
        _c("principal_dx", "icd10", "主要诊断"),
        _c("emergency", "flag", "急诊抢救"),
        _c("admit_date", "date", "入院（就诊）日期", required=True),
        _c("discharge_date", "date", "出院（就诊）日期", required=True),
        _c("submitted_on", "date", "申报日期", required=True),
        _c("total_cost", "money", "医疗费用总额", required=True),
        _c("class_b_amount", "money", "乙类费用", required=True, doc="乙类 amount by the place of care's catalogue"),
        _c("class_b_self_pay", "money", "乙类先行自付", required=True),
        _c("class_c_amount", "money", "丙类及目录外费用", required=True),
        _c("doc_card", "flag", "社会保障卡（医保凭证）复印件", required=True),
        _c("doc_filing_form", "flag", "异地就医备案表", required=True),
        _c("doc_certificate", "flag", "出院记录或诊断证明（门特附审批表）", required=True),
        _c("doc_itemised_list", "flag", "费用明细清单", required=True),
        _c("doc_invoice", "flag", "医疗收费票据", required=True),
    ),
    key=("claim_id",),
    foreign_keys=(ForeignKey(("person_id",), "insured", ("person_id",), "UNKNOWN_PERSON"),),
    row_checks=(
        RowCheck("DISCHARGE_BEFORE_ADMISSION", "discharge_date < admit_date",
                 "'出院日期 ' || discharge_date || ' 早于入院日期 ' || admit_date"),
        RowCheck("PARTS_OVER_TOTAL", "class_b_amount + class_c_amount > total_cost OR class_b_self_pay > class_b_amount",
                 "'乙类 ' || class_b_amount || ' + 丙类 ' || class_c_amount || ' 超过总额 ' || total_cost "
                 "|| '，或乙类先行自付 ' || class_b_self_pay || ' 超过乙类费用'"),
    ),
)

LABELS = Table(
    "labels", "注入异常标签（合成数据）",
    (
        _c("case_id", "id", "结算清单号", required=True),
        _c("pattern", "enum", "异常模式", required=True, values=(
            "split_admission", "phantom_stay", "low_standard_admission", "upcoding", "dead_patient",
            "overlapping_stay", "duplicate_charge", "drug_substitution", "uncovered_item",
            "over_quantity", "restricted_item", "price_over_cap", "amount_mismatch", "suspended_staff",
            "no_fee_lines", "lines_total_mismatch", "payment_parts_mismatch",
        )),
    ),
    key=("case_id", "pattern"),
)

LABEL_PATTERNS: tuple[str, ...] = LABELS.column("pattern").values

# Load order: a table comes after every table its foreign keys reference.
# 基金收支流水 (monthly fund ledger of a pooling region, per scheme): the revenue items, the expenditure items
# the budget formula deducts that are not in the cases (the cases' fund_paid is the rest of the expenditure,
# derived by yibao fund), and the opening accumulated balance (期初累计结余) of a month. docs/fund.md.
FUND_ITEMS = (
    "opening_balance", "contributions", "personal_account", "fiscal_subsidy", "interest", "other_revenue",
    "out_of_area_realtime", "out_of_area_manual", "special_outpatient", "marriage_checkup",
    "outpatient_special_items", "other_policy",
)

FUND_FLOWS = Table(
    "fund_flows", "基金收支流水（月度）",
    (
        _c("month", "text", "月份", required=True, pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$", doc="YYYY-MM"),
        _c("scheme", "enum", "险种", required=True, values=SCHEMES),
        _c("item", "enum", "收支项目", required=True, values=FUND_ITEMS,
           doc="opening_balance = 期初累计结余; contributions, fiscal_subsidy, interest, other_revenue = 收入; "
               "personal_account = 划入个人账户 (deducted from revenue); the rest = 基金支出 not in the cases"),
        _c("amount", "money", "金额", required=True),
    ),
    key=("month", "scheme", "item"),
)

TABLES: dict[str, Table] = {
    t.name: t
    for t in (INSTITUTIONS, INSURED, STAFF, CATALOG, CASES, FEE_ITEMS, SANCTIONS, REPAIRS, FILINGS, CLAIMS,
              LABELS, FUND_FLOWS)
}
LOAD_ORDER: tuple[str, ...] = tuple(TABLES)


def table(name: str) -> Table:
    return TABLES[name]
