"""Settlement periods of record (issue 15 §2): periods with versions and four eyes, their statements,
and the locks of an issued period (triggers).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_LOCKED = "('issued', 'superseded')"

SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER settlement_statements_no_delete BEFORE DELETE ON settlement_statements
        WHEN (SELECT status FROM settlement_periods WHERE period_id = OLD.period_id) IN {_LOCKED}
        BEGIN SELECT RAISE(ABORT, 'statement of an issued period: DELETE refused'); END""",
    """CREATE TRIGGER settlement_statements_no_update BEFORE UPDATE OF period_id, number, institution_id,
        gross_fen, deposit_fen, deductions_fen, amount_fen, items ON settlement_statements
        BEGIN SELECT RAISE(ABORT, 'statement amounts are never updated'); END""",
    f"""CREATE TRIGGER settlement_periods_locked BEFORE UPDATE ON settlement_periods
        WHEN OLD.status IN {_LOCKED} AND NOT (OLD.status = 'issued' AND NEW.status = 'superseded'
             AND NEW.total_fen = OLD.total_fen AND NEW.inputs = OLD.inputs AND NEW.summary = OLD.summary
             AND NEW.version = OLD.version AND NEW.cutoff = OLD.cutoff)
        BEGIN SELECT RAISE(ABORT, 'issued period is locked: UPDATE refused'); END""",
    f"""CREATE TRIGGER settlement_periods_no_delete BEFORE DELETE ON settlement_periods
        WHEN OLD.status IN {_LOCKED}
        BEGIN SELECT RAISE(ABORT, 'issued period is locked: DELETE refused'); END""",
]
PG_TRIGGERS = [
    f"""CREATE FUNCTION settlement_statements_locked() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP = 'DELETE' THEN
            IF (SELECT status FROM settlement_periods WHERE period_id = OLD.period_id) IN {_LOCKED} THEN
              RAISE EXCEPTION 'statement of an issued period: DELETE refused';
            END IF;
            RETURN OLD;
          END IF;
          IF (NEW.period_id, NEW.number, NEW.institution_id, NEW.gross_fen, NEW.deposit_fen, NEW.deductions_fen,
              NEW.amount_fen, NEW.items) IS DISTINCT FROM (OLD.period_id, OLD.number, OLD.institution_id,
              OLD.gross_fen, OLD.deposit_fen, OLD.deductions_fen, OLD.amount_fen, OLD.items) THEN
            RAISE EXCEPTION 'statement amounts are never updated';
          END IF;
          RETURN NEW;
        END $$""",
    """CREATE TRIGGER settlement_statements_lock BEFORE UPDATE OR DELETE ON settlement_statements
        FOR EACH ROW EXECUTE FUNCTION settlement_statements_locked()""",
    f"""CREATE FUNCTION settlement_periods_locked() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF OLD.status IN {_LOCKED} THEN
            IF TG_OP = 'DELETE' THEN
              RAISE EXCEPTION 'issued period is locked: DELETE refused';
            END IF;
            IF NOT (OLD.status = 'issued' AND NEW.status = 'superseded' AND NEW.total_fen = OLD.total_fen
                    AND NEW.inputs = OLD.inputs AND NEW.summary = OLD.summary AND NEW.version = OLD.version
                    AND NEW.cutoff = OLD.cutoff) THEN
              RAISE EXCEPTION 'issued period is locked: UPDATE refused';
            END IF;
          END IF;
          IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
          RETURN NEW;
        END $$""",
    """CREATE TRIGGER settlement_periods_lock BEFORE UPDATE OR DELETE ON settlement_periods
        FOR EACH ROW EXECUTE FUNCTION settlement_periods_locked()""",
]


def upgrade() -> None:
    op.create_table(
        "settlement_periods",
        sa.Column("period_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("pot", sa.String(32), nullable=False),
        sa.Column("scheme", sa.String(16), nullable=False),
        sa.Column("setting", sa.String(16), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("month", sa.Integer),
        sa.Column("period_key", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("replaces_id", sa.Integer, sa.ForeignKey("settlement_periods.period_id")),
        sa.Column("reason", sa.Text),
        sa.Column("cutoff", sa.String(10), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("prepared_by", sa.String(128), nullable=False),
        sa.Column("prepared_at", sa.String(40), nullable=False),
        sa.Column("checked_by", sa.String(128)),
        sa.Column("checked_at", sa.String(40)),
        sa.Column("issued_by", sa.String(128)),
        sa.Column("issued_at", sa.String(40)),
        sa.Column("issue_date", sa.String(10)),
        sa.Column("agency", sa.Text, nullable=False),
        sa.Column("total_fen", sa.BigInteger, nullable=False),
        sa.Column("inputs", sa.Text, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.UniqueConstraint("pot", "period_key", "version", name="uq_period_version"),
        sa.CheckConstraint("checked_by IS NULL OR checked_by <> prepared_by", name="ck_period_checker_not_preparer"),
        sa.CheckConstraint("issued_by IS NULL OR issued_by <> prepared_by", name="ck_period_issuer_not_preparer"),
        sa.CheckConstraint("status IN ('draft', 'checked', 'issued', 'superseded')", name="ck_period_status"),
    )
    op.create_index("ix_periods_pot_year", "settlement_periods", ["pot", "year"])
    op.create_table(
        "settlement_statements",
        sa.Column("statement_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("period_id", sa.Integer, sa.ForeignKey("settlement_periods.period_id"), nullable=False),
        sa.Column("number", sa.String(80), nullable=False),
        sa.Column("institution_id", sa.String(32), nullable=False),
        sa.Column("institution_name", sa.Text, nullable=False),
        sa.Column("units", sa.String(40), nullable=False),
        sa.Column("cases", sa.Integer, nullable=False),
        sa.Column("gross_fen", sa.BigInteger, nullable=False),
        sa.Column("deposit_fen", sa.BigInteger, nullable=False),
        sa.Column("deductions_fen", sa.BigInteger, nullable=False),
        sa.Column("amount_fen", sa.BigInteger, nullable=False),
        sa.Column("items", sa.Text, nullable=False),
        sa.Column("reply", sa.String(16)),
        sa.Column("reply_reason", sa.Text),
        sa.Column("replied_by", sa.String(128)),
        sa.Column("replied_at", sa.String(40)),
        sa.Column("reply_deadline", sa.String(10)),
        sa.UniqueConstraint("period_id", "institution_id", name="uq_statement_institution"),
    )
    op.create_index("ix_statements_institution", "settlement_statements", ["institution_id"])
    for ddl in PG_TRIGGERS if op.get_bind().dialect.name == "postgresql" else SQLITE_TRIGGERS:
        op.execute(ddl)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS settlement_periods_lock ON settlement_periods")
        op.execute("DROP TRIGGER IF EXISTS settlement_statements_lock ON settlement_statements")
        op.execute("DROP FUNCTION IF EXISTS settlement_periods_locked()")
        op.execute("DROP FUNCTION IF EXISTS settlement_statements_locked()")
    op.drop_table("settlement_statements")
    op.drop_table("settlement_periods")
