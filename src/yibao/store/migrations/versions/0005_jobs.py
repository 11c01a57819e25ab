"""Background jobs of the server (后台任务, issue 15 §1): progress, result and error kept in the store,
so that a job is still answered after a restart (one that was running is shown as interrupted).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "server_jobs",
        sa.Column("job_id", sa.String(32), primary_key=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("progress_permille", sa.Integer, nullable=False),
        sa.Column("step", sa.Text, nullable=False),
        sa.Column("server", sa.String(200), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("started_at", sa.String(40)),
        sa.Column("finished_at", sa.String(40)),
        sa.Column("result", sa.Text),
        sa.Column("error", sa.Text),
        sa.Column("http_status", sa.Integer),
        sa.CheckConstraint("status IN ('queued', 'running', 'done', 'failed', 'interrupted')", name="ck_job_status"),
        sa.CheckConstraint("progress_permille BETWEEN 0 AND 1000", name="ck_job_progress"),
    )
    op.create_index("ix_server_jobs_status", "server_jobs", ["status"])


def downgrade() -> None:
    op.drop_index("ix_server_jobs_status", "server_jobs")
    op.drop_table("server_jobs")
