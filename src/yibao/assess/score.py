"""The assessment score (考核得分) per institution, from its indicator values and the policy's rules.

Per scored indicator (``[score.indicators.*]``): the target is the staged county target for the year
when the policy lists one (``[[score.staged_targets]]``, the county's own before ``"*"``), else the
rule's number, else the peer median (needs ``bands.min_peers`` peers). Points = weight when the value
meets the target; 0 at or beyond ``zero_at`` (given, or target × (1 ± tolerance)); linear between,
rounded half-up to 4 places. An indicator without a value or a target is not applicable: its weight
is left out, and total = Σ points ÷ Σ applicable weights × 100, half-up to ``score.total_places``.

A loop per institution × rule over a few hundred rows (not per case): plain Decimal arithmetic.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, localcontext

from yibao.assess.policy import AssessPolicy, ScoreRule, StagedTarget

Q4 = Decimal("0.0001")


def _staged(policy: AssessPolicy, region_code: str | None, year: int, indicator: str) -> StagedTarget | None:
    for rc in (region_code, "*"):
        for t in policy.staged:
            if t.region_code == rc and t.year == year and indicator in t.targets:
                return t
    return None


def _points(rule: ScoreRule, value: Decimal, target: Decimal) -> tuple[Decimal, Decimal]:
    """(points, zero_at) for a value against its target."""
    if rule.zero_at is not None:
        zero = rule.zero_at
    else:
        sign = 1 if rule.direction == "lower" else -1
        zero = (target * (1 + sign * rule.tolerance)).quantize(Q4, ROUND_HALF_UP)
    with localcontext() as ctx:
        ctx.prec = 50
        if rule.direction == "lower":
            if value <= target:
                share = Decimal(1)
            elif value >= zero:
                share = Decimal(0)
            else:
                share = (zero - value) / (zero - target)
        else:
            if value >= target:
                share = Decimal(1)
            elif value <= zero:
                share = Decimal(0)
            else:
                share = (value - zero) / (target - zero)
        return (rule.weight * share).quantize(Q4, ROUND_HALF_UP), zero


def score_rows(bands: list[dict], regions: dict[str, str | None], policy: AssessPolicy, year: int
               ) -> tuple[list[dict], list[dict]]:
    """(breakdown rows, total rows). ``bands``: the assess_bands rows (institution × indicator with value,
    peers and median); ``regions``: institution → region_code."""
    by_inst: dict[str, dict[str, dict]] = {}
    for b in bands:
        by_inst.setdefault(b["institution_id"], {})[b["indicator"]] = b
    rows, totals = [], []
    places = Decimal(1).scaleb(-policy.total_places)
    for inst in sorted(by_inst):
        got = by_inst[inst]
        pts_sum, weight_sum = Decimal(0), Decimal(0)
        for rule in policy.rules:
            b = got.get(rule.indicator)
            value = None if b is None else b["value"]
            staged = _staged(policy, regions.get(inst), year, rule.indicator)
            if staged is not None:
                target, source = staged.targets[rule.indicator], f"分阶段目标 {staged.region_code} {staged.year}" + (
                    f" 第{staged.stage}阶段" if staged.stage else "") + f"（{staged.source}）"
            elif isinstance(rule.target, Decimal):
                target, source = rule.target, "政策目标值"
            elif b is not None and b["median"] is not None and b["peers"] >= policy.min_peers:
                target, source = b["median"], f"同级中位数（{b['peers']} 家）"
            else:
                target, source = None, "同级机构不足 {}，无目标".format(policy.min_peers)
            row = {"institution_id": inst, "indicator": rule.indicator, "value": value, "target": target,
                   "target_source": source, "direction": rule.direction, "zero_at": None, "weight": rule.weight,
                   "applicable": False, "points": None, "note": ""}
            if b is None:
                row["note"] = "指标不适用（未给出所需数据）"
            elif value is None:
                row["note"] = "分母为 0，不计分"
            elif target is None:
                row["note"] = "无目标值，不计分"
            else:
                points, zero = _points(rule, value, target)
                row.update(applicable=True, points=points, zero_at=zero,
                           note="达到目标" if points == rule.weight else ("零分界值以外" if points == 0 else "线性扣分"))
                pts_sum += points
                weight_sum += rule.weight
            rows.append(row)
        total = None
        if weight_sum > 0:
            with localcontext() as ctx:
                ctx.prec = 50
                total = (pts_sum * 100 / weight_sum).quantize(places, ROUND_HALF_UP)
        totals.append({"institution_id": inst, "score": total, "points": pts_sum, "applicable_weight": weight_sum})
        rows.append({"institution_id": inst, "indicator": "total", "value": None, "target": None, "target_source": "",
                     "direction": "", "zero_at": None, "weight": weight_sum, "applicable": weight_sum > 0,
                     "points": total, "note": "总分 = 得分之和 ÷ 适用权重之和 × 100"})
    return rows, totals
