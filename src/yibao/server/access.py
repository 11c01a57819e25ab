"""Who may do what (权限): one table per endpoint, read by the routes and by the role-matrix test.

A hospital user is further limited to its own institution: another institution's case, finding
or deductions answer 404 (never 403, which would say that it exists).
"""

from __future__ import annotations

from yibao.store import rectification as rect
from yibao.store.findings import BY_ACTION
from yibao.store.users import ROLES

ALL = frozenset(ROLES)

ENDPOINT_ROLES: dict[str, frozenset[str]] = {
    "cases.read": ALL,
    "audit.read": frozenset({"admin", "auditor"}),
    "findings.list": ALL,
    "findings.appeal": BY_ACTION["appeal"].roles,
    "findings.decision": BY_ACTION["uphold"].roles | BY_ACTION["overturn"].roles,
    "findings.finalize": BY_ACTION["finalize"].roles,
    "findings.investigate": BY_ACTION["investigate"].roles,
    "findings.decisions": BY_ACTION["uphold"].roles & BY_ACTION["overturn"].roles,  # bulk decisions
    "deductions.read": ALL,
    "rectifications.list": ALL,
    "rectifications.respond": rect.BY_ACTION["respond"].roles,
    "rectifications.follow_up": rect.BY_ACTION["follow_up"].roles,
}

# Roles that see personal information masked (身份证号, 姓名) in every answer.
MASKED_ROLES = frozenset({"auditor"})
