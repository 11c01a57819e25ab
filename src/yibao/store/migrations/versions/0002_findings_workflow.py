"""Findings workflow (issue 16): the workbench's filter columns (setting, department, staff) and the
investigation deadline (调查核实期限).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("findings") as b:
        b.add_column(sa.Column("setting", sa.String(16)))
        b.add_column(sa.Column("dept_code", sa.String(32)))
        b.add_column(sa.Column("staff_id", sa.String(32)))
        b.add_column(sa.Column("investigation_deadline", sa.String(10)))
    op.create_index("ix_findings_status_deadline", "findings", ["status", "deadline"])


def downgrade() -> None:
    op.drop_index("ix_findings_status_deadline", "findings")
    with op.batch_alter_table("findings") as b:
        for c in ("investigation_deadline", "staff_id", "dept_code", "setting"):
            b.drop_column(c)
