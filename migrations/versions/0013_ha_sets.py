"""ha_sets and ha_rejoins: per-set term, durability and failover lease; old sources to rejoin

Revision ID: 0013
Revises: 0008
"""
from alembic import op
import sqlalchemy as sa

revision = '0013'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "ha_sets",
        sa.Column("set_id", sa.String(36), primary_key=True),
        sa.Column("term", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("durability", sa.String(16), nullable=False, server_default="semisync"),
        sa.Column("lease_holder", sa.String(255), nullable=True),
        sa.Column("lease_expires", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False))
    op.create_table(
        "ha_rejoins",
        sa.Column("instance_id", sa.String(36), primary_key=True),
        sa.Column("set_id", sa.String(36), nullable=False),
        sa.Column("source_id", sa.String(36), nullable=False),
        sa.Column("term", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("failed_over_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False))


def downgrade():
    op.drop_table("ha_rejoins")
    op.drop_table("ha_sets")
