"""Handlers of ``/limits`` and the admin-only ``/mgmt/quotas/{tenant}`` and
``/mgmt/instances/{id}/root``.

Everything under ``/mgmt/`` is refused (403) for non-admins by the auth
middleware before routing (policy ``mgmt:access``); the handlers check their
own rule too, so an operator can narrow one without the other.
"""

from trove_lite import quota
from trove_lite.api.views import isotime

QUOTAS_UPDATE = {"type": "object", "required": ["quotas"],
                 "properties": {"quotas": {"type": "object", "minProperties": 1,
                                           "additionalProperties": {"type": "integer"}}}}


class LimitsController:
    def __init__(self, db, engine):
        self.db = db
        self.engine = engine

    def index(self, req):
        """``{"limits": [{"verb": "ABSOLUTE", "max_<resource>": N, ...}]}``; no rate
        limits are enforced, so the absolute entry is the only one."""
        req.can("limits:index")
        with self.db.session() as s:
            limits = self.engine.limits(s, req.tenant_id)
        absolute = {"verb": "ABSOLUTE"}
        absolute.update({"max_%s" % r: limits[r] for r in quota.RESOURCES})
        return 200, {"limits": [absolute]}


class MgmtController:
    def __init__(self, db, engine, admin_service):
        self.db = db
        self.engine = engine
        self.admin = admin_service

    def quota_show(self, req, tenant):
        req.can("quota:show", {"project_id": tenant})
        with self.db.session() as s:
            return 200, {"quotas": self.engine.show(s, tenant)}

    def quota_update(self, req, tenant):
        """PUT ``{"quotas": {resource: limit}}`` -> 200 ``{"quotas": {resource: limit}}``."""
        req.can("quota:update", {"project_id": tenant})
        values = quota.validate_limits(req.body(QUOTAS_UPDATE)["quotas"])
        with self.db.session() as s:
            return 200, {"quotas": self.engine.set_limits(s, tenant, values)}

    def root_history(self, req, instance_id):
        """Trove's mgmt root history: when root was enabled and by whom."""
        req.can("mgmt:instance:show", {"instance_id": instance_id})
        history = self.admin.root_history(instance_id, any_tenant=True)
        return 200, {"root_history": {
            "id": instance_id,
            "enabled": isotime(history.enabled) if history.enabled else "Never",
            "user": history.user or "Nobody"}}


def make_controllers(conf, db, instances):
    """The controllers of this module for ``wsgi.make_app`` (``instances``: InstanceService)."""
    from trove_lite.instance.guest_admin import GuestAdminService
    engine = quota.QuotaEngine(conf)
    # root history reads the control-plane database only; no guest is called
    admin = GuestAdminService(conf, db, None, instances)
    return {"limits": LimitsController(db, engine),
            "mgmt": MgmtController(db, engine, admin)}
