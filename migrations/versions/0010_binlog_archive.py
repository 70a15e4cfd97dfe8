"""binlog archive: archived segments, per-instance archive state, PITR restore point
and restore progress

Revision ID: 0010
Revises: 0008
"""
from alembic import op
import sqlalchemy as sa

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "binlog_segments",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("instance_id", sa.String(36), nullable=False, index=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("file", sa.String(255), nullable=False),
        sa.Column("file_seq", sa.Integer(), nullable=False),
        sa.Column("start_pos", sa.BigInteger(), nullable=False),
        sa.Column("end_pos", sa.BigInteger(), nullable=False),
        sa.Column("first_ts", sa.Float(), nullable=True),
        sa.Column("last_ts", sa.Float(), nullable=True),
        sa.Column("first_gtid", sa.String(64), nullable=True),
        sa.Column("last_gtid", sa.String(64), nullable=True),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("location", sa.String(1024), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("checksum", sa.String(64), nullable=True),
        sa.Column("detail", sa.String(1024), nullable=True),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("instance_id", "file_seq", "start_pos", "kind",
                            name="uq_binlog_segment"))
    op.create_table(
        "binlog_archives",
        sa.Column("instance_id", sa.String(36), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("caught_up_at", sa.Float(), nullable=True),
        sa.Column("lag_bytes", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.String(1024), nullable=True),
        sa.Column("key_sent_at", sa.Float(), nullable=True),
        sa.Column("public_key", sa.String(64), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False))
    with op.batch_alter_table("instances") as batch:
        batch.add_column(sa.Column("restore_point", sa.Text(), nullable=True))
    with op.batch_alter_table("service_statuses") as batch:
        batch.add_column(sa.Column("restore_progress", sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table("service_statuses") as batch:
        batch.drop_column("restore_progress")
    with op.batch_alter_table("instances") as batch:
        batch.drop_column("restore_point")
    op.drop_table("binlog_archives")
    op.drop_table("binlog_segments")
