"""Why an institution went over its target (超总额原因分析) and the rectification notice (整改意见).

人社部发〔2012〕70号 三(五): an institution over its target analyses why and gets 整改意见. For every institution and
inpatient pot whose booked fund money B (记账金额) exceeds its adjusted annual target T (年度指标（调整后）) in a budget
year's clearing (``yibao budget --out DIR``), the overrun B − T is split exactly into

- **volume** (人次): (n₁ − n₀) × c₀ — n₀ the weighted cases of the last three years the target was sized on
  (近三年加权人次), n₁ the year's cases, c₀ = T ÷ n₀ the target's cost per case;
- **case mix** (病例组合, CMI): n₁ × c₀ × (CMI₁ ÷ CMI₀ − 1) — CMI the mean DIP group score ÷ the score base of the
  institution's cases (``dip score`` output), CMI₀ over the three years before, CMI₁ in the year;
- **cost per case at the same case mix** (同病例组合的例均费用): the rest, B − T − volume − case mix
  (= n₁ × c₀ × CMI₁/CMI₀ × (u₁/u₀ − 1), u the cost per unit of case mix), so the three add up to the overrun to the fen.

The notice names the largest part and gives the dates: response due ``rectification.response_days`` after the
issue date, follow-up ``rectification.follow_up_days`` after it (working days are not used here: these are the
agreement's calendar periods; both parameters).
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from yibao.contract.errors import BadFile
from yibao.contract.params import Param, ParamTable
from yibao.contract.params import kinds as K
from yibao.contract.vocab import SCHEME_ZH

__all__ = ["RECTIFICATION", "read_budget_clearing", "decompose", "OVERRUN_COLUMNS"]

CENT = Decimal("0.01")
Q4 = Decimal("0.0001")

RECTIFICATION = ParamTable(
    name="rectification", title="超总额整改", doc="docs/assess.md",
    params=(
        Param("rectification.response_days", 15, K.integer(1, 365), "人社部发〔2012〕70号 三(五)（期限为本地规则，示例值）",
              "机构报送原因分析与整改措施的期限（自下发之日起）", "天"),
        Param("rectification.follow_up_days", 90, K.integer(1, 730), "本地规则（示例值）",
              "经办机构跟踪整改效果的日期（自下发之日起）", "天"),
        Param("rectification.min_overrun_rate", "0", K.decimal("0", "1", 4), "本地规则（示例值）",
              "超支率（超支 ÷ 年度指标）达到此值才下发整改意见；0 = 凡超支均下发", "比例"),
        Param("rectification.score_base", "1000", K.decimal("1", "1000000", 0),
              "DIP 病种分值的基准（与 dip 的 catalogue.score_base 相同时 CMI = 平均分值 ÷ 1000）", "CMI 的分值基准", "分"),
    ),
)

PARTS_ZH = {"volume": "人次增加", "case_mix": "病例组合（CMI）变化", "cost": "同病例组合的例均费用上升"}
OVERRUN_COLUMNS = (
    "pot", "institution_id", "name", "target", "booked", "overrun", "overrun_rate", "cases_base", "cases",
    "cost_per_case_base", "cost_per_case", "cmi_base", "cmi", "volume_effect", "case_mix_effect", "cost_effect",
    "main_driver", "opinion", "issued_on", "response_due", "response", "follow_up_on",
)


def _r2(d: Decimal) -> Decimal:
    return d.quantize(CENT, rounding=ROUND_HALF_UP)


def _read(path: Path) -> list[dict]:
    if not path.is_file():
        raise BadFile(f"{path.parent}: 不是 yibao budget 的输出目录（缺少 {path.name}）")
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def read_budget_clearing(budget_dir: Path) -> list[dict]:
    """Per inpatient pot and institution: target, booked, the year's cases and the cases the target was sized on."""
    clearing = _read(Path(budget_dir) / "clearing.csv")
    quotas = {(r["项目"], r["机构编码"]): r for r in _read(Path(budget_dir) / "quotas.csv")}
    need = ("项目", "机构编码", "机构名称", "年度指标（调整后）", "记账金额", "当年人次")
    if clearing and any(k not in clearing[0] for k in need):
        raise BadFile(f"{budget_dir}/clearing.csv: 缺少列 {', '.join(k for k in need if k not in clearing[0])}")
    out = []
    for r in clearing:
        pot = r["项目"]
        if not pot.endswith(".inpatient"):
            continue
        q = quotas.get((pot, r["机构编码"]), {})
        out.append({"pot": pot, "institution_id": r["机构编码"], "name": r["机构名称"],
                    "target": Decimal(r["年度指标（调整后）"]), "booked": Decimal(r["记账金额"]),
                    "cases": int(r["当年人次"] or 0),
                    "cases_base": Decimal(q.get("近三年加权人次") or "0")})
    return out


def _cmi(scored: pa.Table, years: list[int], score_base: Decimal) -> dict[tuple[str, str], Decimal]:
    t = scored.filter(pc.is_in(scored["settle_year"], pa.array(years, pa.int32())))
    g = t.group_by(["scheme", "institution_id"]).aggregate([("score", "sum"), ("score", "count")])
    out = {}
    for s, i, total, n in zip(g["scheme"].to_pylist(), g["institution_id"].to_pylist(), g["score_sum"].to_pylist(),
                              g["score_count"].to_pylist()):
        if n:
            out[(s, i)] = (Decimal(total) / n / score_base).quantize(Q4, rounding=ROUND_HALF_UP)
    return out


def decompose(rows: list[dict], scored: pa.Table, year: int, params: Mapping, issued_on: dt.date | None) -> list[dict]:
    """The overrun rows (B > T, overrun rate ≥ the parameter) with their three parts and the notice."""
    base_years = [year - 3, year - 2, year - 1]
    score_base = params["rectification.score_base"]
    cmi0, cmi1 = _cmi(scored, base_years, score_base), _cmi(scored, [year], score_base)
    out = []
    for r in rows:
        t, b = r["target"], r["booked"]
        if b <= t or t <= 0:
            continue
        rate = ((b - t) / t).quantize(Q4, rounding=ROUND_HALF_UP)
        if rate < params["rectification.min_overrun_rate"]:
            continue
        scheme = r["pot"].split(".")[0]
        n0, n1 = r["cases_base"], Decimal(r["cases"])
        c0 = t / n0 if n0 > 0 else None
        k0, k1 = cmi0.get((scheme, r["institution_id"])), cmi1.get((scheme, r["institution_id"]))
        over = b - t
        if c0 is None:
            volume = case_mix = None
            cost = None
        else:
            volume = _r2((n1 - n0) * c0)
            case_mix = _r2(n1 * c0 * (k1 / k0 - 1)) if k0 and k1 else Decimal("0.00")
            cost = over - volume - case_mix  # the rest: the three add up to the overrun exactly
        parts = {"volume": volume, "case_mix": case_mix, "cost": cost}
        known = {k: v for k, v in parts.items() if v is not None}
        driver = max(known, key=lambda k: (known[k], k)) if known else None
        who = f"{r['name']}（{r['institution_id']}）{SCHEME_ZH.get(scheme, scheme)}住院 "
        if driver is None:
            opinion = (f"{who}{year} 年超出年度指标 {over} 元（超支率 {rate:.2%}）；没有指标测算所依据的历史人次，"
                       "无法分解原因，请机构报送原因分析与整改措施")
        else:
            opinion = (f"{who}{year} 年超出年度指标 {over} 元（超支率 {rate:.2%}），其中人次增加 {volume} 元、"
                       f"病例组合（CMI）变化 {case_mix} 元、同病例组合的例均费用上升 {cost} 元；主要原因：{PARTS_ZH[driver]}。"
                       f"请于 {params['rectification.response_days']} 日内报送原因分析和整改措施")
        out.append({
            **{k: r[k] for k in ("pot", "institution_id", "name", "target", "booked", "cases_base", "cases")},
            "overrun": over, "overrun_rate": rate,
            "cost_per_case_base": _r2(c0) if c0 is not None else None,
            "cost_per_case": _r2(b / n1) if n1 else None, "cmi_base": k0, "cmi": k1,
            "volume_effect": volume, "case_mix_effect": case_mix, "cost_effect": cost,
            "main_driver": PARTS_ZH.get(driver, ""), "opinion": opinion,
            "issued_on": issued_on, "response": None,
            "response_due": issued_on + dt.timedelta(days=params["rectification.response_days"]) if issued_on else None,
            "follow_up_on": issued_on + dt.timedelta(days=params["rectification.follow_up_days"]) if issued_on else None,
        })
    return sorted(out, key=lambda x: (x["pot"], -x["overrun"], x["institution_id"]))
