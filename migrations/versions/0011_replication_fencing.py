"""instances.fenced_by: the member that replaced an ejected replication source

An ejected source is fenced: when its agent comes back it is kept read-only
(taskmanager/replication_flows.py: decide_returning_source).

Revision ID: 0011
Revises: 0008
"""
from alembic import op
import sqlalchemy as sa

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("instances") as batch:
        batch.add_column(sa.Column("fenced_by", sa.String(36), nullable=True))


def downgrade():
    with op.batch_alter_table("instances") as batch:
        batch.drop_column("fenced_by")
