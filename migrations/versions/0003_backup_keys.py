"""backup_keys: one backup encryption key per tenant, stored encrypted

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 11:50:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    # encrypted_key: Fernet token of the key under the control plane's master key
    op.create_table('backup_keys',
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('encrypted_key', sa.Text(), nullable=False),
    sa.Column('created', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id')
    )


def downgrade():
    op.drop_table('backup_keys')
