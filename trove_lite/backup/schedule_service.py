"""The backup-schedule service of the API: validate, record, read.

The API only writes the schedule's row (with its first ``next_run``); the
taskmanager's scheduler (taskmanager/scheduler.py) runs it. Nothing is cast: a
schedule needs no message to take effect, so there is none to lose.

Every check runs before anything is written (a refused request changes
nothing). A schedule of a deleted instance is not shown, and the scheduler
removes it on its next tick; its backups stay, as any backup outlives its instance.
"""

import dataclasses
import datetime
import logging
from typing import Any, Callable

from oslo_config import cfg
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from trove_lite.backup import schedule_rules
from trove_lite.common import backup_opts as opts
from trove_lite.db import models
from trove_lite.db.session import Database
from trove_lite.exceptions import BadRequest, NotFound, QuotaExceeded
from trove_lite.instance.service import InstanceNotFound

LOG = logging.getLogger(__name__)


class ScheduleNotFound(NotFound):
    code = "backup_schedule_not_found"
    message_format = "Backup schedule %(id)s could not be found."


@dataclasses.dataclass(frozen=True)
class ScheduleView:
    """A schedule with the status of the backup its last run made."""

    schedule: models.BackupSchedule
    last_backup_status: str | None


class ScheduleService:
    def __init__(self, conf: cfg.ConfigOpts, db: Database,
                 clock: Callable[[], datetime.datetime] = models.utcnow) -> None:
        opts.register(conf)
        self.conf = conf
        self.db = db
        self.clock = clock

    # -- reads ------------------------------------------------------------------
    def _live(self, tenant_id: str) -> Select[models.BackupSchedule]:
        return select(models.BackupSchedule).join(
            models.Instance, models.Instance.id == models.BackupSchedule.instance_id).where(
            models.BackupSchedule.tenant_id == tenant_id,
            models.BackupSchedule.deleted.is_(False), models.Instance.deleted.is_(False))

    def _load(self, s: Session, tenant_id: str, schedule_id: str) -> models.BackupSchedule:
        row = s.execute(self._live(tenant_id).where(
            models.BackupSchedule.id == schedule_id)).scalars().first()
        if row is None:
            raise ScheduleNotFound(id=schedule_id)
        return row

    @staticmethod
    def _view(s: Session, row: models.BackupSchedule) -> ScheduleView:
        backup = s.get(models.Backup, row.last_backup_id) if row.last_backup_id else None
        return ScheduleView(row, backup.status if backup else None)

    def get(self, tenant_id: str, schedule_id: str) -> ScheduleView:
        with self.db.session() as s:
            return self._view(s, self._load(s, tenant_id, schedule_id))

    def list(self, tenant_id: str, instance_id: str | None = None) -> list[ScheduleView]:
        with self.db.session() as s:
            q = self._live(tenant_id)
            if instance_id:
                q = q.where(models.BackupSchedule.instance_id == instance_id)
            rows = s.execute(q.order_by(models.BackupSchedule.created,
                                        models.BackupSchedule.id)).scalars().all()
            return [self._view(s, r) for r in rows]

    # -- writes -------------------------------------------------------------------
    def _first_run(self, pattern: str) -> datetime.datetime:
        try:
            return schedule_rules.check_pattern(
                pattern, self.clock(), self.conf.backup_schedule.allow_seconds_field)
        except schedule_rules.PatternError as e:
            raise BadRequest(reason="invalid input for field 'backup_schedule/pattern': %s"
                             % e) from None

    @staticmethod
    def _name(body: dict[str, Any]) -> str:
        if not body["name"].strip():
            raise BadRequest(reason="invalid input for field 'backup_schedule/name': "
                                    "it is blank")
        return body["name"].strip()

    @staticmethod
    def _retention(body: dict[str, Any]) -> tuple[int | None, int | None]:
        retention = body["retention"]
        return retention.get("count"), retention.get("days")

    def create(self, tenant_id: str, body: dict) -> ScheduleView:
        """Record a schedule of one of the tenant's instances (404 for another's)."""
        first = self._first_run(body["pattern"])
        name = self._name(body)
        count, days = self._retention(body)
        with self.db.session() as s:
            models.get_owned(s, models.Instance, tenant_id, body["instance_id"],
                             InstanceNotFound(id=body["instance_id"]))
            limit = self.conf.backup_schedule.max_per_tenant
            used = s.execute(select(func.count()).select_from(models.BackupSchedule).where(
                models.BackupSchedule.tenant_id == tenant_id,
                models.BackupSchedule.deleted.is_(False))).scalar_one()
            if used >= limit:
                raise QuotaExceeded(resources="backup_schedules (%d of %d)" % (used, limit))
            row = models.BackupSchedule(
                id=models.new_id(), tenant_id=tenant_id, instance_id=body["instance_id"],
                name=name, pattern=" ".join(body["pattern"].split()),
                incremental=bool(body.get("incremental", False)),
                retention_count=count, retention_days=days, next_run=first)
            s.add(row)
            s.flush()
            LOG.info("backup schedule %s (%r) of instance %s: %r, first run %s",
                     row.id, row.pattern, row.instance_id, row.name, first)
            return self._view(s, row)

    def update(self, tenant_id: str, schedule_id: str, body: dict) -> ScheduleView:
        """Change name, pattern, incremental or retention; a new pattern moves next_run."""
        first = self._first_run(body["pattern"]) if "pattern" in body else None
        name = self._name(body) if "name" in body else None
        with self.db.session() as s:
            row = self._load(s, tenant_id, schedule_id)
            if name is not None:
                row.name = name
            if first is not None:
                row.pattern, row.next_run = " ".join(body["pattern"].split()), first
            if "incremental" in body:
                row.incremental = bool(body["incremental"])
            if "retention" in body:
                row.retention_count, row.retention_days = self._retention(body)
            s.flush()
            return self._view(s, row)

    def delete(self, tenant_id: str, schedule_id: str) -> None:
        """The schedule stops; the backups it made stay (delete them as any backup)."""
        with self.db.session() as s:
            row = self._load(s, tenant_id, schedule_id)
            row.deleted, row.deleted_at = True, self.clock()
        LOG.info("backup schedule %s deleted", schedule_id)

