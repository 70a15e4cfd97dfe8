"""Control-plane schema (SQLAlchemy 2). Alembic migrations in migrations/ create it.

One writer per piece of state; the others send the owner what they learned (the
taskmanager casts ``report_status`` to the conductor, the API casts to the
taskmanager). Owners, table by table:

- ``service_statuses``, ``root_enabled_history``, ``conductor_lastseen``: the
  conductor alone. A row is created by the instance's first report (guest
  heartbeat or the taskmanager's ``report_status``); messages older than the last
  one applied are dropped.
- ``instances``: the API writes intent (the row, name, access, configuration_id,
  deleted request) and *claims* a task in its own columns (``claimed_task``,
  ``claim_seq``, ``claimed_at``): BUILDING with the row, REBOOTING/RESIZING/... in
  a compare-and-set that checked no other task runs (a second request gets 409),
  NONE on an admin's reset. The task column (``task_status``, ``task_seq``,
  ``task_started_at``) is the taskmanager's alone: it adopts the newest claim
  when a flow starts (or its reconciler does, for a lost cast) and sets every
  later task; a test walks the code for other writers. Readers use ``task``: a
  pending claim, else ``task_status``, so a client sees the task right after the
  202. ``server_id``, ``volume_id``, ``address``, ``flavor_id``/``volume_size``
  after a resize, ``datastore_version_id`` after an upgrade, ``slave_of_id`` and
  ``deleted`` are the taskmanager's too.
- ``instance_faults``, ``replication_endpoints``: the taskmanager.
- ``configuration_applies``: the API marks ``pending`` with a change; the
  taskmanager records ``applied``/``failed`` after asking the guest.
- ``backups``: the API inserts (NEW) and asks for a delete; the conductor writes
  what the guest reports while it runs (progress, size, checksum, COMPLETED or
  FAILED); the taskmanager writes its own decisions (a stalled backup FAILED, a
  deleted one DELETED), and the conductor drops a report for a backup already
  finished so a late guest cannot revive it.
- ``create_requests``: the API inserts with the instance; the taskmanager erases.
- ``task_step_buckets``: every taskmanager adds to them (one atomic UPDATE per step
  finished, db/step_durations.py); the API's /metrics only reads.
- ``configurations``, ``configuration_parameters``, ``quotas``, ``quota_usages``,
  ``reservations``, ``backup_keys``, ``backup_strategies``: the API (quota usage in
  the same transaction as the intent it counts; the taskmanager releases on delete).
- ``datastores``, ``datastore_versions``, ``flavors``,
  ``datastore_version_flavors``, ``datastore_configuration_parameters``,
  ``deployments``: trove-lite-manage and migrations.
"""

import datetime
import uuid
from typing import Any

from sqlalchemy import (BigInteger, Boolean, DateTime, Double, Float, ForeignKey, Index, Integer,
                        String, Text, UniqueConstraint, case, select)
from sqlalchemy.orm import (DeclarativeBase, Mapped, Session, column_property,
                            mapped_column, relationship)


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def new_id() -> str:
    return str(uuid.uuid4())


class Base(DeclarativeBase):
    pass


def get_owned(s: Session, model: Any, tenant_id: str, row_id: str,
              not_found: Exception) -> Any:
    """The tenant's live (not deleted) row of ``model`` with this id, else raise
    ``not_found``: another tenant's row is indistinguishable from a missing one."""
    row = s.execute(select(model).where(model.id == row_id, model.tenant_id == tenant_id,
                                        model.deleted.is_(False))).scalars().first()
    if row is None:
        raise not_found
    return row


class Datastore(Base):
    __tablename__ = "datastores"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    default_version_id: Mapped[str | None] = mapped_column(String(36))
    versions: Mapped[list["DatastoreVersion"]] = relationship(back_populates="datastore")


class DatastoreVersion(Base):
    __tablename__ = "datastore_versions"
    __table_args__ = (UniqueConstraint("datastore_id", "name", name="uq_ds_version_name"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    datastore_id: Mapped[str] = mapped_column(ForeignKey("datastores.id"))
    name: Mapped[str] = mapped_column(String(255))
    manager: Mapped[str] = mapped_column(String(255), default="mariadb")
    image_id: Mapped[str] = mapped_column(String(255))
    packages: Mapped[str] = mapped_column(String(511), default="")
    version: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    datastore: Mapped[Datastore] = relationship(back_populates="versions")


class Flavor(Base):
    __tablename__ = "flavors"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    ram: Mapped[int] = mapped_column(Integer)
    vcpus: Mapped[int] = mapped_column(Integer, default=1)
    disk: Mapped[int] = mapped_column(Integer, default=0)
    ephemeral: Mapped[int] = mapped_column(Integer, default=0)


class DatastoreVersionFlavor(Base):
    """If a version has any rows here, only those flavors may be used with it."""

    __tablename__ = "datastore_version_flavors"
    __table_args__ = (UniqueConstraint("datastore_version_id", "flavor_id",
                                       name="uq_dsv_flavor"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    datastore_version_id: Mapped[str] = mapped_column(ForeignKey("datastore_versions.id"))
    flavor_id: Mapped[str] = mapped_column(String(36))


class Instance(Base):
    __tablename__ = "instances"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255))
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    flavor_id: Mapped[str] = mapped_column(String(36))
    datastore_version_id: Mapped[str] = mapped_column(ForeignKey("datastore_versions.id"))
    volume_size: Mapped[int | None] = mapped_column(Integer)
    volume_type: Mapped[str | None] = mapped_column(String(255))
    volume_id: Mapped[str | None] = mapped_column(String(255))
    server_id: Mapped[str | None] = mapped_column(String(255))
    address: Mapped[str | None] = mapped_column(String(255))
    # The task: the API claims one (claimed_task, claim_seq, claimed_at: the API's
    # columns, a compare-and-set), the taskmanager adopts the newest claim when its
    # flow starts (task_status, task_seq, task_started_at: the taskmanager's columns)
    # and sets every later task. ``task`` is what both read: the pending claim if
    # there is one, else the taskmanager's task.
    task_status: Mapped[str] = mapped_column(String(32), default="NONE")
    task_started_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    task_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    claimed_task: Mapped[str | None] = mapped_column(String(32))
    claimed_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    claim_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    task: Mapped[str] = column_property(case((claim_seq > task_seq, claimed_task),
                                             else_=task_status))
    configuration_id: Mapped[str | None] = mapped_column(String(36))
    slave_of_id: Mapped[str | None] = mapped_column(String(36))
    # an ejected replication source: the instance that replaced it (it stays read-only)
    fenced_by: Mapped[str | None] = mapped_column(String(36))
    restore_backup_id: Mapped[str | None] = mapped_column(String(36))
    region_id: Mapped[str | None] = mapped_column(String(255))
    encrypted_key: Mapped[str | None] = mapped_column(String(255))
    access: Mapped[str | None] = mapped_column(Text)
    # point-in-time restore: JSON {source_id, restore_time, backup_id} (API writes it)
    restore_point: Mapped[str | None] = mapped_column(Text)
    created: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    updated: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow,
                                                       onupdate=utcnow)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    deleted_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)


class ServiceStatus(Base):
    """Guest-reported status; written only by the conductor (see the module docstring)."""

    __tablename__ = "service_statuses"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    instance_id: Mapped[str] = mapped_column(String(36), unique=True)
    status: Mapped[str] = mapped_column(String(64), default="NEW")
    status_description: Mapped[str | None] = mapped_column(String(1024))
    volume_used: Mapped[float | None] = mapped_column(Float)  # GB, from the guest
    replication: Mapped[str | None] = mapped_column(Text)  # JSON block, from the guest
    restore_progress: Mapped[str | None] = mapped_column(Text)  # JSON, from the guest
    updated_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)


class UpgradeProgress(Base):
    """How far an instance's upgrade went (taskmanager/upgrade_flows.py): ``step`` is
    ``pre_upgrade`` (the guest was asked to stop), ``rebuild`` (stopped and saved:
    ``info`` is pre_upgrade's answer) or ``finish`` (the new version is recorded).
    A taskmanager that finds a row with no flow driving it resumes from there."""

    __tablename__ = "upgrade_progress"
    instance_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    old_version_id: Mapped[str] = mapped_column(String(36))
    new_version_id: Mapped[str] = mapped_column(String(36))
    step: Mapped[str] = mapped_column(String(16))
    info: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow,
                                                          onupdate=utcnow)


class SetUpgrade(Base):
    """How far a replication set's upgrade went (taskmanager/upgrade_flows.py),
    keyed by the source the user asked to upgrade: ``step`` is ``replicas`` (each of
    ``members``, a JSON list of ids, in turn), ``switchover`` (to ``new_source_id``)
    or ``old_source``. Each member's own hop has its UpgradeProgress row besides.
    A taskmanager that finds the source UPGRADING and nobody driving it finishes
    the set from this step; its members' rows are then resumed by the set."""

    __tablename__ = "set_upgrades"
    source_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    new_version_id: Mapped[str] = mapped_column(String(36))
    step: Mapped[str] = mapped_column(String(16))
    members: Mapped[str] = mapped_column(Text)
    new_source_id: Mapped[str | None] = mapped_column(String(36))
    updated_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow,
                                                          onupdate=utcnow)


class ConfigurationApply(Base):
    """Whether an instance's configuration group reached its server: the API writes
    ``pending`` with a change, the taskmanager ``applied``/``failed`` after asking the
    guest (configuration/apply.py). ``applied``: JSON of the values last applied."""

    __tablename__ = "configuration_applies"
    instance_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    configuration_id: Mapped[str | None] = mapped_column(String(36))
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(1024))
    applied: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)


class SchemaMigration(Base):
    """An online schema change run by the instance's guest (trove_lite/osc). The API
    writes it NEW; afterwards only the conductor writes it, from the guest's heartbeats,
    and never once it is final (COMPLETED, FAILED, ABORTED)."""

    __tablename__ = "schema_migrations"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    instance_id: Mapped[str] = mapped_column(String(36), index=True)
    database_name: Mapped[str] = mapped_column(String(64))
    table_name: Mapped[str] = mapped_column(String(64))
    alter: Mapped[str] = mapped_column(Text)
    options: Mapped[str | None] = mapped_column(Text)  # JSON: the request's tunables
    status: Mapped[str] = mapped_column(String(32), default="NEW")
    progress: Mapped[str | None] = mapped_column(Text)  # JSON, from the guest
    fail_reason: Mapped[str | None] = mapped_column(String(2048))
    created: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    updated: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow,
                                                       onupdate=utcnow)
    finished: Mapped[datetime.datetime | None] = mapped_column(DateTime)


class ReplicationEndpoint(Base):
    """A replication set member's endpoints; written only by the taskmanager (ha.py).
    ``set_id`` stays the same across promotes (the first source's id)."""

    __tablename__ = "replication_endpoints"
    instance_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    set_id: Mapped[str] = mapped_column(String(36), index=True)
    rw: Mapped[str] = mapped_column(String(255))
    ro: Mapped[str] = mapped_column(String(255))
    updated_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow,
                                                          onupdate=utcnow)


class HASet(Base):
    """A replication set's HA record; written only by the taskmanager (ha.py).
    ``term`` grows at every failover and promote; ``lease_holder`` is the
    taskmanager that may act on the set until ``lease_expires``."""

    __tablename__ = "ha_sets"
    set_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    term: Mapped[int] = mapped_column(Integer, default=0)
    durability: Mapped[str] = mapped_column(String(16), default="semisync")
    lease_holder: Mapped[str | None] = mapped_column(String(255))
    lease_expires: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    updated_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow,
                                                          onupdate=utcnow)


class HARejoin(Base):
    """A source that a failover left behind: ``pending`` until it is back and
    follows the new source (``rejoined``), or ``needs_rebuild`` when it has
    transactions the set never got."""

    __tablename__ = "ha_rejoins"
    instance_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    set_id: Mapped[str] = mapped_column(String(36))
    source_id: Mapped[str] = mapped_column(String(36))   # the replica promoted in its place
    term: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)
    failed_over_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow,
                                                          onupdate=utcnow)


class InstanceFault(Base):
    __tablename__ = "instance_faults"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    instance_id: Mapped[str] = mapped_column(String(36), index=True)
    message: Mapped[str] = mapped_column(String(1024))
    details: Mapped[str | None] = mapped_column(Text)
    created: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)


class InstanceEvent(Base):
    """One thing that happened to an instance (instance/events.py writes them)."""

    __tablename__ = "instance_events"
    __table_args__ = (Index("ix_instance_events_instance", "tenant_id", "instance_id", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    instance_id: Mapped[str] = mapped_column(String(36))
    tenant_id: Mapped[str] = mapped_column(String(64))
    created: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(String(1024))
    request_id: Mapped[str | None] = mapped_column(String(64))


class TaskStepBucket(Base):
    """One bucket of the flow-step duration histogram (db/step_durations.py): the
    number of steps named ``step`` that took at most ``le`` seconds (``le`` =
    INF_BOUND for +Inf, whose row also holds the sum). Every taskmanager adds to it
    with one atomic UPDATE; the API's /metrics reads it."""

    __tablename__ = "task_step_buckets"
    step: Mapped[str] = mapped_column(String(80), primary_key=True)
    le: Mapped[float] = mapped_column(Double, primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    sum_seconds: Mapped[float] = mapped_column(Double, default=0.0)


class ConductorLastSeen(Base):
    """Newest ``sent`` timestamp applied per instance and method (drops stale casts)."""

    __tablename__ = "conductor_lastseen"
    instance_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    method_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    # DOUBLE: a MariaDB FLOAT holds epoch seconds only to ~2 minutes
    sent: Mapped[float] = mapped_column(Double)


class Quota(Base):
    __tablename__ = "quotas"
    __table_args__ = (UniqueConstraint("tenant_id", "resource", name="uq_quota"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(String(64))
    resource: Mapped[str] = mapped_column(String(64))
    hard_limit: Mapped[int] = mapped_column(Integer)


class QuotaUsage(Base):
    __tablename__ = "quota_usages"
    __table_args__ = (UniqueConstraint("tenant_id", "resource", name="uq_quota_usage"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(String(64))
    resource: Mapped[str] = mapped_column(String(64))
    in_use: Mapped[int] = mapped_column(Integer, default=0)
    reserved: Mapped[int] = mapped_column(Integer, default=0)


class Configuration(Base):
    __tablename__ = "configurations"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(String(255))
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    datastore_version_id: Mapped[str] = mapped_column(ForeignKey("datastore_versions.id"))
    created: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    updated: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow,
                                                       onupdate=utcnow)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)


class ConfigurationParameter(Base):
    """One value of a configuration group (stored as JSON text to keep its type)."""

    __tablename__ = "configuration_parameters"
    configuration_id: Mapped[str] = mapped_column(ForeignKey("configurations.id"),
                                                  primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class DatastoreConfigurationParameter(Base):
    """Validation rules per datastore version (trove-lite-manage loads them)."""

    __tablename__ = "datastore_configuration_parameters"
    __table_args__ = (UniqueConstraint("datastore_version_id", "name", name="uq_dcp"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    datastore_version_id: Mapped[str] = mapped_column(ForeignKey("datastore_versions.id"))
    name: Mapped[str] = mapped_column(String(128))
    data_type: Mapped[str] = mapped_column(String(32))
    min_size: Mapped[str | None] = mapped_column(String(64))
    max_size: Mapped[str | None] = mapped_column(String(64))
    restart_required: Mapped[bool] = mapped_column(Boolean, default=False)
    dynamic: Mapped[bool] = mapped_column(Boolean, default=True)
    allowed_values: Mapped[str | None] = mapped_column(Text)
    # JSON: rule keys without a column of their own (multiple, pattern, cnf_option)
    cnf_extra: Mapped[str | None] = mapped_column(Text)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)


class Backup(Base):
    __tablename__ = "backups"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(String(512))
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    instance_id: Mapped[str | None] = mapped_column(String(36), index=True)
    parent_id: Mapped[str | None] = mapped_column(String(36))
    datastore_version_id: Mapped[str | None] = mapped_column(String(36))
    backup_type: Mapped[str | None] = mapped_column(String(32))
    storage_driver: Mapped[str | None] = mapped_column(String(32))
    container: Mapped[str | None] = mapped_column(String(255))
    location: Mapped[str | None] = mapped_column(String(1024))
    checksum: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[float | None] = mapped_column(Float)
    progress: Mapped[float | None] = mapped_column(Float)
    meta: Mapped[str | None] = mapped_column(Text)  # LSNs, binlog coordinates (JSON)
    status: Mapped[str] = mapped_column(String(32), default="NEW")
    fail_reason: Mapped[str | None] = mapped_column(String(1024))
    created: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    updated: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow,
                                                       onupdate=utcnow)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)


class BackupKey(Base):
    """A tenant's backup encryption key, encrypted with the control plane's master
    key (trove_lite/backup/keys.py); never shown by the API."""

    __tablename__ = "backup_keys"
    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    encrypted_key: Mapped[str] = mapped_column(Text)
    created: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)


class BackupStrategy(Base):
    __tablename__ = "backup_strategies"
    __table_args__ = (UniqueConstraint("tenant_id", "instance_id", name="uq_backup_strategy"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(String(64))
    instance_id: Mapped[str] = mapped_column(String(36), default="")
    backend: Mapped[str] = mapped_column(String(32), default="swift")
    swift_container: Mapped[str] = mapped_column(String(255))
    created: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)


class RootEnabledHistory(Base):
    __tablename__ = "root_enabled_history"
    instance_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user: Mapped[str] = mapped_column(String(255))
    created: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)


class Reservation(Base):
    """Audit of quota reservations (created/committed/rolled back)."""

    __tablename__ = "reservations"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(String(64))
    resource: Mapped[str] = mapped_column(String(64))
    delta: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(32), default="Reserved")
    created: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)


class Deployment(Base):
    """One row: this control plane's id, made by the migration that created the
    table (db_sync). Its exchange, topics and instance address range derive
    from it, so deployments sharing a broker or a machine never meet."""

    __tablename__ = "deployments"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)


class CreateRequest(Base):
    """A create's users, databases and root password (as password hashes), Fernet-
    encrypted (trove_lite/db/create_requests.py), from the API's insert until the
    guest has created them; ``summary`` names them (no secrets) for a fault."""

    __tablename__ = "create_requests"
    instance_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    encrypted: Mapped[str] = mapped_column(Text)
    summary: Mapped[str | None] = mapped_column(String(1024))
    created: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)


class BackupSchedule(Base):
    """A tenant's backup schedule (backup/schedule_service.py writes it from the API;
    the taskmanager's scheduler writes next_run/last_* as it runs it). Exactly one
    of retention_count / retention_days is set."""

    __tablename__ = "backup_schedules"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    instance_id: Mapped[str] = mapped_column(String(36), index=True)
    name: Mapped[str] = mapped_column(String(255))
    pattern: Mapped[str] = mapped_column(String(255))
    incremental: Mapped[bool] = mapped_column(Boolean, default=False)
    retention_count: Mapped[int | None] = mapped_column(Integer)
    retention_days: Mapped[int | None] = mapped_column(Integer)
    next_run: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    last_run: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    last_backup_id: Mapped[str | None] = mapped_column(String(36))
    last_result: Mapped[str | None] = mapped_column(String(1024))
    created: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    updated: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow,
                                                       onupdate=utcnow)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    deleted_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)


class FlowLease(Base):
    """The taskmanager running a flow on ``key`` (an instance id, or ``backup:<id>``)
    until ``expires``; renewed while the flow runs, deleted when it ends. With
    several taskmanagers on one control DB, a flow (or a reconcile resume) runs
    only in the one that takes the lease; a killed holder's lease expires."""

    __tablename__ = "flow_leases"
    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    holder: Mapped[str] = mapped_column(String(255))
    flow: Mapped[str] = mapped_column(String(64))
    expires: Mapped[datetime.datetime] = mapped_column(DateTime, index=True)
    updated_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow,
                                                          onupdate=utcnow)


class BackupScheduleLease(Base):
    """One row per piece of a schedule's work, inserted by the taskmanager that does
    it: ``run <due time>`` (its backup_id is the backup it made, which is how a
    schedule knows its own backups) or ``delete <backup id>``. The primary key makes
    the insert the lease: with several taskmanagers on one control DB, one wins."""

    __tablename__ = "backup_schedule_leases"
    schedule_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    holder: Mapped[str] = mapped_column(String(255))
    backup_id: Mapped[str | None] = mapped_column(String(36), index=True)
    created: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
class BinlogSegment(Base):
    """One archived piece of an instance's binary log (``kind`` "data"), or a gap
    the guest found (``kind`` "gap": the bytes from start_pos of ``file`` to the
    next data segment were lost). Written by the conductor from guest reports;
    kept after the instance is deleted (retention follows its backups)."""

    __tablename__ = "binlog_segments"
    __table_args__ = (UniqueConstraint("instance_id", "file_seq", "start_pos", "kind",
                                       name="uq_binlog_segment"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    instance_id: Mapped[str] = mapped_column(String(36), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    file: Mapped[str] = mapped_column(String(255))
    file_seq: Mapped[int] = mapped_column(Integer)
    start_pos: Mapped[int] = mapped_column(BigInteger)
    end_pos: Mapped[int] = mapped_column(BigInteger)
    first_ts: Mapped[float | None] = mapped_column(Float)
    last_ts: Mapped[float | None] = mapped_column(Float)
    first_gtid: Mapped[str | None] = mapped_column(String(64))
    last_gtid: Mapped[str | None] = mapped_column(String(64))
    events: Mapped[int] = mapped_column(Integer, default=0)
    location: Mapped[str | None] = mapped_column(String(1024))
    size: Mapped[int | None] = mapped_column(BigInteger)
    checksum: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(String(1024))
    created: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)


class BinlogArchive(Base):
    """The archive state of one instance as its guest last reported it (conductor),
    plus when the taskmanager last handed the guest its archive key."""

    __tablename__ = "binlog_archives"
    instance_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    caught_up_at: Mapped[float | None] = mapped_column(Float)   # epoch seconds
    lag_bytes: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(String(1024))
    key_sent_at: Mapped[float | None] = mapped_column(Float)
    public_key: Mapped[str | None] = mapped_column(String(64))  # the archiver's X25519
    updated_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
