"""instances: the API's task claim beside the taskmanager's task

The API claims a task in claimed_task/claim_seq/claimed_at; the taskmanager
adopts the newest claim (task_seq) and alone writes task_status.

Revision ID: 0025
Revises: 0019
"""
from alembic import op
import sqlalchemy as sa

revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("instances") as batch:
        batch.add_column(sa.Column("task_seq", sa.Integer(), nullable=False,
                                   server_default="0"))
        batch.add_column(sa.Column("claimed_task", sa.String(32), nullable=True))
        batch.add_column(sa.Column("claimed_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("claim_seq", sa.Integer(), nullable=False,
                                   server_default="0"))


def downgrade():
    with op.batch_alter_table("instances") as batch:
        for name in ("claim_seq", "claimed_at", "claimed_task", "task_seq"):
            batch.drop_column(name)
