"""Handler of ``/limits``; ``make_controllers`` also builds the ``/mgmt/``
controller (api/mgmt.py), which shares the quota engine."""

from trove_lite import quota


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


def make_controllers(conf, db, instances):
    """The ``limits`` and ``mgmt`` controllers for ``wsgi.make_app`` (``instances``:
    the InstanceService)."""
    from trove_lite.api.mgmt import MgmtController
    from trove_lite.instance.guest_admin import GuestAdminService
    from trove_lite.rpc.guest import GuestAPI
    engine = quota.QuotaEngine(conf)
    admin = GuestAdminService(conf, db, lambda instance_id: GuestAPI(conf, instance_id),
                              instances)
    return {"limits": LimitsController(db, engine),
            "mgmt": MgmtController(conf, db, engine, admin, instances)}
