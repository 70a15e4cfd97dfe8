"""service_statuses.replication: the guest's replication block (JSON)

Revision ID: 0006
Revises: 0005
"""
from alembic import op
import sqlalchemy as sa

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("service_statuses") as batch:
        batch.add_column(sa.Column("replication", sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table("service_statuses") as batch:
        batch.drop_column("replication")
