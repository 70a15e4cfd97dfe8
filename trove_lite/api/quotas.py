"""Handler of ``/limits``; ``make_controllers`` also builds the ``/mgmt/``
controller (api/mgmt.py), which shares the quota engine."""

from __future__ import annotations

from typing import TYPE_CHECKING

from oslo_config import cfg

from trove_lite import quota
from trove_lite.db.session import Database
from trove_lite.api.views import Result
from trove_lite.instance.service import InstanceService

if TYPE_CHECKING:
    from trove_lite.api.wsgi import ApiRequest


class LimitsController:
    def __init__(self, db: Database, engine: quota.QuotaEngine) -> None:
        self.db = db
        self.engine = engine

    def index(self, req: ApiRequest) -> Result:
        """``{"limits": [{"verb": "ABSOLUTE", "max_<resource>": N, ...}]}``; no rate
        limits are enforced, so the absolute entry is the only one."""
        req.can("limits:index")
        with self.db.session() as s:
            limits = self.engine.limits(s, req.tenant_id)
        absolute: dict[str, str | int] = {"verb": "ABSOLUTE"}
        absolute.update({"max_%s" % r: limits[r] for r in quota.RESOURCES})
        return 200, {"limits": [absolute]}


def make_controllers(conf: cfg.ConfigOpts, db: Database,
                     instances: InstanceService) -> dict[str, object]:
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
