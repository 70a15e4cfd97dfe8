"""service_statuses.status_description holds a whole failure reason (1024 chars)

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("service_statuses") as batch:
        batch.alter_column("status_description", existing_type=sa.String(length=255),
                           type_=sa.String(length=1024), existing_nullable=True)


def downgrade():
    with op.batch_alter_table("service_statuses") as batch:
        batch.alter_column("status_description", existing_type=sa.String(length=1024),
                           type_=sa.String(length=255), existing_nullable=True)
