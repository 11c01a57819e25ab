"""Overrun rectification notices (超总额整改, 人社部发〔2012〕70号 三(五)): notice, answer, follow-up.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rectifications",
        sa.Column("rect_id", sa.String(24), primary_key=True),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("pot", sa.String(32), nullable=False),
        sa.Column("institution_id", sa.String(32), nullable=False),
        sa.Column("institution_name", sa.String(200), nullable=False),
        sa.Column("overrun_fen", sa.BigInteger, nullable=False),
        sa.Column("volume_fen", sa.BigInteger),
        sa.Column("case_mix_fen", sa.BigInteger),
        sa.Column("cost_fen", sa.BigInteger),
        sa.Column("opinion", sa.Text, nullable=False),
        sa.Column("issued_on", sa.String(10), nullable=False),
        sa.Column("response_due", sa.String(10), nullable=False),
        sa.Column("follow_up_on", sa.String(10), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("issued_by", sa.String(128), nullable=False),
        sa.Column("issued_at", sa.String(40), nullable=False),
        sa.Column("response", sa.Text),
        sa.Column("responded_by", sa.String(128)),
        sa.Column("responded_at", sa.String(40)),
        sa.Column("result", sa.String(16)),
        sa.Column("follow_up_note", sa.Text),
        sa.Column("followed_up_by", sa.String(128)),
        sa.Column("followed_up_at", sa.String(40)),
        sa.UniqueConstraint("year", "pot", "institution_id", name="uq_rectification"),
    )
    op.create_index("ix_rectifications_institution", "rectifications", ["institution_id", "year"])


def downgrade() -> None:
    op.drop_index("ix_rectifications_institution", "rectifications")
    op.drop_table("rectifications")
