"""task_step_buckets: the flow-step duration histogram, shared by every taskmanager

Revision ID: 0024
Revises: 0019
"""
from alembic import op
import sqlalchemy as sa

revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "task_step_buckets",
        sa.Column("step", sa.String(80), primary_key=True),
        sa.Column("le", sa.Double(), primary_key=True),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("sum_seconds", sa.Double(), nullable=False))


def downgrade():
    op.drop_table("task_step_buckets")
