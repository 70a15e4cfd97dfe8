"""set_upgrades: how far a replication set's upgrade went

One row per set upgrade while it runs (keyed by the source the user asked to
upgrade), so a taskmanager started after the one driving it died finishes the
whole set, not only the member it was upgrading.

Revision ID: 0023
Revises: 0019
"""
from alembic import op
import sqlalchemy as sa

revision = '0023'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "set_upgrades",
        sa.Column("source_id", sa.String(36), primary_key=True),
        sa.Column("new_version_id", sa.String(36), nullable=False),
        sa.Column("step", sa.String(16), nullable=False),
        sa.Column("members", sa.Text(), nullable=False),
        sa.Column("new_source_id", sa.String(36), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False))


def downgrade():
    op.drop_table("set_upgrades")
