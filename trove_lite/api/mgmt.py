"""Handlers of the admin-only ``/mgmt/`` API: quotas, instances of every
tenant, guest ping and root history.

Everything under ``/mgmt/`` is refused (403) for non-admins by the auth
middleware before routing (policy ``mgmt:access``); each handler checks its
own rule too, so an operator can narrow one without the other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select
from oslo_config import cfg

from trove_lite import quota
from trove_lite.api import schemas, views
from trove_lite.api.schemas import obj
from trove_lite.api.pagination import next_links, page_params
from trove_lite.db import models
from trove_lite.exceptions import BadRequest
from trove_lite.db.session import Database
from trove_lite.api.views import JsonBody, Links, Result
from trove_lite.instance.service import InstanceNotFound, InstanceService, InstanceSnapshot

if TYPE_CHECKING:
    from trove_lite.api.wsgi import ApiRequest
    from trove_lite.instance.guest_admin import GuestAdminService

QUOTAS_UPDATE = obj(["quotas"], quotas={
    "type": "object", "minProperties": 1, "maxProperties": 10,
    "propertyNames": {"maxLength": 64}, "additionalProperties": schemas.integer(-1)})


MGMT_ACTION = obj(min_properties=1, max_properties=1, stop=schemas.EMPTY,
                  reboot=schemas.EMPTY, rebuild=obj(["image_id"], image_id=schemas.name(255)),
                  **{"reset-task-status": schemas.EMPTY})


def _flag(value: str | None) -> bool:
    """``?deleted=`` as troveclient sends it (``False``/``True``, any case) -> bool."""
    if value in (None, "", "None"):
        return False
    if str(value).lower() in ("true", "1", "yes"):
        return True
    if str(value).lower() in ("false", "0", "no"):
        return False
    raise BadRequest(reason="deleted must be true or false, got %r" % value)


def mgmt_instance(snap: InstanceSnapshot, links: Links) -> JsonBody:
    """The tenant view plus what an operator needs: owner, server, volume, task."""
    inst = snap.instance
    body = views.instance(snap, links, detailed=True)
    body.update({"tenant_id": inst.tenant_id, "server_id": inst.server_id,
                 "volume_id": inst.volume_id, "task_description": inst.task,
                 "service_status": snap.service_status, "deleted": bool(inst.deleted),
                 "deleted_at": views.isotime(inst.deleted_at)})
    return body


class MgmtController:
    def __init__(self, conf: cfg.ConfigOpts, db: Database, engine: quota.QuotaEngine,
                 admin_service: GuestAdminService, instances: InstanceService) -> None:
        self.conf = conf
        self.db = db
        self.engine = engine
        self.admin = admin_service
        self.instances = instances

    # -- quotas -----------------------------------------------------------------------
    def quota_show(self, req: ApiRequest, tenant: str) -> Result:
        req.can("quota:show", {"project_id": tenant})
        with self.db.session() as s:
            return 200, {"quotas": self.engine.show(s, tenant)}

    def quota_update(self, req: ApiRequest, tenant: str) -> Result:
        """PUT ``{"quotas": {resource: limit}}`` -> 200 ``{"quotas": {resource: limit}}``."""
        req.can("quota:update", {"project_id": tenant})
        values = quota.validate_limits(req.body(QUOTAS_UPDATE)["quotas"])
        with self.db.session() as s:
            return 200, {"quotas": self.engine.set_limits(s, tenant, values)}

    # -- instances ----------------------------------------------------------------------
    def instance_index(self, req: ApiRequest) -> Result:
        """Instances of every tenant, by id; ``?deleted=true`` lists deleted ones."""
        req.can("mgmt:instance:index")
        limit, marker = page_params(req.params, self.conf.api.max_limit)
        deleted = _flag(req.params.get("deleted"))
        with self.db.session() as s:
            q = select(models.Instance).where(models.Instance.deleted.is_(deleted))
            if marker:
                q = q.where(models.Instance.id > marker)
            rows = s.execute(q.order_by(models.Instance.id).limit(limit + 1)).scalars().all()
            snaps = self.instances._snapshots(s, rows[:limit])  # noqa: SLF001
        return 200, {"instances": [mgmt_instance(snap, req.links) for snap in snaps],
                     "links": next_links(req.links.url("mgmt/instances"), req.params, limit,
                                         [snap.instance.id for snap in snaps],
                                         len(rows) > limit)}

    def _snapshot(self, instance_id: str) -> InstanceSnapshot:
        with self.db.session() as s:
            row = s.execute(select(models.Instance).where(
                models.Instance.id == instance_id)).scalars().first()
            if row is None:
                raise InstanceNotFound(id=instance_id)
            return self.instances._snapshots(s, [row])[0]  # noqa: SLF001

    def instance_show(self, req: ApiRequest, instance_id: str) -> Result:
        req.can("mgmt:instance:show", {"instance_id": instance_id})
        return 200, {"instance": mgmt_instance(self._snapshot(instance_id), req.links)}

    def instance_action(self, req: ApiRequest, instance_id: str) -> Result:
        """troveclient's mgmt_instances.stop/reboot/reset_task_status/rebuild -> 202.

        ``stop`` stops the database (the guest reports SHUTDOWN) and returns once
        it is stopped; ``reboot`` and ``rebuild`` restart the whole server (onto
        another image for rebuild) as a task, like a user's restart.
        """
        (action, args), = req.body(MGMT_ACTION).items()
        req.can("mgmt:instance:action", {"instance_id": instance_id})
        inst = self._snapshot(instance_id).instance
        if inst.deleted:
            raise InstanceNotFound(id=instance_id)
        if action == "stop":
            self.admin.guest(inst.tenant_id, instance_id, "stop").stop_db()
        elif action == "reset-task-status":
            self.instances.reset_task_status(inst.tenant_id, instance_id)
        else:
            self.instances.reboot(req.ctx, inst.tenant_id, instance_id,
                                  args.get("image_id"))
        return 202, None

    def rpc_ping(self, req: ApiRequest, instance_id: str) -> Result:
        """204 when the guest agent answers a ping within the short timeout, else 503."""
        req.can("mgmt:instance:rpc_ping", {"instance_id": instance_id})
        snap = self._snapshot(instance_id)
        if snap.instance.deleted:
            raise InstanceNotFound(id=instance_id)
        self.admin.guest_factory(instance_id).ping()
        return 204, None

    def root_history(self, req: ApiRequest, instance_id: str) -> Result:
        """Trove's mgmt root history: when root was last enabled and by whom."""
        req.can("mgmt:instance:show", {"instance_id": instance_id})
        history = self.admin.root_history(instance_id, any_tenant=True)
        enabled = views.isotime(history.enabled) if history.enabled else "Never"
        return 200, {"root_history": {
            "id": instance_id, "enabled": enabled, "user": history.user or "Nobody",
            # troveclient's RootHistory prints ``created``
            "created": enabled}}
