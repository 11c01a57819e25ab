"""The payment-qualification policy's parameters (医保支付资格政策参数), declared once (:data:`STAFF_PARAMS`).

From this one table come the checks of a policy file's ``[staff]``, ``[procedure]``, ``[institutions]`` and
``[exchange]`` sections, the generated ``defaults.toml`` beside this module (a test keeps it equal to
``STAFF_PARAMS.defaults_toml()``) and the generated table of ``docs/staff.md``. "seed 001" is
../shared/seeds/001_*.txt, the 2024-09-27 press conference.

A few kinds are staff's own small additions to :mod:`yibao.contract.params`: :func:`months_table` (a table of
points → months that a policy replaces as a whole), :func:`share` (a decimal kept as written),
:func:`subset` (a list of allowed values in staff's wording).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from yibao.contract.params import Kind, Param, ParamTable, Values, toml_value
from yibao.contract.params import kinds as K

__all__ = ["STAFF_PARAMS", "DEFAULTS_HEADER", "months_table", "share", "subset"]

SEED = "seed 001"


def _toml(v: Any) -> str:
    return toml_value(v, quote_keys=True)


def _show(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(map(str, v)) + "]" if v else "[]（空）"
    if isinstance(v, Mapping):
        return "{" + ", ".join(f"{k} = {x}" for k, x in v.items()) + "}"
    return "（空）" if v == "" else str(v)


def months_table() -> Kind:
    """Points reached → months of suspension; a policy's table replaces the default's as a whole. The keys and
    values are checked against the other parameters in :data:`STAFF_PARAMS`'s checks."""
    def parse(key: str, v: Any):
        if not isinstance(v, Mapping) or not v:
            return None, [f"{key} 应为表，例如 {{ \"9\" = 1, \"10\" = 2, \"11\" = 3 }}"]
        out, probs = {}, []
        for k, x in v.items():
            try:
                pts = int(k)
            except ValueError:
                probs.append(f"{key} 的键应为分数：{k!r}")
                continue
            if isinstance(x, bool) or not isinstance(x, int):
                probs.append(f"{key}.{k} 应为整数，实际为 {x!r}")
                continue
            out[pts] = x
        return (out if not probs else None), probs

    return Kind("表：记分 → 暂停月数", parse, _toml, _show)


def share(lo: str = "0", hi: str = "1") -> Kind:
    """A decimal in [lo, hi], kept as written."""
    def parse(key: str, v: Any):
        try:
            d = Decimal(str(v))
        except InvalidOperation:
            return None, [f"{key} 不是数字：{v!r}"]
        if isinstance(v, bool) or not d.is_finite() or not Decimal(lo) <= d <= Decimal(hi):
            return None, [f"{key} 应在 {lo} 与 {hi} 之间：{v!r}"]
        return d, []

    return Kind(f"小数（{lo}–{hi}）", parse, _toml, _show)


def subset(options: tuple[str, ...] | None, problem: str, nonempty: bool = False, sort: bool = False) -> Kind:
    """A list of texts (``options``: each one of them); ``problem``: the message after the key."""
    def parse(key: str, v: Any):
        ok = isinstance(v, list) and all(isinstance(x, str) and x for x in v) and (bool(v) or not nonempty)
        if ok and options is not None:
            ok = set(v) <= set(options)
        if not ok:
            return None, [f"{key} {problem}" + (f"，实际为 {v!r}" if "实际" not in problem and options else "")]
        return (tuple(sorted(set(v))) if sort else tuple(v)), []

    return Kind("文字列表" + (f"（{' / '.join(options)}）" if options else ""), parse, _toml, _show)


def _p(key: str, default: Any, kind: Kind, source: str, zh: str, unit: str = "") -> Param:
    return Param(key=key, default=default, kind=kind, source=source, zh=zh, unit=unit)


def _range(key: str, value: int, lo: int, hi: int) -> str | None:
    return None if lo <= value <= hi else f"{key} 超出允许范围 {lo}–{hi}：{value}"


def _bounds(v: Values) -> str | None:
    """The bounds that depend on another parameter (the first broken one)."""
    return (_range("staff.suspend_months_max", v["staff.suspend_months_max"], v["staff.suspend_months_min"], 120)
            or _range("staff.terminate_points", v["staff.terminate_points"], v["staff.suspend_points"] + 1, 100)
            or _range("staff.max_points", v["staff.max_points"], v["staff.min_points"], 100))


def _months(v: Values) -> str | None:
    """suspend_months: every key in [suspend_points, terminate_points), every value in [min, max], the
    suspend_points key present, months never fewer for a higher total."""
    sp, tp = v["staff.suspend_points"], v["staff.terminate_points"]
    mn, mx = v["staff.suspend_months_min"], v["staff.suspend_months_max"]
    months = v["staff.suspend_months"]
    for pts, m in months.items():
        if not sp <= pts < tp:
            return f"staff.suspend_months.{pts}：分数应在 {sp}–{tp - 1} 之间"
        problem = _range(f"staff.suspend_months.{pts}", m, mn, mx)
        if problem:
            return problem
    if sp not in months:
        return f"staff.suspend_months 缺少 {sp} 分（达到暂停分值时）的月数"
    if [months[k] for k in sorted(months)] != sorted(months.values()):
        return "staff.suspend_months：分数越高，暂停月数不应越少"
    return None


def _key_env(v: Values) -> str | None:
    return None if v["exchange.key_env"] else "exchange.key_env 应为非空字符串（环境变量名）"


_ANS1 = f"{SEED}, 顾荣 answer 1"

STAFF_PARAMS = ParamTable(
    name="staff",
    title="医保支付资格管理（医保发〔2024〕23号记分）",
    doc="docs/staff.md",
    checks=(_bounds, _months, _key_env),
    params=(
        _p("staff.suspend_points", 9, K.integer(1, 100),
           f"{_ANS1} (二是灵敏记分控制): \"一个自然年度内记分达到9分的，将暂停其医保支付资格1-6个月\"",
           "暂停医保支付资格的年度记分", "分"),
        _p("staff.terminate_points", 12, K.integer(1, 100),
           f"{_ANS1}: \"一个自然年度内记分达到12分的，将终止医保支付资格\"", "终止医保支付资格的年度记分", "分"),
        _p("staff.suspend_months", {"9": 1, "10": 2, "11": 3}, months_table(),
           "issue 6 default, a local rule inside the national range of suspend_months_min/max (Shanghai-style "
           "grading; the seed gives only the range 1–6)",
           "按年度记分确定的暂停月数（介于两键之间取较低的键）", "月"),
        _p("staff.suspend_months_min", 1, K.integer(1, 120),
           f"{_ANS1}: \"暂停其医保支付资格1-6个月\" — every suspend_months value must lie in this range",
           "暂停月数下限", "月"),
        _p("staff.suspend_months_max", 6, K.integer(1, 120), f"{_ANS1}: \"暂停其医保支付资格1-6个月\"", "暂停月数上限", "月"),
        _p("staff.bar_years_accumulated", 1, K.integer(0, 100),
           f"{_ANS1}: \"累计记满12分的，终止之日起1年内不得再次登记备案\"", "累计记满终止后不得再次登记的年数", "年"),
        _p("staff.bar_years_at_once", 3, K.integer(0, 100),
           f"{_ANS1}: \"一次性记满12分的，终止之日起3年内不得再次登记备案\"; 顾荣 answer 2 (第三): "
           "\"对关键责任人员一次性记满12分，终止其医保支付资格，3年内不得恢复\"", "一次性记满终止后不得再次登记的年数", "年"),
        _p("staff.at_once_points", 12, K.integer(1, 100),
           "issue 6: a single finding of at least this many points is \"12 at once\" (一次性记满), as is the fraud flag",
           "一次性记满的单次记分", "分"),
        _p("staff.min_points", 1, K.integer(0, 100), f"{_ANS1}: points per finding 1-3, 4-6, 7-9, 10-12",
           "单次记分下限", "分"),
        _p("staff.max_points", 12, K.integer(0, 100), f"{_ANS1}: points per finding 1-3, 4-6, 7-9, 10-12",
           "单次记分上限", "分"),
        _p("staff.scoring_bases",
           ["admin_penalty", "agreement_termination", "agreement_suspension", "liquidated_damages"],
           subset(None, "应为处理依据列表"),
           f"{SEED}, 顾荣 answer 2 (第一，限定范围) and 王国栋 answer (一是): only after an administrative penalty "
           "(行政处罚) or a heavier agreement sanction (解除协议、中止协议、处以违约金) does a finding score",
           "记分的处理依据"),
        _p("staff.scoring_responsibilities", ["main", "secondary"],
           subset(("main", "secondary"), "只能包含 main、secondary（无责任 none 从不记分）", nonempty=True),
           f"{SEED}, 顾荣 answer 2 (第二，是谁的问题就处理谁): only responsible staff score — \"没有责任的不记分\"; main "
           "more than secondary is already in each finding's points, set by the deciding department (王国栋 answer, 一是)",
           "记分的责任程度"),
        _p("staff.repair_not_before_decision", True, K.boolean(),
           "local rule: a repair (修复; 顾荣 answer 2 第五, 王国栋 answer 三是) that shortens a running suspension or bar "
           "never ends it before the repair's own decision date (not retroactive), and points never go below 0",
           "修复缩短期限不早于修复决定日"),
        _p("staff.emergency_paid_statuses", ["suspended"],
           subset(("suspended", "terminated"), "只能包含 suspended、terminated（急诊、抢救仍予结算的资格状态）", sort=True),
           f"{_ANS1} (二是): \"暂停期内提供服务发生的医保费用不予结算（急救、抢救除外）…终止期内所提供服务发生的医保费用将不予"
           "结算\" — the emergency exception is for suspension only (a region may add \"terminated\" or empty the list)",
           "急诊、抢救仍予结算的资格状态"),
        _p("procedure.review_request_days", 7, K.integer(0, 365),
           "张超 answer (二是): 记分预先告知 → 复核 → 记分决定; days to ask for review after the advance notice; local "
           "rule, example value (the seed names the step, not the period)", "预先告知后申请复核的期限", "天"),
        _p("institutions.flag_share", "0.05", share("0", "1"),
           "王国栋 answer (三是): institutions whose share of staff suspended or terminated in a year exceeds \"一定比例\" "
           "are dealt with in the agreement assessment; local rule, example value", "机构被暂停、终止人员占比的通报界限",
           "比例"),
        _p("exchange.region_code", "", K.text(),
           "顾荣 answer 1 (三是，全国联网联动): region code written into exported files (local rule; blank = taken from "
           "the workspace's institutions when they share one region code)", "导出文件的本地区代码"),
        _p("exchange.key_env", "YIBAO_EXCHANGE_KEY", K.text(),
           "local rule: environment variable holding the HMAC-SHA256 key of the exchange network; a key for one origin "
           "region may be given as <key_env>_<REGION_CODE>", "交换密钥所在的环境变量"),
        _p("exchange.allow_unsigned", False, K.boolean(),
           "local rule: files with a plain SHA-256 only are accepted only when true and no key is configured (with a "
           "key set, an unsigned file is refused: a tampered file could carry a recomputed plain SHA-256)",
           "是否接受未签名的交换文件"),
    ),
)

DEFAULTS_HEADER = ("Payment qualification (医保支付资格管理, the \"driving-licence\" points of 医保发〔2024〕23号). A region's\n"
                   "policy file overrides any of these ([staff], [procedure], [institutions], [exchange]). Reference:\n"
                   "docs/staff.md.")
