"""instance_events: what happened to an instance (create, restart, failover...)

Revision ID: 0017
Revises: 0008
"""
from alembic import op
import sqlalchemy as sa

revision = '0017'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "instance_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("instance_id", sa.String(36), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("detail", sa.String(1024), nullable=True),
        sa.Column("request_id", sa.String(64), nullable=True))
    op.create_index("ix_instance_events_instance", "instance_events",
                    ["tenant_id", "instance_id", "id"])


def downgrade():
    op.drop_index("ix_instance_events_instance", "instance_events")
    op.drop_table("instance_events")
