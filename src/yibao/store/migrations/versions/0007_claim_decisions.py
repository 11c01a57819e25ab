"""The agency's decisions on manual reimbursement claims (零星报销: 予以报销 / 不予报销 with the reason in Chinese),
each with the amount the benefit calculator computed, who decided and when (audited).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "claim_decisions",
        sa.Column("decision_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("claim_id", sa.String(32), nullable=False),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("fund_reimbursed", sa.String(24), nullable=False),
        sa.Column("computed_decision", sa.String(16), nullable=False),
        sa.Column("computed_reason", sa.Text, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("at", sa.String(40), nullable=False),
    )
    op.create_index("ix_claim_decisions_claim", "claim_decisions", ["claim_id", "decision_id"])


def downgrade() -> None:
    op.drop_index("ix_claim_decisions_claim", "claim_decisions")
    op.drop_table("claim_decisions")
