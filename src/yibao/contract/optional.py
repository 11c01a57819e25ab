"""What each optional column enables: the loader's report when a file lacks one (缺少可选列).

A file may leave out any optional column of its table (the loader then treats every cell of it
as blank), but the user must be told what that costs. This table, beside the schema
(:mod:`yibao.contract.schema`), says once per optional column what is lost without it, in the
Chinese the load report prints. ``tests/test_load_honest.py`` checks that every optional
column of every table has an entry here and that no entry names a column the schema lacks.
"""

from __future__ import annotations

WITHOUT: dict[str, dict[str, str]] = {
    "institutions": {
        "agreement_end": "所有机构的服务协议视为长期有效（协议到期不再排除）",
    },
    "insured": {
        "id_number": "无身份证号（仅用于核对身份，不影响计算）",
        "name": "无参保人姓名（仅用于展示，不影响计算）",
        "death_date": "不知道谁已死亡：审核规则 C02（参保人死亡后发生费用）不起作用",
    },
    "staff": {
        "name": "无人员姓名（仅用于展示，不影响计算）",
        "id_number": "无身份证号（仅用于核对身份，不影响计算）",
    },
    "cases": {
        "sex": "性别一律取自参保人表（insured）",
        "age_years": "年龄一律由参保人出生日期计算",
        "dept_code": "不知道就诊科室：审核规则 L14（限定科室）把每条相关明细都视为科室不符",
        "attending_staff_id": "看不到主诊医师：审核规则 C08 与人员支付资格的结算影响（暂停资格医师主诊不予结算）不起作用",
        "secondary_dx": "每个病例都按没有其他诊断处理：DRG 不计并发症/合并症，限定支付范围（L08）只看主要诊断",
        "procedures": "每个 DIP/DRG 病例都按没有手术操作分组（手术病组一个也进不去）",
        "discharge_mode": "不知道离院方式：分解住院（C04）无法排除死亡病例",
        "newborn_age_days": "不知道新生儿天龄：新生儿病例无法进入新生儿病组（DRG MDC P）",
        "newborn_weight_g": "不知道新生儿出生体重：新生儿病例无法进入新生儿病组（DRG MDC P）",
        "emergency": "没有急诊抢救豁免：所有病例按非急诊处理（C06、C08、L11 与人员支付资格结算影响）",
    },
    "fee_items": {
        "item_name": "无明细项目名称：按名称判断的规则（C13 疗程、L14 限定科室、L15 限定险种）不起作用",
        "staff_id": "看不到开单/执行人员：审核规则 L11（暂停或终止资格人员提供服务）不起作用",
    },
    "catalog": {
        "self_pay_ratio": "乙类项目无自付比例",
        "price_cap": "无最高限价：审核规则 L02（超限价）不起作用，L10（串换药品）只按本期明细学得的参考单价判断",
        "max_daily_qty": "无每日最大数量：审核规则 L05 不起作用",
        "sex_limit": "无限定性别：审核规则 L06 不起作用",
        "min_age": "无限定年龄下限：审核规则 L07 只看上限",
        "max_age": "无限定年龄上限：审核规则 L07 只看下限",
        "indications": "无限定支付范围：审核规则 L08 不起作用",
        "min_level": "无最低机构级别：审核规则 L09 不起作用",
        "valid_to": "所有目录项目视为长期有效（不再失效）",
    },
    "sanctions": {
        "fraud": "所有处理决定按非欺诈骗保记分（不会一次记满 12 分）",
    },
    "repairs": {},
    "filings": {
        "one_off_reason": "临时外出备案不区分急诊、转诊与其他外出",
        "valid_to": "所有备案视为长期有效（不再过期）",
        "channel": "不知道备案渠道（只用于统计）",
        "filed_on": "不知道备案申请日期（只用于统计）",
    },
    "claims": {
        "principal_dx": "不知道报销病例的主要诊断：门诊报销不能按特殊病种门诊计算",
        "emergency": "所有报销按非急诊处理（无备案的急诊不再豁免）",
    },
    "labels": {},
    "fund_flows": {},  # (every column required; added here so the completeness test holds after merging main)
}


def without(table: str, column: str) -> str:
    """What is lost when ``table``'s file has no ``column`` (generic text for an undeclared one)."""
    return WITHOUT.get(table, {}).get(column, "该列按空白处理")
