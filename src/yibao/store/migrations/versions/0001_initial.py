"""The store of record, first version: users, login attempts, the audit log (append-only by
triggers), review runs, findings and their transitions.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_BIGINT = sa.BigInteger().with_variant(sa.Integer, "sqlite")

SQLITE_TRIGGERS = [
    """CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
       BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused'); END""",
    """CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
       BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: DELETE refused'); END""",
]
PG_TRIGGERS = [
    """CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP; END $$""",
    """CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log
       FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()""",
    """CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
       FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()""",
]


def upgrade() -> None:
    op.create_table(
        "store_settings",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "users",
        sa.Column("user_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("institution_id", sa.String(32)),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("disabled", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_table(
        "login_attempts",
        sa.Column("username", sa.String(64), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("first_failure_at", sa.String(40)),
        sa.Column("locked_until", sa.String(40)),
    )
    op.create_table(
        "audit_log",
        sa.Column("seq", _BIGINT, primary_key=True, autoincrement=False),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("object", sa.Text, nullable=False),
        sa.Column("client", sa.String(64), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_table(
        "review_runs",
        sa.Column("run_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("started_at", sa.String(40), nullable=False),
        sa.Column("recorded_at", sa.String(40), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("workspace", sa.Text, nullable=False),
        sa.Column("rules_digest", sa.String(64), nullable=False),
        sa.Column("cases", sa.BigInteger, nullable=False),
        sa.Column("findings", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "findings",
        sa.Column("finding_id", sa.String(24), primary_key=True),
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("line_no", sa.Integer),
        sa.Column("rule_id", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("amount_fen", sa.BigInteger, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("institution_id", sa.String(32)),
        sa.Column("settle_date", sa.String(10)),
        sa.Column("settle_year", sa.Integer),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("first_run_id", sa.Integer, sa.ForeignKey("review_runs.run_id"), nullable=False),
        sa.Column("last_run_id", sa.Integer, sa.ForeignKey("review_runs.run_id"), nullable=False),
        sa.Column("published_at", sa.String(40), nullable=False),
        sa.Column("status_changed_at", sa.String(40), nullable=False),
        sa.Column("deadline", sa.String(10)),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    )
    op.create_index("ix_findings_run_institution", "findings", ["last_run_id", "institution_id"])
    op.create_index("ix_findings_institution_year", "findings", ["institution_id", "settle_year"])
    op.create_table(
        "finding_transitions",
        sa.Column("transition_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("finding_id", sa.String(24), sa.ForeignKey("findings.finding_id"), nullable=False),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("from_status", sa.String(16), nullable=False),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.UniqueConstraint("finding_id", "at", "to_status", name="uq_transition"),
    )
    triggers = PG_TRIGGERS if op.get_bind().dialect.name == "postgresql" else SQLITE_TRIGGERS
    for ddl in triggers:
        op.execute(ddl)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update_delete ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    for t in ("finding_transitions", "findings", "review_runs", "audit_log", "login_attempts", "users",
              "store_settings"):
        op.drop_table(t)
