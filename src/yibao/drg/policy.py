"""The DRG payment policy (DRG 付费政策): every parameter declared once, in :data:`PAYMENT_PARAMS`.

From the one declaration come the checks of a policy file (every problem at once, each naming its key), the
typed values (:class:`DrgPolicy`), the defaults file ``payment.toml`` (generated, a test keeps it equal to
``PAYMENT_PARAMS.defaults_toml()``), the table in ``docs/drg-payment.md`` (generated, a test keeps it in) and the
SQL parameter tables (:func:`param_tables`).

Adding a parameter: one :class:`~yibao.contract.params.Param` in :data:`PAYMENT_PARAMS`; if the SQL reads it,
its key in :data:`SQL_PARAMS` (a column of ``drg_pay_params``, typed from the value); then regenerate
``payment.toml`` (``python -c "from yibao.drg.policy import PAYMENT_PARAMS as T; print(T.defaults_toml(), end='')"``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pyarrow as pa

from yibao.contract.params import Param, ParamTable, PolicyFileError, Values
from yibao.contract.params import kinds as K

__all__ = ["PAYMENT_PARAMS", "DrgPolicy", "DrgPolicyError", "load_payment_policy", "param_tables", "history_years",
           "DEFAULTS_FILE", "SQL_PARAMS", "LEVELS"]

DEFAULTS_FILE = Path(__file__).with_name("payment.toml")
LEVELS = ("3", "2", "1", "0")
PARAM = pa.decimal128(9, 4)
LOCAL = "本地规则（示例值）"


class DrgPolicyError(PolicyFileError):
    """A DRG payment policy file with problems: one line naming the file and every problem (a :class:`BadPolicy`)."""


def _years_match(v: Values) -> str | None:
    years, weights = v["weights.years"], v["weights.year_weights"]
    if sum(weights) <= 0 or (years and len(years) != len(weights)):
        return "weights.year_weights 之和应大于 0，且与 weights.years 个数相同"
    return None


PAYMENT_PARAMS = ParamTable(
    name="drg",
    title="DRG 付费（按疾病诊断相关分组付费）",
    doc="docs/drg-payment.md",
    params=(
        Param("weights.years", [], K.integer_list(ascending=True), LOCAL,
              "权重的历史年度，从早到晚；空 = 结算年度之前的 len(year_weights) 个结算年度", "年"),
        Param("weights.year_weights", ["1", "2", "7"], K.decimal_list("0", "1000", 4, min_len=1),
              "近三年数据按 1:2:7 加权，与 DIP 目录相同（issue 5 第 6 部分：与 DIP 相同的剔除与年度权重）",
              "历史年度的权重，从早到晚"),
        Param("weights.trim_lower", "0.05", K.decimal("0", "0.4999"), LOCAL,
              "离群病例剔除：每个 DRG 按费用排序剔除的低端比例", "比例"),
        Param("weights.trim_upper", "0.95", K.decimal("0.5001", "1"), LOCAL,
              "离群病例剔除：每个 DRG 按费用排序保留的上端位置", "比例"),
        Param("payment.high_ratio", "3", K.decimal("1", "100"), "本地规则（示例值；CHS-DRG 实践 2–3）",
              "高倍率病例：费用高于 DRG 平均费用的此倍数 → 权重 × ((费用 / 平均费用 − 高倍率) + 1)", "倍"),
        Param("payment.low_ratio", "0.4", K.decimal("0", "1"), LOCAL,
              "低倍率病例：费用低于 DRG 平均费用的此倍数 → 权重 × 费用 / 平均费用", "倍"),
        Param("payment.short_stay_days", 0, K.integer(0, 365), LOCAL,
              "住院天数不超过此数的病例按项目结算（0 = 不设）", "天"),
        Param("payment.long_stay_days", 60, K.integer(1, 3650), LOCAL,
              "住院天数达到此数的病例按项目（按床日）结算", "天"),
        Param("payment.per_diem_prefixes",
              ["F20", "F21", "F22", "F23", "F24", "F25", "F28", "F29", "F31", "F32", "F33", "Z50", "I69"],
              K.text_list(unique=False), LOCAL,
              "按床日付费病种：主要诊断编码前缀（长期住院的精神、康复病例），不按 DRG 结算"),
        Param("payment.convention", "fund", K.choice("fund", "total_cost"), "本地规则（与 DIP 的 [settlement] 相同）",
              "预算口径：只计统筹基金（fund）或按医疗总费用（total_cost）"),
        Param("payment.reimbursement_ratio", "", K.decimal("0.0001", "1", 6, empty_ok=True), LOCAL,
              "total_cost 口径的统筹基金支付比例；空 = 由当年 DRG 病例计算", "比例"),
        Param("payment.deposit_rate", "0.05", K.decimal("0", "0.05"),
              "按病种付费经办规程（医保办发〔2025〕2号）：质量保证金至多 5%",
              "每月预付中预留的质量保证金比例，年终清算时按考核返还", "比例"),
        Param("payment.prepay_cap", "none", K.choice("none", "booked"), LOCAL,
              "按月预付：none = 当月权重 × 月度预付费率；booked = 至多当月统筹基金记账"),
        Param("payment.level_coefficient", {"3": "1", "2": "1", "1": "1", "0": "1"},
              K.decimal_map(LEVELS, "0", "10", complete=True), "本地规则（缺省中性 1）",
              "医疗机构等级系数（机构级别 3/2/1/0）", "倍"),
        Param("payment.institution_coefficient", {}, K.decimal_map(None, "0", "10"), "本地规则（缺省无）",
              "机构系数：机构编码 → 系数，优先于等级系数", "倍"),
    ),
    checks=(_years_match,),
)

# the scalar parameters the payment SQL reads from ``drg_pay_params`` (after ``year``; ``base`` is the constant 1 of
# the shared relative-weight step), in column order; each column typed from its value (integer → INT32, else DECIMAL)
SQL_PARAMS = ("weights.trim_lower", "weights.trim_upper", "base", "payment.high_ratio", "payment.low_ratio",
              "payment.short_stay_days", "payment.long_stay_days")


@dataclass(frozen=True)
class DrgPolicy:
    """A checked DRG payment policy: the typed values (``values["payment.high_ratio"]``, with their sources) and
    the few forms the settlement reads as attributes."""

    values: Values

    @property
    def path(self) -> str:
        return self.values.path

    def __getitem__(self, key: str):
        return self.values[key]

    @property
    def years(self) -> tuple[int, ...]:
        return tuple(self.values["weights.years"])

    @property
    def year_weights(self) -> tuple[Decimal, ...]:
        return tuple(self.values["weights.year_weights"])

    @property
    def per_diem_prefixes(self) -> tuple[str, ...]:
        """Trimmed, upper-case, sorted, without repeats (the ``drg_per_diem`` table's rows)."""
        return tuple(sorted({x.strip().upper() for x in self.values["payment.per_diem_prefixes"]}))

    @property
    def convention(self) -> str:
        return self.values["payment.convention"]

    @property
    def reimbursement_ratio(self) -> Decimal | None:
        return self.values["payment.reimbursement_ratio"]

    @property
    def deposit_rate(self) -> Decimal:
        return self.values["payment.deposit_rate"]

    @property
    def prepay_cap(self) -> str:
        return self.values["payment.prepay_cap"]

    @property
    def level_coefficient(self) -> dict[str, Decimal]:
        return dict(self.values["payment.level_coefficient"])

    @property
    def institution_coefficient(self) -> dict[str, Decimal]:
        return dict(self.values["payment.institution_coefficient"])


def load_payment_policy(path: Path | str | None = None) -> DrgPolicy:
    """The defaults (:data:`PAYMENT_PARAMS`), overridden key by key by ``path``'s ``[weights]`` and ``[payment]``
    (the level coefficients merged level by level); every problem of the file in one :class:`DrgPolicyError`."""
    return DrgPolicy(PAYMENT_PARAMS.load(path, error=DrgPolicyError))


def history_years(available: list[int], year: int, p: DrgPolicy) -> list[int]:
    """The history years the weights come from: ``weights.years`` before ``year``, else the last
    ``len(year_weights)`` years of ``available`` before it."""
    if p.years:
        return [y for y in p.years if y < year]
    before = sorted(y for y in set(available) if y < year)
    return before[-len(p.year_weights):]


YEARS_SCHEMA = pa.schema([("year", pa.int32()), ("weight", PARAM)])
PREFIX_SCHEMA = pa.schema([("prefix", pa.string())])
COEF_SCHEMA = pa.schema([("scope", pa.string()), ("key", pa.string()), ("coefficient", PARAM)])


def _sql_value(p: DrgPolicy, key: str):
    return Decimal(1) if key == "base" else p[key]


def params_schema(p: DrgPolicy | None = None) -> pa.Schema:
    """``drg_pay_params``' schema: ``year``, then :data:`SQL_PARAMS` (integers INT32, decimals DECIMAL(9, 4))."""
    p = p or load_payment_policy()
    return pa.schema([("year", pa.int32())] + [
        (k.rpartition(".")[2], pa.int32() if isinstance(_sql_value(p, k), int) else PARAM) for k in SQL_PARAMS])


def param_tables(p: DrgPolicy, year: int, history: list[int]) -> dict[str, pa.Table]:
    """The SQL parameter tables of the payment pipelines: ``drg_pay_params`` (one row), ``drg_years`` (the
    history years and their weights), ``drg_per_diem`` (prefixes), ``drg_coefficients`` (level, institution)."""
    coefs = [("level", k, v) for k, v in sorted(p.level_coefficient.items())] + \
            [("institution", k, v) for k, v in sorted(p.institution_coefficient.items())]
    ws = list(p.year_weights)[-len(history):] if history else []
    schema = params_schema(p)
    return {
        "drg_pay_params": pa.table({"year": [year], **{k.rpartition(".")[2]: [_sql_value(p, k)] for k in SQL_PARAMS}},
                                   schema=schema),
        "drg_years": pa.table({"year": history, "weight": ws}, schema=YEARS_SCHEMA),
        "drg_per_diem": pa.table({"prefix": list(p.per_diem_prefixes)}, schema=PREFIX_SCHEMA),
        "drg_coefficients": pa.table({"scope": [c[0] for c in coefs], "key": [c[1] for c in coefs],
                                      "coefficient": [c[2] for c in coefs]}, schema=COEF_SCHEMA),
    }
