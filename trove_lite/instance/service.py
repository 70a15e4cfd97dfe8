"""The instance service: validates a request, records the intent, casts to the taskmanager.

The API calls this and nothing else for instances. It never touches compute,
volumes or a database engine: it writes rows (an Instance with a task, the
initial ServiceStatus) and casts. The taskmanager does the work and its
reconciler resumes any intent whose cast was lost, so a failed cast is logged,
not reported as a failed request.

Order in every write path: validate everything first (nothing is written when
a check fails), then change the rows in ONE transaction, then cast.

Concurrency: starting a task is a claim, a conditional UPDATE of the API's own
columns (``claimed_task``, ``claim_seq``) ``WHERE`` the task and the claim are
still the ones we decided on; a request that lost the race gets 409, on SQLite
and MariaDB alike. The taskmanager adopts the claim when its flow starts and is
the only writer of ``task_status``; ``Instance.task`` shows the claim until then.
"""

from __future__ import annotations

import builtins
import dataclasses
import json
import logging
import time
from typing import TYPE_CHECKING, Any, Callable, Sequence, cast

from oslo_config import cfg
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from trove_lite import catalog, datastores, quota
from trove_lite.configuration import apply as configuration_apply
from trove_lite.configuration import service as configuration_service
from trove_lite.db import create_requests, models
from trove_lite.db.session import Database
from trove_lite.datastores.mariadb import validation
from trove_lite.exceptions import BadRequest, Conflict, InstanceNotActive, NotFound
from trove_lite.backup import pitr
from trove_lite.instance import ha as instance_ha
from trove_lite.instance import replication
from trove_lite.status import ServiceStatus, TaskStatus, display_status

if TYPE_CHECKING:
    from sqlalchemy.engine import CursorResult

    from trove_lite.rpc.context import Context
    from trove_lite.rpc.taskmanager import TaskManagerAPI

LOG = logging.getLogger(__name__)

NAME_MAX = 255
RUNNING_BACKUP_STATES = ("NEW", "BUILDING", "SAVING")
# Service statuses in which restart/resize may start (Trove's action_is_allowed).
ACTION_SERVICE_STATES = frozenset([
    ServiceStatus.RUNNING, ServiceStatus.HEALTHY, ServiceStatus.SHUTDOWN,
    ServiceStatus.CRASHED, ServiceStatus.BLOCKED, ServiceStatus.RESTART_REQUIRED])


class InstanceNotFound(NotFound):
    code = "instance_not_found"
    message_format = "Instance %(id)s could not be found."


class TaskInProgress(Conflict):
    code = "instance_task_in_progress"
    message_format = ("Instance %(id)s is not currently available for %(action)s "
                      "(task status was %(task)s).")


class BackupNotFound(NotFound):
    code = "backup_not_found"
    message_format = "Backup %(id)s could not be found."


@dataclasses.dataclass(frozen=True)
class CreateRequest:
    """A validated-shape create body (schemas.py checked the JSON types)."""

    name: str
    flavor_ref: str | None   # None: a replica takes its source's
    volume_size: int | str | None   # a digit string too, as Trove accepts
    volume_type: str | None = None
    datastore: str | None = None
    datastore_version: str | None = None
    version_number: str | None = None
    databases: tuple = ()
    users: tuple = ()
    backup_ref: str | None = None
    restore_point: tuple | None = None   # (source instance id, restoreTime text)
    access: dict | None = None
    region_name: str | None = None
    configuration: str | None = None


@dataclasses.dataclass(frozen=True)
class InstanceSnapshot:
    """One instance with everything its views need, read in one session."""

    instance: models.Instance
    service: models.ServiceStatus | None
    datastore: models.Datastore
    version: models.DatastoreVersion
    fault: models.InstanceFault | None
    backup_running: bool
    replicas: tuple = ()  # ids of live replicas when this is a replication source
    endpoints: dict | None = None  # {"rw", "ro"} of its replication set (taskmanager/ha.py)
    configuration: dict | None = None  # {"name", "apply"} of its group (configuration/apply.py)
    ha: dict | None = None  # {"durability", "term"[, "rejoin"]} of its set (instance/ha.py)
    restorable_window: dict | None = None  # backup/pitr.py window (show only)

    @property
    def service_status(self) -> str:
        return self.service.status if self.service else ServiceStatus.NEW

    @property
    def status(self) -> str:
        return display_status(self.instance.task, self.service_status,
                              self.backup_running)


# -- pure decisions -----------------------------------------------------------

def _claim_none(inst: models.Instance) -> None:
    """Claim NONE on a loaded row (an admin's reset): shown at once, adopted by the
    taskmanager; the newest claim wins over any older one still pending."""
    inst.claimed_task, inst.claimed_at = TaskStatus.NONE, None
    inst.claim_seq = max(inst.claim_seq, inst.task_seq) + 1


def refuse_action(task_status: str, service_status: str, backup_running: bool) -> str | None:
    """Why restart/resize may not start now (None when it may)."""
    if task_status not in (TaskStatus.NONE, TaskStatus.RESTART_REQUIRED):
        return "task status was %s" % task_status
    if service_status not in ACTION_SERVICE_STATES:
        return "status was %s" % display_status(task_status, service_status)
    if backup_running:
        return "a backup is running"
    return None


def refuse_delete(task_status: str) -> str | None:
    """Why delete may not start now (None when it may): any running task blocks it."""
    if task_status in TaskStatus.ACTIVE:
        return "task status was %s" % task_status
    return None


def validate_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > NAME_MAX:
        raise BadRequest(reason="the instance name must be 1-%d characters" % NAME_MAX)
    return name


def validate_volume_size(size: int | str | None, max_size: int) -> int:
    if size is None:
        raise BadRequest(reason="a volume size is required (volume.size)")
    if isinstance(size, bool) or int(size) <= 0:
        raise BadRequest(reason="volume size %s must be an integer greater than 0" % size)
    if int(size) > max_size:
        raise BadRequest(reason="volume size %s GB is larger than the maximum of %d GB"
                                % (size, max_size))
    return int(size)


def flavor_id_from_ref(ref: object) -> str:
    """``flavorRef`` may be an id or a link ending in the id."""
    ref = str(ref).rstrip("/")
    return ref.rsplit("/", 1)[-1]


class InstanceService:
    """Instances of one control plane; see the module docstring for guarantees."""

    def __init__(self, conf: cfg.ConfigOpts, db: Database, taskmanager: TaskManagerAPI) -> None:
        replication.register(conf)
        self.conf = conf
        self.db = db
        self.taskmanager = taskmanager
        self.quotas = quota.QuotaEngine(conf)

    # -- reads ------------------------------------------------------------------
    def get(self, tenant_id: str, instance_id: str) -> InstanceSnapshot:
        with self.db.session() as s:
            snap = self._snapshots(s, [self._load(s, tenant_id, instance_id)])[0]
            _, view = pitr.instance_window(s, instance_id)
            return dataclasses.replace(snap, restorable_window=view)

    def list(self, tenant_id: str, limit: int, marker: str | None = None
             ) -> tuple[builtins.list[InstanceSnapshot], bool]:
        """(snapshots ordered by id, more_after) for ids greater than ``marker``."""
        with self.db.session() as s:
            q = select(models.Instance).where(models.Instance.tenant_id == tenant_id,
                                              models.Instance.deleted.is_(False))
            if marker:
                q = q.where(models.Instance.id > marker)
            rows = s.execute(q.order_by(models.Instance.id).limit(limit + 1)).scalars().all()
            return self._snapshots(s, rows[:limit]), len(rows) > limit

    def _load(self, s: Session, tenant_id: str, instance_id: str) -> models.Instance:
        return models.get_owned(s, models.Instance, tenant_id, instance_id,
                                InstanceNotFound(id=instance_id))

    def _snapshots(self, s: Session, rows: Sequence[models.Instance]
                   ) -> builtins.list[InstanceSnapshot]:
        ids = [r.id for r in rows]
        if not ids:
            return []
        services = {st.instance_id: st for st in s.execute(select(models.ServiceStatus).where(
            models.ServiceStatus.instance_id.in_(ids))).scalars()}
        backing_up = set(s.execute(select(models.Backup.instance_id).where(
            models.Backup.instance_id.in_(ids), models.Backup.deleted.is_(False),
            models.Backup.status.in_(RUNNING_BACKUP_STATES))).scalars())
        replicas = replication.replicas_of(s, ids)
        endpoints = {e.instance_id: {"rw": e.rw, "ro": e.ro} for e in s.execute(
            select(models.ReplicationEndpoint).where(
                models.ReplicationEndpoint.instance_id.in_(ids))).scalars()}
        groups = configuration_apply.blocks(s, rows)
        ha_blocks = instance_ha.blocks(s, rows, self.conf.replication.durability)
        groups.update(configuration_apply.detach_blocks(s, rows))
        out = []
        for row in rows:
            version = catalog.get_version_by_id(s, row.datastore_version_id)
            out.append(InstanceSnapshot(row, services.get(row.id), version.datastore, version,
                                        None, row.id in backing_up,
                                        tuple(replicas.get(row.id, ())),
                                        endpoints.get(row.id), groups.get(row.id),
                                        ha_blocks.get(row.id)))
        return [self._with_fault(s, snap) for snap in out]

    def _with_fault(self, s: Session, snap: InstanceSnapshot) -> InstanceSnapshot:
        """The latest fault when in ERROR, or when the last operation left one (an
        upgrade rolled back: ACTIVE on the old version, and the reason shown)."""
        started = snap.instance.task_started_at
        if snap.status != "ERROR" and started is None:
            return snap
        fault = s.execute(select(models.InstanceFault).where(
            models.InstanceFault.instance_id == snap.instance.id,
            models.InstanceFault.deleted.is_(False)).order_by(
            models.InstanceFault.created.desc())).scalars().first()
        if snap.status != "ERROR" and (fault is None or (started is not None
                                                         and fault.created < started)):
            return snap
        return dataclasses.replace(snap, fault=fault)

    # -- create -----------------------------------------------------------------
    def create(self, ctx: Context, tenant_id: str,
               req: CreateRequest) -> InstanceSnapshot:
        """Validate, insert Instance(BUILDING)+ServiceStatus(NEW) atomically, cast."""
        validate_name(req.name)
        size = validate_volume_size(req.volume_size, self.conf.api.max_volume_size)
        databases = [validation.validate_database_spec(d) for d in req.databases]
        users = [validation.validate_user_spec(u) for u in req.users]
        if req.region_name and req.region_name != self.conf.region:
            raise BadRequest(reason="region %s is not served here (this is %s)"
                                    % (req.region_name, self.conf.region))
        now = models.utcnow()
        with self.db.session() as s:
            datastore, version = catalog.resolve_datastore_version(
                s, req.datastore, req.datastore_version, req.version_number)
            flavor = catalog.find_flavor(s, flavor_id_from_ref(req.flavor_ref))
            catalog.check_flavor_allowed(s, flavor, datastore, version)
            backup_id = self._restorable_backup(s, tenant_id, req.backup_ref, version)
            restore_point = None
            if req.restore_point:
                backup_id, restore_point = self._point_in_time(s, tenant_id,
                                                               *req.restore_point)
            configuration_id = (configuration_service.check_attachable(
                s, tenant_id, req.configuration, version.id) if req.configuration else None)
            # same transaction as the insert: concurrent creates cannot overshoot
            self.quotas.reserve(s, tenant_id, quota.instance_deltas(size, flavor.ram))
            inst = models.Instance(
                id=models.new_id(), name=req.name, tenant_id=tenant_id,
                flavor_id=flavor.id, datastore_version_id=version.id, volume_size=size,
                volume_type=req.volume_type, region_id=self.conf.region,
                claimed_task=TaskStatus.BUILDING, claimed_at=now, claim_seq=1,
                restore_backup_id=backup_id, configuration_id=configuration_id,
                restore_point=restore_point,
                access=json.dumps(req.access) if req.access is not None else None,
                created=now, updated=now)
            s.add(inst)
            # users and databases wait (encrypted) with the row: a lost cast loses nothing
            s.add(create_requests.CreateRequests(self.conf, self.db).row(
                inst.id, databases, users, manager=version.manager))
        LOG.info("instance %s (%s) recorded for tenant %s: %s %s, flavor %s, %d GB",
                 inst.id, inst.name, tenant_id, datastore.name, version.name, flavor.id, size)
        # no users on the bus: the taskmanager reads the stored request
        self._cast("create_instance", ctx, inst.id, databases=[], users=[],
                   backup_id=backup_id, root_password=None)
        return self.get(tenant_id, inst.id)

    def _point_in_time(self, s: Session, tenant_id: str, source_ref: str,
                       restore_time: str) -> tuple[str, str]:
        """(backup id, restore_point JSON) of a point-in-time restore of the tenant's
        instance ``source_ref`` (it may have been deleted since); 400 when the time
        is outside its restorable window (the message states the window)."""
        when = pitr.parse_time(restore_time)
        source = s.execute(select(models.Instance).where(
            models.Instance.id == source_ref,
            models.Instance.tenant_id == tenant_id)).scalars().first()
        if source is None:
            raise InstanceNotFound(id=source_ref)
        manager = s.execute(select(models.DatastoreVersion.manager).where(
            models.DatastoreVersion.id == source.datastore_version_id)).scalar()
        if not datastores.get(manager).binlog_archive:
            raise BadRequest(reason="instance %s is a %s instance: its binary log is not "
                                    "archived, so it has no point-in-time restore; restore "
                                    "one of its backups instead" % (source_ref, manager))
        covers, view = pitr.instance_window(s, source.id)
        planned = pitr.plan(covers, view, when, time.time())
        return planned["backup_id"], json.dumps({"source_id": source.id,
                                                 "restore_time": when})

    def _restorable_backup(self, s: Session, tenant_id: str, backup_ref: str | None,
                           version: models.DatastoreVersion | None = None) -> str | None:
        if not backup_ref:
            return None
        backup = models.get_owned(s, models.Backup, tenant_id, backup_ref,
                                  BackupNotFound(id=backup_ref))
        if backup.status != "COMPLETED":
            raise BadRequest(reason="backup %s is %s; only a COMPLETED backup can be "
                                    "restored" % (backup_ref, backup.status))
        source = (s.get(models.DatastoreVersion, backup.datastore_version_id)
                  if backup.datastore_version_id else None)
        if version is not None and source is not None and source.manager != version.manager:
            raise BadRequest(reason="backup %s is a %s backup; it cannot be restored into "
                                    "a %s instance" % (backup_ref, source.manager,
                                                       version.manager))
        return backup.id

    # -- updates ----------------------------------------------------------------
    def rename(self, ctx: Context, tenant_id: str, instance_id: str,
               name: object) -> None:
        checked = validate_name(name)
        with self.db.session() as s:
            self._load(s, tenant_id, instance_id).name = checked

    def set_access(self, ctx: Context, tenant_id: str, instance_id: str,
                   access: dict) -> None:
        """Merge ``access`` (``is_public`` and/or ``allowed_cidrs``) into the instance's;
        the taskmanager applies it to the server."""
        with self.db.session() as s:
            inst = self._load(s, tenant_id, instance_id)
            current: dict[str, Any] = {"is_public": False, "allowed_cidrs": []}
            current.update(json.loads(inst.access) if inst.access else {})
            current.update(access)
            inst.access = json.dumps(current)
        self._cast("update_access", ctx, instance_id)

    def delete(self, ctx: Context, tenant_id: str, instance_id: str) -> None:
        replication.refuse_delete_source(self, tenant_id, instance_id)
        self._start_task(tenant_id, instance_id, "delete", TaskStatus.DELETING,
                         lambda snap: refuse_delete(snap.instance.task))
        self._cast("delete_instance", ctx, instance_id)

    def restart(self, ctx: Context, tenant_id: str, instance_id: str) -> None:
        self._start_task(tenant_id, instance_id, "restart", TaskStatus.REBOOTING,
                         self._refuse_action)
        self._cast("restart_instance", ctx, instance_id)

    def resize_flavor(self, ctx: Context, tenant_id: str, instance_id: str,
                      flavor_ref: str) -> None:
        new_id = flavor_id_from_ref(flavor_ref)
        with self.db.session() as s:
            snap = self._snapshots(s, [self._load(s, tenant_id, instance_id)])[0]
            flavor = catalog.find_flavor(s, new_id)
            if flavor.id == snap.instance.flavor_id:
                raise BadRequest(reason="the new flavor id must be different than the "
                                        "current flavor id of '%s'" % flavor.id)
            catalog.check_flavor_allowed(s, flavor, snap.datastore, snap.version)
            old_ram = catalog.find_flavor(s, snap.instance.flavor_id).ram
        old = self._start_task(tenant_id, instance_id, "resize", TaskStatus.RESIZING,
                               self._refuse_action,
                               lambda s, _: self.quotas.reserve(
                                   s, tenant_id, {"ram": flavor.ram - old_ram}))
        self._cast("resize_flavor", ctx, instance_id,
                   old_flavor_id=old.instance.flavor_id, new_flavor_id=flavor.id)

    def resize_volume(self, ctx: Context, tenant_id: str, instance_id: str,
                      new_size: int | str | None) -> None:
        size = validate_volume_size(new_size, self.conf.api.max_volume_size)
        current = self.get(tenant_id, instance_id).instance.volume_size or 0
        if size <= current:
            raise BadRequest(reason="the new volume size %d GB must be larger than the "
                                    "current size of %d GB" % (size, current))
        self._start_task(tenant_id, instance_id, "resize", TaskStatus.RESIZING,
                         self._refuse_action,
                         lambda s, snap: self.quotas.reserve(
                             s, tenant_id,
                             {"volumes": size - (snap.instance.volume_size or 0)}))
        self._cast("resize_volume", ctx, instance_id, new_size=size)

    # -- mgmt actions (any tenant's instance; the API checks the admin policy) ----
    def reboot(self, ctx: Context, tenant_id: str, instance_id: str,
               image_id: str | None = None) -> None:
        """Reboot the server, or rebuild it onto ``image_id`` (a registered image)."""
        if image_id is not None:
            with self.db.session() as s:
                known = s.execute(select(models.DatastoreVersion.id).where(
                    models.DatastoreVersion.image_id == image_id)).first()
            if known is None:
                raise BadRequest(reason="image %s is not the image of any datastore "
                                        "version" % image_id)
        action = "rebuild" if image_id else "reboot"
        self._start_task(tenant_id, instance_id, action, TaskStatus.REBOOTING,
                         self._refuse_action)
        if image_id:
            self._cast("rebuild_instance", ctx, instance_id, image_id=image_id)
        else:
            self._cast("reboot_instance", ctx, instance_id)

    def reset_task_status(self, tenant_id: str, instance_id: str) -> None:
        """mgmt reset-task-status: the task becomes NONE, nothing else changes (a
        claim of NONE: the taskmanager's reconciler adopts it)."""
        with self.db.session() as s:
            inst = self._load(s, tenant_id, instance_id)
            LOG.info("instance %s: task %s reset to NONE", instance_id, inst.task)
            _claim_none(inst)

    def reset_status(self, ctx: Context, tenant_id: str, instance_id: str) -> None:
        """Clear the task now (so a delete may follow at once), then tell the taskmanager.

        The taskmanager has the conductor (the only writer of service_statuses) set
        the service status UNKNOWN (shown as ERROR) unless the guest last reported a
        serving database; the guest's next heartbeat sets the real one.
        """
        with self.db.session() as s:
            _claim_none(self._load(s, tenant_id, instance_id))
        self._cast("reset_status", ctx, instance_id)

    @staticmethod
    def _refuse_action(snap: InstanceSnapshot) -> str | None:
        return refuse_action(snap.instance.task, snap.service_status,
                             snap.backup_running)

    def _start_task(self, tenant_id: str, instance_id: str, action: str, new_task: str,
                    refuse: Callable[[InstanceSnapshot], str | None],
                    reserve: Callable[[Session, InstanceSnapshot], None] | None = None
                    ) -> InstanceSnapshot:
        """Move the instance to ``new_task`` if ``refuse(snapshot)`` says nothing; 409 else.

        ``reserve(session, snapshot)`` takes quota in the same transaction (413).
        """
        with self.db.session() as s:
            snap = self._snapshots(s, [self._load(s, tenant_id, instance_id)])[0]
            reason = refuse(snap)
            if reason is not None:
                if snap.instance.task in TaskStatus.ACTIVE:
                    raise TaskInProgress(id=instance_id, action=action,
                                         task=snap.instance.task)
                raise InstanceNotActive(id=instance_id, status=snap.status, action=action,
                                        message="Instance %s is not available for %s: %s."
                                                % (instance_id, action, reason))
            if reserve is not None:
                reserve(s, snap)
            inst = snap.instance
            # an UPDATE's result is a CursorResult (Session.execute is typed for any)
            res = cast("CursorResult[Any]", s.execute(update(models.Instance).where(
                models.Instance.id == instance_id,
                models.Instance.task_status == inst.task_status,
                models.Instance.task_seq == inst.task_seq,
                models.Instance.claim_seq == inst.claim_seq).values(
                claim_seq=inst.claim_seq + 1, claimed_task=new_task,
                claimed_at=models.utcnow(), updated=models.utcnow())))
            if res.rowcount != 1:
                raise TaskInProgress(id=instance_id, action=action, task="changing")
        LOG.info("instance %s: %s requested (task %s claimed)", instance_id, action, new_task)
        return snap

    def _cast(self, method: str, ctx: Context, instance_id: str,
              **kwargs: Any) -> None:
        try:
            getattr(self.taskmanager, method)(ctx, instance_id=instance_id, **kwargs)
        except Exception:
            # The intent is recorded; the taskmanager's reconciler picks it up.
            LOG.exception("cast %s for instance %s failed; the reconciler will resume it",
                          method, instance_id)
