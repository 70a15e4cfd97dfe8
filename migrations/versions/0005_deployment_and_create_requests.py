"""deployments: this control plane's id (made here, once); create_requests: a
create's users and databases, encrypted, until the guest has them

Revision ID: 0005
Revises: 0004
"""
import datetime
import uuid

from alembic import op
import sqlalchemy as sa

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    deployments = op.create_table(
        "deployments",
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column("created", sa.DateTime(), nullable=False))
    op.bulk_insert(deployments, [{"id": uuid.uuid4().hex,
                                  "created": datetime.datetime.utcnow()}])
    op.create_table(
        "create_requests",
        sa.Column("instance_id", sa.String(length=36), primary_key=True),
        sa.Column("encrypted", sa.Text(), nullable=False),
        sa.Column("summary", sa.String(length=1024), nullable=True),
        sa.Column("created", sa.DateTime(), nullable=False))


def downgrade():
    op.drop_table("create_requests")
    op.drop_table("deployments")
