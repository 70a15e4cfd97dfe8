"""flow_leases: one taskmanager flow at a time per instance (or backup), with expiry

Revision ID: 0019
Revises: 0013
"""
from alembic import op
import sqlalchemy as sa

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "flow_leases",
        sa.Column("key", sa.String(80), primary_key=True),
        sa.Column("holder", sa.String(255), nullable=False),
        sa.Column("flow", sa.String(64), nullable=False),
        sa.Column("expires", sa.DateTime(), nullable=False, index=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False))


def downgrade():
    op.drop_table("flow_leases")
