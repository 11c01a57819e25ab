"""Fraud leads (飞行检查线索) imported from ``yibao leads --out`` and the outcome of each (待核查 / 已检查 / 查实 /
未查实) with its history.

Revision ID: 0006
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lead_runs",
        sa.Column("run_id", sa.String(24), primary_key=True),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("leads", sa.Integer, nullable=False),
        sa.Column("imported_by", sa.String(128), nullable=False),
        sa.Column("imported_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "leads",
        sa.Column("lead_id", sa.String(24), primary_key=True),
        sa.Column("run_id", sa.String(24), sa.ForeignKey("lead_runs.run_id"), nullable=False),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("rank", sa.Integer, nullable=False),
        sa.Column("institution_id", sa.String(32), nullable=False),
        sa.Column("staff_id", sa.String(32), nullable=False),
        sa.Column("score", sa.String(16), nullable=False),
        sa.Column("reasons", sa.Text, nullable=False),
        sa.Column("evidence", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_on", sa.String(10)),
        sa.Column("status_by", sa.String(128)),
        sa.Column("status_note", sa.Text),
        sa.Column("status_at", sa.String(40)),
    )
    op.create_index("ix_leads_run", "leads", ["run_id", "level", "rank"])
    op.create_table(
        "lead_outcomes",
        sa.Column("outcome_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("lead_id", sa.String(24), sa.ForeignKey("leads.lead_id"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("on_date", sa.String(10), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("at", sa.String(40), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("lead_outcomes")
    op.drop_index("ix_leads_run", "leads")
    op.drop_table("leads")
    op.drop_table("lead_runs")
