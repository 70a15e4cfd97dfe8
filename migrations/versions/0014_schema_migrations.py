"""schema_migrations: online schema changes run by an instance's guest (issue 18)

Revision ID: 0014
Revises: 0008
"""
from alembic import op
import sqlalchemy as sa

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "schema_migrations",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False, index=True),
        sa.Column("instance_id", sa.String(36), nullable=False, index=True),
        sa.Column("database_name", sa.String(64), nullable=False),
        sa.Column("table_name", sa.String(64), nullable=False),
        sa.Column("alter", sa.Text(), nullable=False),
        sa.Column("options", sa.Text(), nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("progress", sa.Text(), nullable=True),
        sa.Column("fail_reason", sa.String(2048), nullable=True),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("updated", sa.DateTime(), nullable=False),
        sa.Column("finished", sa.DateTime(), nullable=True))


def downgrade():
    op.drop_table("schema_migrations")
