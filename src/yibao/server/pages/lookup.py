"""What the pages read besides the store: names from the workspace, the rules' names and basis, working days."""

from __future__ import annotations

import datetime as dt
from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache

import duckdb

from yibao.contract.privacy import mask_id_number, mask_name
from yibao.review.ruleset import load_rules
from yibao.server.access import MASKED_ROLES
from yibao.server.cases import WorkspaceReader
from yibao.store.workdays import china_today, load_calendar

FEE_CATEGORY_ZH = {"bed": "床位费", "exam": "检查费", "lab": "化验费", "treatment": "治疗费", "surgery": "手术费",
                   "nursing": "护理费", "material": "卫生材料费", "western_drug": "西药费", "patent_drug": "中成药费",
                   "herbal": "中药饮片费", "general_care": "一般诊疗费", "registration": "挂号费", "other": "其他费"}
ITEM_KIND_ZH = {"drug": "药品", "service": "诊疗项目", "material": "医用耗材", "facility": "服务设施"}
SEVERITY_ZH = {"reject": "拒付", "warn": "提示"}


@lru_cache(maxsize=1)
def rules() -> dict[str, dict]:
    """rule_id → {name, category, basis, severity} of the built-in rule set (the one ``yibao review`` uses
    without ``--rules``)."""
    return {r.id: {"name": r.name, "category": r.category, "basis": r.basis, "severity": r.severity}
            for r in load_rules(None).rules}


def today(settings) -> date:
    return settings.today() if getattr(settings, "today", None) else china_today()


def working_days_left(day: date, deadline: str | None) -> int | None:
    """Working days from ``day`` (not counted) to ``deadline`` (counted): 0 on the deadline day itself,
    negative when it has passed (minus the working days since)."""
    if not deadline:
        return None
    end = date.fromisoformat(deadline)
    cal = load_calendar()
    if end == day:
        return 0
    step, n, d = (1, 0, day) if end > day else (-1, 0, day)
    while d != end:
        d += timedelta(days=step)
        if cal.is_working_day(d):
            n += 1
    return n if step > 0 else -n


def deadline_text(day: date, deadline: str | None) -> str:
    n = working_days_left(day, deadline)
    if n is None:
        return ""
    if n > 0:
        return f"{deadline}（剩 {n} 个工作日）"
    if n == 0 and deadline == day.isoformat():
        return f"{deadline}（今天截止）"
    return f"{deadline}（已过期）"


def cell(v):
    """A value as the pages show it: money ``12.30``, dates ``YYYY-MM-DD``, lists ``a|b``."""
    if isinstance(v, Decimal):
        return f"{v:.2f}" if v == v.quantize(Decimal("0.01")) else f"{v.normalize()}"
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    if isinstance(v, list):
        return "|".join(str(x) for x in v)
    return v


def query(reader: WorkspaceReader, sql: str, params: list | None = None) -> list[dict]:
    """Rows of the workspace as dicts in the contract's text form (empty without a workspace or table)."""
    with reader.cursor() as cur:
        if cur is None:
            return []
        try:
            res = cur.execute(sql, params or [])
        except duckdb.CatalogException:
            return []
        cols = [d[0] for d in res.description]
        return [{c: cell(v) for c, v in zip(cols, row)} for row in res.fetchall()]


def names(reader: WorkspaceReader, table: str, key: str, ids) -> dict[str, str]:
    ids = sorted({i for i in ids if i})
    if not ids or table not in ("institutions", "staff"):
        return {}
    marks = ", ".join("?" for _ in ids)
    return {r[key]: r["name"] for r in query(reader, f"SELECT {key}, name FROM {table} WHERE {key} IN ({marks})", ids)}


def institutions(reader: WorkspaceReader) -> list[dict]:
    return query(reader, "SELECT institution_id, name FROM institutions ORDER BY institution_id")


def masked(role: str) -> bool:
    return role in MASKED_ROLES


def person(role: str, name: str | None, id_number: str | None) -> tuple[str, str]:
    if masked(role):
        return mask_name(name or ""), mask_id_number(id_number or "")
    return name or "", id_number or ""
