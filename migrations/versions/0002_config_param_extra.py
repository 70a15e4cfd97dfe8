"""configuration parameter rules: cnf_extra (multiple, pattern, cnf_option)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 11:45:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    # JSON text: rule keys the other columns cannot hold ({"multiple": true,
    # "pattern": "...", "cnf_option": "..."}); NULL when a rule has none.
    with op.batch_alter_table('datastore_configuration_parameters', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cnf_extra', sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table('datastore_configuration_parameters', schema=None) as batch_op:
        batch_op.drop_column('cnf_extra')
