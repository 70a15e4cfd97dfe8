"""configuration_applies: per instance, whether its group's values reached the server

Revision ID: 0008
Revises: 0007
"""
from alembic import op
import sqlalchemy as sa

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "configuration_applies",
        sa.Column("instance_id", sa.String(36), primary_key=True),
        sa.Column("configuration_id", sa.String(36), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(1024), nullable=True),
        sa.Column("applied", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False))


def downgrade():
    op.drop_table("configuration_applies")
