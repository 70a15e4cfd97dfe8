"""Handlers of ``/backup_schedules``: server-side scheduled backups (issue 16).

Body ``{"backup_schedule": {"instance_id", "name", "pattern" (5-field cron),
"incremental": bool, "retention": {"count": N} | {"days": D}}}``; PATCH takes
any of name, pattern, incremental, retention (the instance stays). The view adds
id, project_id, created/updated, next_run, last_run, last_backup_id,
last_backup_status and last_result (what the last run did, or why it made no
backup). Times are UTC, ``YYYY-MM-DDTHH:MM:SS`` like the rest of the API.
"""

from __future__ import annotations

from typing import Any, TYPE_CHECKING

from oslo_config import cfg

from trove_lite.api import schemas, views
from trove_lite.api.schemas import name, obj
from trove_lite.backup.schedule_service import ScheduleService, ScheduleView
from trove_lite.db.session import Database
from trove_lite.api.views import JsonBody, Result

if TYPE_CHECKING:
    from trove_lite.api.wsgi import ApiRequest

RETENTION = {"oneOf": [obj(["count"], count=schemas.integer(1, 1000)),
                       obj(["days"], days=schemas.integer(1, 3650))]}
FIELDS: dict[str, Any] = dict(name=name(255), pattern=name(255), incremental={"type": "boolean"},
              retention=RETENTION)
SCHEDULE_CREATE = obj(["backup_schedule"], backup_schedule=obj(
    ["instance_id", "name", "pattern", "retention"], instance_id=schemas.ID, **FIELDS))
SCHEDULE_UPDATE = obj(["backup_schedule"], backup_schedule=obj(min_properties=1, **FIELDS))


def schedule_view(view: ScheduleView) -> JsonBody:
    row = view.schedule
    retention = ({"count": row.retention_count} if row.retention_count is not None
                 else {"days": row.retention_days})
    return {
        "id": row.id, "name": row.name, "instance_id": row.instance_id,
        "project_id": row.tenant_id, "pattern": row.pattern,
        "incremental": bool(row.incremental), "retention": retention,
        "next_run": views.isotime(row.next_run), "last_run": views.isotime(row.last_run),
        "last_backup_id": row.last_backup_id,
        "last_backup_status": view.last_backup_status, "last_result": row.last_result,
        "created": views.isotime(row.created), "updated": views.isotime(row.updated),
    }


class BackupSchedulesController:
    def __init__(self, conf: cfg.ConfigOpts, db: Database) -> None:
        self.service = ScheduleService(conf, db)

    def index(self, req: ApiRequest) -> Result:
        req.can("backup_schedule:index")
        found = self.service.list(req.tenant_id, req.params.get("instance_id"))
        return 200, {"backup_schedules": [schedule_view(v) for v in found]}

    def show(self, req: ApiRequest, schedule_id: str) -> Result:
        req.can("backup_schedule:show", {"schedule_id": schedule_id})
        return 200, {"backup_schedule": schedule_view(
            self.service.get(req.tenant_id, schedule_id))}

    def create(self, req: ApiRequest) -> Result:
        req.can("backup_schedule:create")
        body = req.body(SCHEDULE_CREATE)["backup_schedule"]
        return 201, {"backup_schedule": schedule_view(
            self.service.create(req.tenant_id, body))}

    def update(self, req: ApiRequest, schedule_id: str) -> Result:
        req.can("backup_schedule:update", {"schedule_id": schedule_id})
        body = req.body(SCHEDULE_UPDATE)["backup_schedule"]
        return 200, {"backup_schedule": schedule_view(
            self.service.update(req.tenant_id, schedule_id, body))}

    def delete(self, req: ApiRequest, schedule_id: str) -> Result:
        req.can("backup_schedule:delete", {"schedule_id": schedule_id})
        self.service.delete(req.tenant_id, schedule_id)
        return 202, None
