"""upgrade_progress: how far an instance's datastore-version upgrade went

One row per instance while its upgrade runs, so a taskmanager started after the
one driving it died resumes (or rolls back) the upgrade from its last step.

Revision ID: 0018
Revises: 0008
"""
from alembic import op
import sqlalchemy as sa

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "upgrade_progress",
        sa.Column("instance_id", sa.String(36), primary_key=True),
        sa.Column("old_version_id", sa.String(36), nullable=False),
        sa.Column("new_version_id", sa.String(36), nullable=False),
        sa.Column("step", sa.String(16), nullable=False),
        sa.Column("info", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False))


def downgrade():
    op.drop_table("upgrade_progress")
