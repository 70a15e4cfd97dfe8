"""backup_schedules and backup_schedule_leases: server-side scheduled backups

Revision ID: 0009
Revises: 0008
"""
from alembic import op
import sqlalchemy as sa

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "backup_schedules",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False, index=True),
        sa.Column("instance_id", sa.String(36), nullable=False, index=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("pattern", sa.String(255), nullable=False),
        sa.Column("incremental", sa.Boolean(), nullable=False),
        sa.Column("retention_count", sa.Integer(), nullable=True),
        sa.Column("retention_days", sa.Integer(), nullable=True),
        sa.Column("next_run", sa.DateTime(), nullable=True),
        sa.Column("last_run", sa.DateTime(), nullable=True),
        sa.Column("last_backup_id", sa.String(36), nullable=True),
        sa.Column("last_result", sa.String(1024), nullable=True),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("updated", sa.DateTime(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False, index=True),
        sa.Column("deleted_at", sa.DateTime(), nullable=True))
    op.create_table(
        "backup_schedule_leases",
        sa.Column("schedule_id", sa.String(36), primary_key=True),
        sa.Column("key", sa.String(80), primary_key=True),
        sa.Column("holder", sa.String(255), nullable=False),
        sa.Column("backup_id", sa.String(36), nullable=True, index=True),
        sa.Column("created", sa.DateTime(), nullable=False))


def downgrade():
    op.drop_table("backup_schedule_leases")
    op.drop_table("backup_schedules")
