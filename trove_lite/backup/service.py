"""The backup service of the API: validate, record intent, cast.

Like the instance service it never touches a store or a guest: it writes a
Backup row (NEW) and casts ``create_backup`` to the taskmanager, which asks the
guest to run it; the guest reports BUILDING -> SAVING -> COMPLETED/FAILED
through the conductor. A lost cast is caught by the taskmanager's stalled-backup
check (a NEW backup with no report within ``[backup] progress_timeout`` fails).

Deleting a backup deletes its incremental children (and theirs): the API refuses
while any of them runs (409) and casts ``delete_backup``; the taskmanager removes
the objects, children first, then the rows.
"""

import dataclasses
import logging
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Protocol, Sequence, cast

from oslo_config import cfg
from sqlalchemy import select
from sqlalchemy.orm import Session

from trove_lite import datastores, quota
from trove_lite.common import backup_opts as opts
from trove_lite.db import models
from trove_lite.db.session import Database
from trove_lite.exceptions import BadRequest, Conflict, InstanceNotActive, NotFound
# one class per error code: a restore's missing backup is the same error
from trove_lite.instance.service import BackupNotFound, InstanceService
from trove_lite.rpc.context import Context

if TYPE_CHECKING:
    from trove_lite.rpc.taskmanager import TaskManagerAPI

LOG = logging.getLogger(__name__)

RUNNING = ("NEW", "BUILDING", "SAVING")
NAME_MAX = 255
DESCRIPTION_MAX = 512


class BackupInProgress(Conflict):
    code = "backup_in_progress"
    message_format = "Backup %(id)s is %(status)s; %(action)s must wait until it ends."


class StrategyNotFound(NotFound):
    code = "backup_strategy_not_found"
    message_format = "No backup strategy for project %(project)s, instance %(instance)s."


@dataclasses.dataclass(frozen=True)
class BackupView:
    """One backup with what its view needs."""

    backup: models.Backup
    datastore: str | None
    version: str | None


class BackupCasts(Protocol):
    """Where the service sends its work: the taskmanager's RPC client
    (rpc/taskmanager.py, ``ctx`` a RequestContext), or the taskmanager itself
    when its backup scheduler creates and deletes backups (``ctx`` None)."""

    def create_backup(self, ctx: Any, backup_id: str, instance_id: str) -> None: ...

    def delete_backup(self, ctx: Any, backup_id: str) -> None: ...


# -- pure decisions ---------------------------------------------------------------

def refuse_backup(instance_status: str) -> str | None:
    """Why a backup of an instance shown as ``instance_status`` may not start."""
    if instance_status == "BACKUP":
        return "a backup of it is running"
    if instance_status != "ACTIVE":
        return "it is %s" % instance_status
    return None


def choose_container(explicit: str | None, parent_container: str | None,
                     strategies: Mapping[str, str], default: str) -> str:
    """Where a new backup goes: the request, else its parent's (a chain stays in one
    container), else the instance's strategy, the project's, the configured one.
    ``strategies``: {instance_id or '': container} of the tenant, instance first."""
    for candidate in (explicit, parent_container, strategies.get("instance"),
                      strategies.get("project"), default):
        if candidate:
            return candidate
    return default


def validate_container(name: object) -> str:
    if not isinstance(name, str) or not name or len(name) > 200 or "/" in name:
        raise BadRequest(reason="container %r must be 1-200 characters without '/'" % name)
    return name


def descendants(rows: Iterable[tuple[str, str | None]], root_id: str) -> list[str]:
    """Ids of ``root_id``'s children, grandchildren... deepest first (delete order).
    ``rows``: (id, parent_id) pairs of the tenant's live backups."""
    children: dict[str | None, list[str]] = {}
    for bid, parent in rows:
        children.setdefault(parent, []).append(bid)
    order: list[tuple[int, str]] = []
    stack = [(root_id, 0)]
    while stack:
        bid, depth = stack.pop()
        order.append((depth, bid))
        stack.extend((c, depth + 1) for c in children.get(bid, ()))
    return [bid for _, bid in sorted(order, key=lambda item: -item[0])]


class BackupService:
    def __init__(self, conf: cfg.ConfigOpts, db: Database, taskmanager: BackupCasts) -> None:
        opts.register(conf)
        self.conf = conf
        self.db = db
        self.taskmanager = taskmanager
        # only its reads (get) are used here: they send nothing to the taskmanager
        self.instances = InstanceService(conf, db, cast("TaskManagerAPI", taskmanager))
        self.quotas = quota.QuotaEngine(conf)

    # -- reads ------------------------------------------------------------------
    def _load(self, s: Session, tenant_id: str, backup_id: str) -> models.Backup:
        return models.get_owned(s, models.Backup, tenant_id, backup_id,
                                BackupNotFound(id=backup_id))

    def _views(self, s: Session, rows: Iterable[models.Backup]) -> list[BackupView]:
        out = []
        for row in rows:
            version = s.get(models.DatastoreVersion, row.datastore_version_id) \
                if row.datastore_version_id else None
            out.append(BackupView(row, version.datastore.name if version else None,
                                  version.name if version else None))
        return out

    def get(self, tenant_id: str, backup_id: str) -> BackupView:
        with self.db.session() as s:
            return self._views(s, [self._load(s, tenant_id, backup_id)])[0]

    def list(self, tenant_id: str, limit: int, marker: str | None = None,
             instance_id: str | None = None,
             datastore: str | None = None) -> tuple[list[BackupView], bool]:
        """(views ordered by id, more_after)."""
        with self.db.session() as s:
            q = select(models.Backup).where(models.Backup.tenant_id == tenant_id,
                                            models.Backup.deleted.is_(False))
            if instance_id:
                q = q.where(models.Backup.instance_id == instance_id)
            if datastore:
                versions = select(models.DatastoreVersion.id).join(models.Datastore).where(
                    (models.Datastore.name == datastore) | (models.Datastore.id == datastore))
                q = q.where(models.Backup.datastore_version_id.in_(versions))
            if marker:
                q = q.where(models.Backup.id > marker)
            rows = s.execute(q.order_by(models.Backup.id).limit(limit + 1)).scalars().all()
            return self._views(s, rows[:limit]), len(rows) > limit

    # -- create -------------------------------------------------------------------
    def create(self, ctx: Context | None, tenant_id: str,
               body: dict[str, Any]) -> BackupView:
        """Record a NEW backup of an ACTIVE instance and cast; returns its view."""
        name = body.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > NAME_MAX:
            raise BadRequest(reason="the backup name must be 1-%d characters" % NAME_MAX)
        description = body.get("description")
        if description is not None and len(description) > DESCRIPTION_MAX:
            raise BadRequest(reason="the description is longer than %d characters"
                                    % DESCRIPTION_MAX)
        if not body.get("instance"):
            raise BadRequest(reason="the instance to back up is required (instance)")
        driver = body.get("storage_driver")
        if driver and driver != self.conf.backup_storage.driver:
            raise BadRequest(reason="storage driver %r is not available here (this "
                                    "control plane stores backups with %r)"
                                    % (driver, self.conf.backup_storage.driver))
        explicit = body.get("swift_container")
        if explicit is not None:
            validate_container(explicit)
        snap = self.instances.get(tenant_id, body["instance"])
        instance_id = snap.instance.id
        reason = refuse_backup(snap.status)
        if reason:
            raise InstanceNotActive(id=instance_id, status=snap.status, action="backup",
                                    message="Instance %s cannot be backed up now: %s."
                                            % (instance_id, reason))
        wants_parent = bool(body.get("parent_id") or body.get("incremental"))
        if wants_parent and not datastores.get(snap.version.manager).incremental_backups:
            raise BadRequest(reason="%s backups are full logical dumps: incremental backups "
                                    "are not supported" % snap.version.manager)
        with self.db.session() as s:
            parent = self._parent(s, tenant_id, instance_id, body.get("parent_id"),
                                  bool(body.get("incremental")))
            container = choose_container(explicit, parent.container if parent else None,
                                         self._strategies(s, tenant_id, instance_id),
                                         self.conf.backup_storage.container)
            row = models.Backup(
                id=models.new_id(), name=name.strip(), description=description,
                tenant_id=tenant_id, instance_id=instance_id,
                parent_id=parent.id if parent else None,
                datastore_version_id=snap.instance.datastore_version_id,
                backup_type="incremental" if parent else "full",
                storage_driver=self.conf.backup_storage.driver, container=container,
                progress=0.0, status="NEW")
            # same transaction as the row: concurrent creates cannot overshoot (413)
            self.quotas.reserve(s, tenant_id, {"backups": 1})
            s.add(row)
        LOG.info("backup %s (%s) of instance %s recorded: %s%s into %s", row.id, row.name,
                 instance_id, row.backup_type,
                 " of %s" % row.parent_id if row.parent_id else "", container)
        try:
            self.taskmanager.create_backup(ctx, backup_id=row.id, instance_id=instance_id)
        except Exception:
            LOG.exception("cast create_backup for %s failed; it will fail as stalled",
                          row.id)
        return self.get(tenant_id, row.id)

    def _parent(self, s: Session, tenant_id: str, instance_id: str, parent_id: str | None,
                incremental: bool) -> models.Backup | None:
        """The parent backup: the one named, else with ``incremental`` the newest
        COMPLETED backup of the instance (none: a full backup)."""
        if parent_id:
            parent = models.get_owned(s, models.Backup, tenant_id, parent_id,
                                      BackupNotFound(id=parent_id))
            if parent.instance_id != instance_id:
                raise BadRequest(reason="parent backup %s is of another instance (%s)"
                                        % (parent_id, parent.instance_id))
            if parent.status != "COMPLETED":
                raise BadRequest(reason="parent backup %s is %s; an incremental backup "
                                        "needs a COMPLETED parent" % (parent_id,
                                                                      parent.status))
            return parent
        if not incremental:
            return None
        return s.execute(select(models.Backup).where(
            models.Backup.instance_id == instance_id, models.Backup.tenant_id == tenant_id,
            models.Backup.deleted.is_(False), models.Backup.status == "COMPLETED")
            .order_by(models.Backup.created.desc())).scalars().first()

    def _strategies(self, s: Session, tenant_id: str, instance_id: str) -> dict[str, str]:
        found = {}
        for row in s.execute(select(models.BackupStrategy).where(
                models.BackupStrategy.tenant_id == tenant_id,
                models.BackupStrategy.instance_id.in_(["", instance_id]))).scalars():
            found["instance" if row.instance_id else "project"] = row.swift_container
        return found

    # -- delete -------------------------------------------------------------------
    def delete(self, ctx: Context | None, tenant_id: str, backup_id: str) -> None:
        """Refuse (409) while the backup or any descendant runs; else cast the delete."""
        with self.db.session() as s:
            self._load(s, tenant_id, backup_id)
            rows = s.execute(select(models.Backup.id, models.Backup.parent_id,
                                    models.Backup.status).where(
                models.Backup.tenant_id == tenant_id,
                models.Backup.deleted.is_(False))).all()
        status = {r.id: r.status for r in rows}
        doomed = descendants([(r.id, r.parent_id) for r in rows], backup_id)
        for bid in doomed:
            if status[bid] in RUNNING:
                raise BackupInProgress(id=bid, status=status[bid],
                                       action="deleting backup %s" % backup_id)
        LOG.info("delete of backup %s requested (%d backup(s) with its children)",
                 backup_id, len(doomed))
        self.taskmanager.delete_backup(ctx, backup_id=backup_id)

    # -- strategies ---------------------------------------------------------------
    def create_strategy(self, tenant_id: str, instance_id: str | None,
                        container: str) -> models.BackupStrategy:
        validate_container(container)
        if instance_id:
            self.instances.get(tenant_id, instance_id)
        with self.db.session() as s:
            row = s.execute(select(models.BackupStrategy).where(
                models.BackupStrategy.tenant_id == tenant_id,
                models.BackupStrategy.instance_id == (instance_id or ""))).scalars().first()
            if row is None:
                row = models.BackupStrategy(tenant_id=tenant_id,
                                            instance_id=instance_id or "",
                                            backend=self.conf.backup_storage.driver,
                                            swift_container=container)
                s.add(row)
            else:
                row.swift_container = container
            return row

    def list_strategies(self, tenant_id: str,
                        instance_id: str | None = None) -> Sequence[models.BackupStrategy]:
        with self.db.session() as s:
            q = select(models.BackupStrategy).where(
                models.BackupStrategy.tenant_id == tenant_id)
            if instance_id:
                q = q.where(models.BackupStrategy.instance_id == instance_id)
            return s.execute(q.order_by(models.BackupStrategy.created)).scalars().all()

    def delete_strategy(self, tenant_id: str, instance_id: str | None = None) -> None:
        with self.db.session() as s:
            row = s.execute(select(models.BackupStrategy).where(
                models.BackupStrategy.tenant_id == tenant_id,
                models.BackupStrategy.instance_id == (instance_id or ""))).scalars().first()
            if row is None:
                raise StrategyNotFound(project=tenant_id, instance=instance_id or "(any)")
            s.delete(row)
