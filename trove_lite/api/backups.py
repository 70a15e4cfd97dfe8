"""Handlers of ``/backups``, ``/instances/{id}/backups`` and ``/backup_strategies``.

Bodies as python-troveclient sends them; views with the keys it (and ``trove
backup-show``) reads: id, name, description, locationRef, instance_id, created,
updated, size (GB, as Trove), status, parent_id, project_id, datastore{type,
version, version_id}, storage_driver; plus progress (percent of the estimated
data streamed), checksum and fail_reason. Nothing secret is stored on a backup.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
import json

from oslo_config import cfg

from trove_lite.api import schemas, views
from trove_lite.api.pagination import next_links, page_params
from trove_lite.api.schemas import name, obj, text
from trove_lite.backup.service import BackupService, BackupView
from trove_lite.instance import replication
from trove_lite.db.session import Database
from trove_lite.api.views import JsonBody, Result
from trove_lite.db import models
from trove_lite.rpc.taskmanager import TaskManagerAPI

if TYPE_CHECKING:
    from trove_lite.api.wsgi import ApiRequest

BACKUP_CREATE = obj(["backup"], backup=obj(
    ["name"], name=name(255), instance=schemas.ID, description=text(512),
    parent_id=schemas.NULLABLE_ID,
    incremental={"oneOf": [schemas.integer(0, 1, nullable=True), {"type": "boolean"}]},
    storage_driver=name(32, nullable=True), swift_container=name(255, nullable=True)))

STRATEGY_CREATE = obj(["backup_strategy"], backup_strategy=obj(
    ["swift_container"], instance_id=schemas.NULLABLE_ID, swift_container=name(255)))


def backup_view(view: BackupView) -> JsonBody:
    b = view.backup
    try:
        meta = json.loads(b.meta) if b.meta else {}
    except ValueError:
        meta = {}
    out = {
        "id": b.id, "name": b.name, "description": b.description,
        "locationRef": b.location if b.status == "COMPLETED" else None,
        "instance_id": b.instance_id,
        "created": views.isotime(b.created), "updated": views.isotime(b.updated),
        "size": b.size, "status": b.status, "parent_id": b.parent_id,
        "project_id": b.tenant_id,
        "datastore": {"type": view.datastore, "version": view.version,
                      "version_id": b.datastore_version_id},
        "storage_driver": b.storage_driver,
        "progress": b.progress, "checksum": b.checksum, "fail_reason": b.fail_reason,
        "backup_type": b.backup_type, "container": b.container,
        "size_bytes": meta.get("size_bytes"),
    }
    label = replication.backup_label(meta)
    if label:       # a backup of a replication set's member (seeds its new replicas)
        out["replication"] = label
    return out


def strategy_view(row: models.BackupStrategy) -> JsonBody:
    return {"project_id": row.tenant_id, "instance_id": row.instance_id or None,
            "backend": row.backend, "swift_container": row.swift_container}


class BackupsController:
    def __init__(self, conf: cfg.ConfigOpts, db: Database, taskmanager: TaskManagerAPI) -> None:
        self.conf = conf
        self.service = BackupService(conf, db, taskmanager)

    def _list(self, req: ApiRequest, path: str, instance_id: str | None = None) -> Result:
        limit, marker = page_params(req.params, self.conf.api.max_limit)
        found, more = self.service.list(req.tenant_id, limit, marker,
                                        instance_id=instance_id or req.params.get(
                                            "instance_id"),
                                        datastore=req.params.get("datastore"))
        return 200, {"backups": [backup_view(v) for v in found],
                     "links": next_links(req.links.url(path), req.params, limit,
                                         [v.backup.id for v in found], more)}

    def index(self, req: ApiRequest) -> Result:
        req.can("backup:index")
        return self._list(req, "backups")

    def for_instance(self, req: ApiRequest, instance_id: str) -> Result:
        req.can("instance:backups", {"instance_id": instance_id})
        self.service.instances.get(req.tenant_id, instance_id)  # 404 for a missing one
        return self._list(req, "instances/%s/backups" % instance_id, instance_id)

    def show(self, req: ApiRequest, backup_id: str) -> Result:
        req.can("backup:show", {"backup_id": backup_id})
        return 200, {"backup": backup_view(self.service.get(req.tenant_id, backup_id))}

    def create(self, req: ApiRequest) -> Result:
        req.can("backup:create")
        body = req.body(BACKUP_CREATE)["backup"]
        view = self.service.create(req.ctx, req.tenant_id, body)
        return 202, {"backup": backup_view(view)}

    def delete(self, req: ApiRequest, backup_id: str) -> Result:
        req.can("backup:delete", {"backup_id": backup_id})
        self.service.delete(req.ctx, req.tenant_id, backup_id)
        return 202, None

    # -- strategies -----------------------------------------------------------------
    def strategy_index(self, req: ApiRequest) -> Result:
        req.can("backup_strategy:index")
        rows = self.service.list_strategies(req.tenant_id, req.params.get("instance_id"))
        return 200, {"backup_strategies": [strategy_view(r) for r in rows]}

    def strategy_create(self, req: ApiRequest) -> Result:
        req.can("backup_strategy:create")
        b = req.body(STRATEGY_CREATE)["backup_strategy"]
        row = self.service.create_strategy(req.tenant_id, b.get("instance_id"),
                                           b["swift_container"])
        return 202, {"backup_strategy": strategy_view(row)}

    def strategy_delete(self, req: ApiRequest) -> Result:
        req.can("backup_strategy:delete")
        self.service.delete_strategy(req.tenant_id, req.params.get("instance_id"))
        return 202, None

