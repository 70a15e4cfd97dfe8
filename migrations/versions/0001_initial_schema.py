"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-21 11:04:14.041259
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('backup_strategies',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('instance_id', sa.String(length=36), nullable=False),
    sa.Column('backend', sa.String(length=32), nullable=False),
    sa.Column('swift_container', sa.String(length=255), nullable=False),
    sa.Column('created', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant_id', 'instance_id', name='uq_backup_strategy')
    )
    op.create_table('backups',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('description', sa.String(length=512), nullable=True),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('instance_id', sa.String(length=36), nullable=True),
    sa.Column('parent_id', sa.String(length=36), nullable=True),
    sa.Column('datastore_version_id', sa.String(length=36), nullable=True),
    sa.Column('backup_type', sa.String(length=32), nullable=True),
    sa.Column('storage_driver', sa.String(length=32), nullable=True),
    sa.Column('container', sa.String(length=255), nullable=True),
    sa.Column('location', sa.String(length=1024), nullable=True),
    sa.Column('checksum', sa.String(length=64), nullable=True),
    sa.Column('size', sa.Float(), nullable=True),
    sa.Column('progress', sa.Float(), nullable=True),
    sa.Column('meta', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('fail_reason', sa.String(length=1024), nullable=True),
    sa.Column('created', sa.DateTime(), nullable=False),
    sa.Column('updated', sa.DateTime(), nullable=False),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('backups', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_backups_instance_id'), ['instance_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_backups_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('conductor_lastseen',
    sa.Column('instance_id', sa.String(length=36), nullable=False),
    sa.Column('method_name', sa.String(length=64), nullable=False),
    sa.Column('sent', sa.Double(), nullable=False),
    sa.PrimaryKeyConstraint('instance_id', 'method_name')
    )
    op.create_table('datastores',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('default_version_id', sa.String(length=36), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('flavors',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('ram', sa.Integer(), nullable=False),
    sa.Column('vcpus', sa.Integer(), nullable=False),
    sa.Column('disk', sa.Integer(), nullable=False),
    sa.Column('ephemeral', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('instance_faults',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('instance_id', sa.String(length=36), nullable=False),
    sa.Column('message', sa.String(length=1024), nullable=False),
    sa.Column('details', sa.Text(), nullable=True),
    sa.Column('created', sa.DateTime(), nullable=False),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('instance_faults', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_instance_faults_instance_id'), ['instance_id'], unique=False)

    op.create_table('quota_usages',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('resource', sa.String(length=64), nullable=False),
    sa.Column('in_use', sa.Integer(), nullable=False),
    sa.Column('reserved', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant_id', 'resource', name='uq_quota_usage')
    )
    op.create_table('quotas',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('resource', sa.String(length=64), nullable=False),
    sa.Column('hard_limit', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant_id', 'resource', name='uq_quota')
    )
    op.create_table('reservations',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('resource', sa.String(length=64), nullable=False),
    sa.Column('delta', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('created', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('root_enabled_history',
    sa.Column('instance_id', sa.String(length=36), nullable=False),
    sa.Column('user', sa.String(length=255), nullable=False),
    sa.Column('created', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('instance_id')
    )
    op.create_table('service_statuses',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('instance_id', sa.String(length=36), nullable=False),
    sa.Column('status', sa.String(length=64), nullable=False),
    sa.Column('status_description', sa.String(length=255), nullable=True),
    sa.Column('volume_used', sa.Float(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('instance_id')
    )
    op.create_table('datastore_versions',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('datastore_id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('manager', sa.String(length=255), nullable=False),
    sa.Column('image_id', sa.String(length=255), nullable=False),
    sa.Column('packages', sa.String(length=511), nullable=False),
    sa.Column('version', sa.String(length=255), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['datastore_id'], ['datastores.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('datastore_id', 'name', name='uq_ds_version_name')
    )
    op.create_table('configurations',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('description', sa.String(length=255), nullable=True),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('datastore_version_id', sa.String(length=36), nullable=False),
    sa.Column('created', sa.DateTime(), nullable=False),
    sa.Column('updated', sa.DateTime(), nullable=False),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['datastore_version_id'], ['datastore_versions.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('configurations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_configurations_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('datastore_configuration_parameters',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('datastore_version_id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('data_type', sa.String(length=32), nullable=False),
    sa.Column('min_size', sa.String(length=64), nullable=True),
    sa.Column('max_size', sa.String(length=64), nullable=True),
    sa.Column('restart_required', sa.Boolean(), nullable=False),
    sa.Column('dynamic', sa.Boolean(), nullable=False),
    sa.Column('allowed_values', sa.Text(), nullable=True),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['datastore_version_id'], ['datastore_versions.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('datastore_version_id', 'name', name='uq_dcp')
    )
    op.create_table('datastore_version_flavors',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('datastore_version_id', sa.String(length=36), nullable=False),
    sa.Column('flavor_id', sa.String(length=36), nullable=False),
    sa.ForeignKeyConstraint(['datastore_version_id'], ['datastore_versions.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('datastore_version_id', 'flavor_id', name='uq_dsv_flavor')
    )
    op.create_table('instances',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('flavor_id', sa.String(length=36), nullable=False),
    sa.Column('datastore_version_id', sa.String(length=36), nullable=False),
    sa.Column('volume_size', sa.Integer(), nullable=True),
    sa.Column('volume_type', sa.String(length=255), nullable=True),
    sa.Column('volume_id', sa.String(length=255), nullable=True),
    sa.Column('server_id', sa.String(length=255), nullable=True),
    sa.Column('address', sa.String(length=255), nullable=True),
    sa.Column('task_status', sa.String(length=32), nullable=False),
    sa.Column('task_started_at', sa.DateTime(), nullable=True),
    sa.Column('configuration_id', sa.String(length=36), nullable=True),
    sa.Column('slave_of_id', sa.String(length=36), nullable=True),
    sa.Column('restore_backup_id', sa.String(length=36), nullable=True),
    sa.Column('region_id', sa.String(length=255), nullable=True),
    sa.Column('encrypted_key', sa.String(length=255), nullable=True),
    sa.Column('access', sa.Text(), nullable=True),
    sa.Column('created', sa.DateTime(), nullable=False),
    sa.Column('updated', sa.DateTime(), nullable=False),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.Column('deleted_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['datastore_version_id'], ['datastore_versions.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('instances', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_instances_deleted'), ['deleted'], unique=False)
        batch_op.create_index(batch_op.f('ix_instances_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('configuration_parameters',
    sa.Column('configuration_id', sa.String(length=36), nullable=False),
    sa.Column('key', sa.String(length=128), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['configuration_id'], ['configurations.id'], ),
    sa.PrimaryKeyConstraint('configuration_id', 'key')
    )


def downgrade():
    op.drop_table('configuration_parameters')
    with op.batch_alter_table('instances', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_instances_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_instances_deleted'))

    op.drop_table('instances')
    op.drop_table('datastore_version_flavors')
    op.drop_table('datastore_configuration_parameters')
    with op.batch_alter_table('configurations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_configurations_tenant_id'))

    op.drop_table('configurations')
    op.drop_table('datastore_versions')
    op.drop_table('service_statuses')
    op.drop_table('root_enabled_history')
    op.drop_table('reservations')
    op.drop_table('quotas')
    op.drop_table('quota_usages')
    with op.batch_alter_table('instance_faults', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_instance_faults_instance_id'))

    op.drop_table('instance_faults')
    op.drop_table('flavors')
    op.drop_table('datastores')
    op.drop_table('conductor_lastseen')
    with op.batch_alter_table('backups', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_backups_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_backups_instance_id'))

    op.drop_table('backups')
    op.drop_table('backup_strategies')
