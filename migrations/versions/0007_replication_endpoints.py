"""replication_endpoints: each replication set member's rw/ro endpoints

Revision ID: 0007
Revises: 0006
"""
from alembic import op
import sqlalchemy as sa

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "replication_endpoints",
        sa.Column("instance_id", sa.String(36), primary_key=True),
        sa.Column("set_id", sa.String(36), nullable=False, index=True),
        sa.Column("rw", sa.String(255), nullable=False),
        sa.Column("ro", sa.String(255), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False))


def downgrade():
    op.drop_table("replication_endpoints")
