"""Out-of-area care (异地就医) over a loaded workspace: filings, direct settlement, manual claims, inbound selection,
monthly clearing and the budget's out-of-area figures. Set-based SQL throughout.

Who is where (the pooling region's code ``region``, e.g. ``440200``; a code lies in it by prefix, see
:func:`in_region_sql`):

- **outbound direct settlement** (异地就医直接结算, our insured treated elsewhere): a case whose person is insured
  here and whose institution lies elsewhere; needs a filing (备案) for the place of care valid on the admission
  date, an emergency (急诊抢救) excepted when the policy says so;
- **inbound** (外地参保人员在本地就医): a case at one of our institutions whose person is insured elsewhere
  (参保地 ≠ ours); kept out of or in the local budget and DIP/DRG settlement by ``out_of_area.inbound_in_local``;
- **manual claims** (零星报销): ``claims`` rows, checked (deadline, documents, filing) and the approved ones computed
  by the benefit calculator the caller hands in (``calculate``) together with the person's cases of the year.

The benefit calculator belongs to another capability: the caller (the CLI) passes it as ``calculate(ws,
extra_base, year) -> Arrow table`` with the calculator's result columns (``row_id``, ``row_kind``,
``fund_computed``, ``self_pay_computed``, ``excluded_computed``, ``arithmetic`` for ``claim`` rows …).
"""

from __future__ import annotations

import csv
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pyarrow as pa

from yibao.contract.errors import MissingData, ProblemReported
from yibao.contract.params import Values
from yibao.contract.vocab import MONEY_SQL, sql_str
from yibao.engine.csvfile import csv_bytes
from yibao.engine.runner import query_arrow
from yibao.engine.workspace import Workspace
from yibao.outarea.policy import DOCUMENT_ZH
from yibao.settle.inbound import CaseSelection, in_region_sql, kept_cases_sql

Calculate = Callable[[Workspace, str | None, int], pa.Table]

FINDINGS_COLUMNS = ("case_id", "line_no", "rule_id", "severity", "amount", "message")
CLAIMS_BASE = "_oa_claims_base"


def dest_match_sql(place: str, dest: str) -> str:
    """SQL: the place of care ``place`` lies in a filing's destination ``dest`` (both expressions)."""
    return (f"(CASE WHEN right({dest}, 4) = '0000' THEN left({place}, 2) = left({dest}, 2) "
            f"WHEN right({dest}, 2) = '00' THEN left({place}, 4) = left({dest}, 4) ELSE {place} = {dest} END)")


def city_sql(code: str) -> str:
    """The counterpart pooling region of a code for clearing: its city (first 4 digits + ``00``)."""
    return f"(left({code}, 4) || '00')"


def _filing_status(person: str, place: str, day: str, key: str, rel: str) -> str:
    """Per ``key`` of ``rel``: the best filing for (person, place of care) — one valid on ``day`` first, then the
    latest — and whether any is valid."""
    cond = f"(x.{day} >= f.valid_from AND (f.valid_to IS NULL OR x.{day} <= f.valid_to))"
    return f"""
        SELECT {key}, arg_max(filing_id, score) AS filing_id, bool_or(valid) AS any_valid,
               arg_max(period, score) AS period
        FROM (SELECT x.{key}, f.filing_id, {cond} AS valid,
                     CASE WHEN {cond} THEN 100000000 ELSE 0 END + date_diff('day', DATE '1900-01-01', f.valid_from)
                         AS score,
                     f.valid_from::VARCHAR || ' 至 ' || coalesce(f.valid_to::VARCHAR, '长期') AS period
              FROM {rel} x JOIN filings f ON f.person_id = x.{person}
                                         AND {dest_match_sql(f'x.{place}', 'f.destination_region')})
        GROUP BY {key}"""


@dataclass
class Result:
    year: int
    region: str
    outbound: int = 0
    outbound_findings: int = 0
    inbound: int = 0
    inbound_in_local: bool = False
    filings: int = 0
    claims: dict = field(default_factory=dict)
    months: list = field(default_factory=list)
    files: list = field(default_factory=list)


def outbound_sql(region: str, year: int, exempt: bool) -> str:
    """Outbound direct-settlement cases of ``year`` with their filing status (valid / expired / missing /
    emergency_exempt)."""
    rel = f"""(SELECT c.case_id, c.person_id, c.institution_id, i.region_code AS place_region, c.scheme, c.setting,
                     c.admit_date, c.discharge_date, c.settle_date, coalesce(c.emergency, false) AS emergency,
                     c.total_cost, c.fund_paid
              FROM cases c JOIN institutions i ON i.institution_id = c.institution_id
                           JOIN insured p ON p.person_id = c.person_id
              WHERE NOT ({in_region_sql('i.region_code', region)}) AND {in_region_sql('p.region_code', region)}
                AND c.settle_date >= DATE '{year}-01-01' AND c.settle_date < DATE '{year + 1}-01-01')"""
    fs = _filing_status("person_id", "place_region", "admit_date", "case_id", rel)
    return f"""
    WITH o AS {rel}, s AS ({fs})
    SELECT o.*, s.filing_id, s.period AS filing_period,
           CASE WHEN s.any_valid THEN 'valid'
                WHEN o.emergency AND {str(exempt).lower()} THEN 'emergency_exempt'
                WHEN s.case_id IS NOT NULL THEN 'expired' ELSE 'missing' END AS filing_status
    FROM o LEFT JOIN s ON s.case_id = o.case_id
    ORDER BY o.case_id"""


def outbound_findings_sql(rel: str) -> str:
    return f"""
    SELECT case_id, CAST(NULL AS INTEGER) AS line_no,
           CASE filing_status WHEN 'missing' THEN 'O01' ELSE 'O02' END AS rule_id, 'warn' AS severity,
           fund_paid::{MONEY_SQL} AS amount,
           CASE filing_status
             WHEN 'missing' THEN '异地就医未备案：参保人在 ' || place_region || ' 的定点机构 ' || institution_id
                  || ' 直接结算（入院 ' || admit_date || '，统筹基金支付 ' || fund_paid
                  || ' 元），没有覆盖该就医地的备案，且非急诊抢救'
             ELSE '异地就医备案不在有效期：备案 ' || filing_id || ' 有效期 ' || filing_period || '，不含入院日期 '
                  || admit_date || '（就医地 ' || place_region || '，统筹基金支付 ' || fund_paid || ' 元）' END AS message
    FROM {rel} WHERE filing_status IN ('missing', 'expired') ORDER BY case_id"""


def claims_check_sql(region: str, year: int, pol: Values) -> str:
    """Every claim submitted in ``year``: deadline, documents, filing; ``eligible`` and the refusal reasons."""
    months = pol["out_of_area.claim_deadline_months"]
    exempt = str(pol["out_of_area.emergency_exempt"]).lower()
    docs = pol["out_of_area.required_documents"]
    missing = ", ".join(f"CASE WHEN NOT coalesce(c.{d}, false) THEN {sql_str(DOCUMENT_ZH[d])} END" for d in docs)
    missing_expr = f"concat_ws('、', {missing})" if docs else "''"
    rel = f"""(SELECT c.*, p.scheme, p.region_code AS insured_region,
                     (c.discharge_date + INTERVAL {months} MONTH)::DATE AS deadline, {missing_expr} AS missing_docs
              FROM claims c LEFT JOIN insured p ON p.person_id = c.person_id
              WHERE c.submitted_on >= DATE '{year}-01-01' AND c.submitted_on < DATE '{year + 1}-01-01')"""
    fs = _filing_status("person_id", "institution_region", "admit_date", "claim_id", rel)
    return f"""
    WITH c AS {rel}, s AS ({fs}),
    k AS (
        SELECT c.*, s.filing_id, s.period AS filing_period,
               CASE WHEN s.any_valid THEN 'valid' WHEN coalesce(c.emergency, false) AND {exempt} THEN 'emergency_exempt'
                    WHEN s.claim_id IS NOT NULL THEN 'expired' ELSE 'missing' END AS filing_status
        FROM c LEFT JOIN s ON s.claim_id = c.claim_id),
    r AS (
        SELECT k.*, concat_ws('；',
            CASE WHEN insured_region IS NULL OR NOT ({in_region_sql('insured_region', region)})
                 THEN '非本统筹区参保人员（参保地 ' || coalesce(insured_region, '未知') || '）' END,
            CASE WHEN submitted_on > deadline THEN '超过申报期限：出院日期 ' || discharge_date || '，应于 ' || deadline
                 || ' 前申报（出院之日起 {months} 个月内），实际申报日期 ' || submitted_on END,
            CASE WHEN missing_docs <> '' THEN '资料不全，缺少：' || missing_docs END,
            CASE WHEN filing_status = 'missing' THEN '没有覆盖就医地 ' || institution_region || ' 的异地就医备案'
                 WHEN filing_status = 'expired' THEN '异地就医备案 ' || filing_id || ' 有效期 ' || filing_period
                      || '，不含入院日期 ' || admit_date END) AS reasons
        FROM k)
    SELECT r.*, reasons = '' AS eligible FROM r ORDER BY claim_id"""


def claims_base_sql(checked: str) -> str:
    """The approved-so-far claims as a cost base for the calculator (its BASE_COLUMNS; ``row_kind`` ``claim``,
    ordered in the person's year by ``submitted_on``, priced by the place of care's catalogue as the claim states)."""
    return f"""
    SELECT claim_id AS row_id, 'claim' AS row_kind, person_id, scheme, setting, principal_dx, institution_level AS level,
           submitted_on AS order_date, total_cost,
           (total_cost - class_b_amount - class_c_amount)::{MONEY_SQL} AS class_a, class_b_amount AS class_b,
           class_b_self_pay, class_c_amount AS class_c, CAST(0 AS {MONEY_SQL}) AS unlisted,
           CAST(NULL AS {MONEY_SQL}) AS booked_fund, institution_region AS catalogue_region, insured_region
    FROM {checked} WHERE eligible"""


def clearing_sql(region: str, year: int) -> str:
    """Per month (of ``settle_date``) and counterpart region: inbound (their insured here: we advanced, they owe us)
    and outbound direct settlement (our insured there: we owe them), and the net."""
    return f"""
    WITH c AS (
        SELECT strftime(c.settle_date, '%Y-%m') AS month, c.fund_paid,
               {in_region_sql('i.region_code', region)} AS inst_here, {in_region_sql('p.region_code', region)} AS ins_here,
               {city_sql('p.region_code')} AS insured_city, {city_sql('i.region_code')} AS place_city
        FROM cases c JOIN institutions i ON i.institution_id = c.institution_id
                     JOIN insured p ON p.person_id = c.person_id
        WHERE c.settle_date >= DATE '{year}-01-01' AND c.settle_date < DATE '{year + 1}-01-01'),
    inb AS (SELECT month, insured_city AS region, count(*) AS n, sum(fund_paid) AS amt FROM c
            WHERE inst_here AND NOT ins_here GROUP BY ALL),
    outb AS (SELECT month, place_city AS region, count(*) AS n, sum(fund_paid) AS amt FROM c
             WHERE NOT inst_here AND ins_here GROUP BY ALL)
    SELECT month, region, coalesce(inb.n, 0) AS inbound_cases,
           coalesce(inb.amt, 0)::{MONEY_SQL} AS advanced_by_us, coalesce(inb.amt, 0)::{MONEY_SQL} AS they_owe_us,
           coalesce(outb.n, 0) AS outbound_cases, coalesce(outb.amt, 0)::{MONEY_SQL} AS we_owe_them,
           (coalesce(inb.amt, 0) - coalesce(outb.amt, 0))::{MONEY_SQL} AS net_due_to_us
    FROM inb FULL JOIN outb USING (month, region)
    ORDER BY month, region"""


def inbound_sql(region: str, year: int, in_local: bool) -> str:
    """Inbound cases (参保地 ≠ ours) at our institutions and whether the local budget and DIP/DRG settlement keep
    them (``in_local_settlement``): the selection the budget and DIP/DRG are to apply."""
    return f"""
    SELECT c.case_id, c.person_id, p.region_code AS insured_region, c.institution_id, c.setting, c.settle_date,
           c.fund_paid, {str(in_local).lower()} AS in_local_settlement
    FROM cases c JOIN institutions i ON i.institution_id = c.institution_id JOIN insured p ON p.person_id = c.person_id
    WHERE {in_region_sql('i.region_code', region)} AND NOT ({in_region_sql('p.region_code', region)})
      AND c.settle_date >= DATE '{year}-01-01' AND c.settle_date < DATE '{year + 1}-01-01'
    ORDER BY c.case_id"""


def local_settlement_cases_sql(region: str, in_local: bool) -> str:
    """SQL of the case ids the local budget and DIP/DRG settle: every case at our institutions, less the inbound
    ones unless the policy keeps them (``out_of_area.inbound_in_local``) — the selection of
    :mod:`yibao.settle.inbound`, which the budget and DIP/DRG apply (a budget policy with ``[benefit] region_code``)."""
    return kept_cases_sql(CaseSelection(region, in_local))


def _write_csv(path: Path, rows: list[list]) -> None:
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)


@dataclass
class Analysis:
    """The out-of-area tables of a year (what ``run`` writes and the pages show)."""

    result: Result
    outbound: pa.Table
    findings: pa.Table
    claims: pa.Table
    inbound: pa.Table
    clearing: pa.Table
    statements: dict  # month → list of rows (dicts) with a last row 合计 (region "合计")


def analyse(workspace: Path, pol: Values, region: str, year: int, calculate: Calculate) -> Analysis:
    """Outbound direct settlement with its filing status, the checked and computed claims, the inbound cases and
    the monthly clearing statements (each checked to balance against the month's cases; else ProblemReported)."""
    res = Result(year, region, inbound_in_local=pol["out_of_area.inbound_in_local"])
    with Workspace(workspace, read_only=True) as ws:
        con = ws.con
        if con.execute("SELECT count(*) FROM cases").fetchall()[0][0] == 0:
            raise MissingData(f"{workspace}: 工作区没有结算清单（cases），先运行 yibao load")
        res.filings = con.execute("SELECT count(*) FROM filings").fetchall()[0][0]
        outbound = query_arrow(con, outbound_sql(region, year, pol["out_of_area.emergency_exempt"]))
        con.register("_oa_out", outbound)
        found = query_arrow(con, outbound_findings_sql("_oa_out"))
        con.unregister("_oa_out")
        checked = query_arrow(con, claims_check_sql(region, year, pol))
        con.register("_oa_checked", checked)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {CLAIMS_BASE} AS {claims_base_sql('_oa_checked')}")
        con.unregister("_oa_checked")
        computed = calculate(ws, CLAIMS_BASE, year)
        con.register("_oa_checked", checked)
        con.register("_oa_computed", computed)
        claims = query_arrow(con, f"""
            SELECT k.claim_id, k.person_id, k.institution_name, k.institution_region, k.admit_date, k.discharge_date,
                   k.submitted_on, k.total_cost, k.filing_id, k.filing_status,
                   CASE WHEN k.eligible THEN 'approved' ELSE 'refused' END AS decision,
                   CASE WHEN k.eligible THEN '予以报销' ELSE '不予报销：' || k.reasons END AS reason,
                   CASE WHEN k.eligible THEN r.fund_computed ELSE 0 END::{MONEY_SQL} AS fund_reimbursed,
                   CASE WHEN k.eligible THEN r.self_pay_computed + r.excluded_computed ELSE k.total_cost END::{MONEY_SQL}
                       AS paid_by_person,
                   CASE WHEN k.eligible THEN r.arithmetic END AS computation
            FROM _oa_checked k LEFT JOIN _oa_computed r ON r.row_kind = 'claim' AND r.row_id = k.claim_id
            ORDER BY k.claim_id""")
        con.unregister("_oa_checked")
        con.unregister("_oa_computed")
        inbound = query_arrow(con, inbound_sql(region, year, res.inbound_in_local))
        clearing = query_arrow(con, clearing_sql(region, year))
        # the balance, computed apart from the statement: Σ per region = the month's totals of the cases
        totals = {r[0]: (Decimal(r[1]), Decimal(r[2])) for r in con.execute(f"""
            SELECT strftime(c.settle_date, '%Y-%m'),
                   coalesce(sum(c.fund_paid) FILTER (WHERE {in_region_sql('i.region_code', region)}
                                                     AND NOT ({in_region_sql('p.region_code', region)})), 0),
                   coalesce(sum(c.fund_paid) FILTER (WHERE NOT ({in_region_sql('i.region_code', region)})
                                                     AND {in_region_sql('p.region_code', region)}), 0)
            FROM cases c JOIN institutions i ON i.institution_id = c.institution_id
                         JOIN insured p ON p.person_id = c.person_id
            WHERE c.settle_date >= DATE '{year}-01-01' AND c.settle_date < DATE '{year + 1}-01-01'
            GROUP BY 1""").fetchall()}
    statements = {}
    rows = clearing.to_pylist()
    for month in sorted({r["month"] for r in rows}):
        mr = [r for r in rows if r["month"] == month]
        s_in = sum((r["they_owe_us"] for r in mr), Decimal(0))
        s_out = sum((r["we_owe_them"] for r in mr), Decimal(0))
        s_net = sum((r["net_due_to_us"] for r in mr), Decimal(0))
        t_in, t_out = totals.get(month, (Decimal(0), Decimal(0)))
        if (s_in, s_out, s_net) != (t_in, t_out, t_in - t_out):
            raise ProblemReported(f"{month} 清算单不平：各地区合计 应收 {s_in} / 应付 {s_out} / 净额 {s_net}，"
                                  f"按病例合计 应收 {t_in} / 应付 {t_out}")
        statements[month] = mr + [{"month": month, "region": "合计", "inbound_cases": sum(r["inbound_cases"] for r in mr),
                                   "advanced_by_us": s_in, "they_owe_us": s_in,
                                   "outbound_cases": sum(r["outbound_cases"] for r in mr), "we_owe_them": s_out,
                                   "net_due_to_us": s_net}]
        res.months.append((month, len(mr), s_in, s_out, s_net))
    res.outbound = outbound.num_rows
    res.outbound_findings = found.num_rows
    res.inbound = inbound.num_rows
    dec = claims.column("decision").to_pylist()
    res.claims = {"total": claims.num_rows, "approved": dec.count("approved"), "refused": dec.count("refused"),
                  "rows": claims.select(["claim_id", "decision", "reason", "fund_reimbursed"]).to_pylist()}
    return Analysis(res, outbound, found, claims, inbound, clearing, statements)


STATEMENT_HEADER = ["清算月份", "对方统筹区", "外地参保人员在本地就医人次", "本地垫付金额", "对方应付本地",
                    "本地参保人员异地直接结算人次", "本地应付对方", "净额（正数为对方应付本地）"]
STATEMENT_KEYS = ["month", "region", "inbound_cases", "advanced_by_us", "they_owe_us", "outbound_cases", "we_owe_them",
                  "net_due_to_us"]


def run(workspace: Path, out_dir: Path, pol: Values, region: str, year: int, calculate: Calculate) -> Result:
    """Write ``outbound.csv``, ``claims.csv``, ``inbound.csv``, ``findings.csv``, ``clearing.csv`` and
    ``clearing/{YYYY-MM}.csv`` (one statement per month) into ``out_dir``."""
    out_dir = Path(out_dir)
    an = analyse(workspace, pol, region, year, calculate)
    res = an.result
    (out_dir / "outbound.csv").write_bytes(csv_bytes(an.outbound))
    (out_dir / "findings.csv").write_bytes(csv_bytes(an.findings, list(FINDINGS_COLUMNS)))
    (out_dir / "claims.csv").write_bytes(csv_bytes(an.claims))
    (out_dir / "inbound.csv").write_bytes(csv_bytes(an.inbound))
    (out_dir / "clearing.csv").write_bytes(csv_bytes(an.clearing))
    res.files = ["outbound.csv", "findings.csv", "claims.csv", "inbound.csv", "clearing.csv"]
    (out_dir / "clearing").mkdir(exist_ok=True)
    for month, mr in an.statements.items():
        _write_csv(out_dir / "clearing" / f"{month}.csv", [STATEMENT_HEADER] + [[r[k] for k in STATEMENT_KEYS] for r in mr])
    if res.months:
        res.files.append("clearing/")
    return res


def budget_figures(workspace: Path, pol: Values, region: str, year: int, calculate: Calculate) -> dict:
    """``out_of_area_realtime`` (Σ fund_paid of our insured's direct settlement elsewhere, settled in ``year``) and
    ``out_of_area_manual`` (Σ the computed payment of the claims of ``year`` that pass the checks), per scheme."""
    with Workspace(workspace, read_only=True) as ws:
        con = ws.con
        rt = dict(con.execute(f"""
            SELECT c.scheme, sum(c.fund_paid)::{MONEY_SQL} FROM cases c
            JOIN institutions i ON i.institution_id = c.institution_id JOIN insured p ON p.person_id = c.person_id
            WHERE NOT ({in_region_sql('i.region_code', region)}) AND {in_region_sql('p.region_code', region)}
              AND c.settle_date >= DATE '{year}-01-01' AND c.settle_date < DATE '{year + 1}-01-01'
            GROUP BY 1""").fetchall())
        checked = query_arrow(con, claims_check_sql(region, year, pol))
        con.register("_oa_checked", checked)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {CLAIMS_BASE} AS {claims_base_sql('_oa_checked')}")
        con.unregister("_oa_checked")
        computed = calculate(ws, CLAIMS_BASE, year)
        con.register("_oa_computed", computed)
        manual = dict(con.execute(f"""SELECT scheme, sum(fund_computed)::{MONEY_SQL} FROM _oa_computed
                                     WHERE row_kind = 'claim' GROUP BY 1""").fetchall())
        con.unregister("_oa_computed")
    zero = Decimal("0.00")
    return {s: {"out_of_area_realtime": rt.get(s, zero), "out_of_area_manual": manual.get(s, zero)}
            for s in ("employee", "resident")}


def write_figures(text: str, figures: dict, year: int) -> tuple[str, list[str]]:
    """The budget policy ``text`` with the figures filled in where the file types no value (the typed value wins):
    inserted under ``[fund.SCHEME]`` (the table added when missing). Returns (new text, one Chinese note per key)."""
    data = tomllib.loads(text)
    lines = text.splitlines()
    notes = []
    for scheme, vals in figures.items():
        have = data.get("fund", {}).get(scheme, {})
        add = []
        for key, v in vals.items():
            if key in have:
                notes.append(f"[fund.{scheme}] {key} 已在政策文件中给出（{have[key]}），保留输入值；按 {year} 年数据推算为 {v}")
            else:
                add.append(f'{key} = "{v}"  # 由 yibao outarea budget-figures 按 {year} 年数据推算')
                notes.append(f"[fund.{scheme}] {key} = {v}（按 {year} 年数据推算，已写入）")
        if not add:
            continue
        header = next((i for i, ln in enumerate(lines) if ln.strip().split("#")[0].strip() == f"[fund.{scheme}]"), None)
        if header is None:
            lines += ["", f"[fund.{scheme}]", *add]
        else:
            lines[header + 1:header + 1] = add
    return "\n".join(lines) + "\n", notes
