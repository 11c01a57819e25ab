"""The tables of the store of record (记录库), as SQLAlchemy Core metadata.

The migrations in ``migrations/versions`` create exactly these tables (they are written out by
hand there, so that a migration never changes when this module grows); a test compares the two.

Conventions, the same on SQLite and PostgreSQL:

- money is an integer number of fen (分) — ``*_fen`` columns, ``BIGINT`` — never a float;
- times are ISO 8601 UTC strings with microseconds (``2026-12-03T08:30:00.123456+00:00``): they
  sort as text and hash identically on both databases (the audit chain hashes them);
- dates are ``YYYY-MM-DD`` strings.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, MetaData, String, Table, Text, UniqueConstraint

metadata = MetaData()

settings = Table(
    "store_settings", metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

users = Table(
    "users", metadata,
    Column("user_id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("institution_id", String(32)),
    Column("password_hash", Text, nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("disabled", Integer, nullable=False, server_default="0"),
)

# Failed logins per name tried (known or not: an unknown name is limited like a known one, so that the
# answer never tells which names exist).
login_attempts = Table(
    "login_attempts", metadata,
    Column("username", String(64), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("first_failure_at", String(40)),
    Column("locked_until", String(40)),
)

audit_log = Table(
    "audit_log", metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False),
    Column("at", String(40), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("role", String(16), nullable=False),
    Column("action", String(64), nullable=False),
    Column("object", Text, nullable=False),
    Column("client", String(64), nullable=False),
    Column("detail", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

review_runs = Table(
    "review_runs", metadata,
    Column("run_id", Integer, primary_key=True, autoincrement=True),
    Column("started_at", String(40), nullable=False),
    Column("recorded_at", String(40), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("workspace", Text, nullable=False),
    Column("rules_digest", String(64), nullable=False),
    Column("cases", BigInteger, nullable=False),
    Column("findings", BigInteger, nullable=False),
)

findings = Table(
    "findings", metadata,
    Column("finding_id", String(24), primary_key=True),
    Column("case_id", String(64), nullable=False),
    Column("line_no", Integer),
    Column("rule_id", String(32), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("message", Text, nullable=False),
    Column("institution_id", String(32)),
    Column("settle_date", String(10)),
    Column("settle_year", Integer),
    Column("status", String(16), nullable=False),
    Column("first_run_id", Integer, ForeignKey("review_runs.run_id"), nullable=False),
    Column("last_run_id", Integer, ForeignKey("review_runs.run_id"), nullable=False),
    Column("published_at", String(40), nullable=False),
    Column("status_changed_at", String(40), nullable=False),
    Column("deadline", String(10)),          # the appeal deadline (申诉期限, a date in China), migration 0001
    Column("version", Integer, nullable=False, server_default="1"),
    # migration 0002 (issue 16, the findings workflow):
    Column("setting", String(16)),           # inpatient / outpatient (the case's)
    Column("dept_code", String(32)),         # the case's department
    Column("staff_id", String(32)),          # the line's staff, else the case's attending doctor
    Column("investigation_deadline", String(10)),  # 调查核实期限, while status is investigation
    Index("ix_findings_run_institution", "last_run_id", "institution_id"),
    Index("ix_findings_institution_year", "institution_id", "settle_year"),
    Index("ix_findings_status_deadline", "status", "deadline"),
)

finding_transitions = Table(
    "finding_transitions", metadata,
    Column("transition_id", Integer, primary_key=True, autoincrement=True),
    Column("finding_id", String(24), ForeignKey("findings.finding_id"), nullable=False),
    Column("at", String(40), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("role", String(16), nullable=False),
    Column("from_status", String(16), nullable=False),
    Column("to_status", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    UniqueConstraint("finding_id", "at", "to_status", name="uq_transition"),
)

# 超总额整改 (人社部发〔2012〕70号 三(五)): the agency's notice to an institution over its target, its answer and the
# follow-up (yibao.store.rectification). One row per year × pot × institution.
rectifications = Table(
    "rectifications", metadata,
    Column("rect_id", String(24), primary_key=True),
    Column("year", Integer, nullable=False),
    Column("pot", String(32), nullable=False),
    Column("institution_id", String(32), nullable=False),
    Column("institution_name", String(200), nullable=False),
    Column("overrun_fen", BigInteger, nullable=False),
    Column("volume_fen", BigInteger),
    Column("case_mix_fen", BigInteger),
    Column("cost_fen", BigInteger),
    Column("opinion", Text, nullable=False),
    Column("issued_on", String(10), nullable=False),
    Column("response_due", String(10), nullable=False),
    Column("follow_up_on", String(10), nullable=False),
    Column("status", String(16), nullable=False),
    Column("issued_by", String(128), nullable=False),
    Column("issued_at", String(40), nullable=False),
    Column("response", Text),
    Column("responded_by", String(128)),
    Column("responded_at", String(40)),
    Column("result", String(16)),
    Column("follow_up_note", Text),
    Column("followed_up_by", String(128)),
    Column("followed_up_at", String(40)),
    UniqueConstraint("year", "pot", "institution_id", name="uq_rectification"),
    Index("ix_rectifications_institution", "institution_id", "year"),
)
