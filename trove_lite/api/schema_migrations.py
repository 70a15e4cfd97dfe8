"""Handlers of ``/instances/{id}/schema_migrations``: online schema changes (issue 18).

``POST`` creates (202), ``GET`` lists and shows, ``POST .../{mid}/action`` with
exactly one of ``{"cut_over": {}}``, ``{"abort": {}}``, ``{"throttle": {}}``,
``{"unthrottle": {}}``, ``{"set": {...}}`` acts (202). The service is
``instance/schema_migrations.py``.
"""

from __future__ import annotations

from typing import Any, TYPE_CHECKING

from oslo_config import cfg

from trove_lite.api.schemas import EMPTY, integer, name, obj, text
from trove_lite.db.session import Database
from trove_lite.api.views import Result
from trove_lite.instance.schema_migrations import SchemaMigrationService
from trove_lite.instance.service import InstanceService

if TYPE_CHECKING:
    from trove_lite.api.wsgi import ApiRequest

LOAD = text(512)
NICE = {"type": "number", "minimum": 0, "maximum": 100}
SETTINGS: dict[str, Any] = dict(chunk_size=integer(10, 100000), dml_batch_size=integer(1, 100),
                nice_ratio=NICE, max_lag_millis=integer(100, 86400000),
                max_load=LOAD, critical_load=LOAD)
CREATE = obj(["schema_migration"], schema_migration=obj(
    ["database", "table", "alter"], database=name(64), table=name(64), alter=text(65535,
                                                                                  False),
    postpone_cut_over={"type": "boolean"}, keep_old_table={"type": "boolean"},
    cut_over_lock_timeout_seconds=integer(1, 10), **SETTINGS))
ACTION = obj(min_properties=1, max_properties=1, cut_over=EMPTY, abort=EMPTY,
             throttle=EMPTY, unthrottle=EMPTY, set=obj(**SETTINGS))


class SchemaMigrationsController:
    def __init__(self, service: SchemaMigrationService) -> None:
        self.service = service

    def index(self, req: ApiRequest, instance_id: str) -> Result:
        req.can("instance:schema_migration_list", {"instance_id": instance_id})
        return 200, {"schema_migrations": self.service.list(req.tenant_id, instance_id)}

    def show(self, req: ApiRequest, instance_id: str, migration_id: str) -> Result:
        req.can("instance:schema_migration_list", {"instance_id": instance_id})
        return 200, {"schema_migration": self.service.show(req.tenant_id, instance_id,
                                                           migration_id)}

    def create(self, req: ApiRequest, instance_id: str) -> Result:
        req.can("instance:schema_migration_create", {"instance_id": instance_id})
        body = req.body(CREATE)["schema_migration"]
        return 202, {"schema_migration": self.service.create(req.tenant_id, instance_id,
                                                             body)}

    def action(self, req: ApiRequest, instance_id: str, migration_id: str) -> Result:
        req.can("instance:schema_migration_action", {"instance_id": instance_id})
        body = req.body(ACTION)
        return 202, {"schema_migration": self.service.action(req.tenant_id, instance_id,
                                                             migration_id, body)}


def make_controllers(conf: cfg.ConfigOpts, db: Database,
                     instances: InstanceService) -> dict[str, object]:
    """The controllers of this module for ``wsgi.make_app``."""
    from trove_lite.instance.guest_admin import GuestAdminService
    from trove_lite.rpc.guest import GuestAPI
    guests = GuestAdminService(conf, db, lambda instance_id: GuestAPI(conf, instance_id),
                               instances)
    return {"schema_migrations": SchemaMigrationsController(
        SchemaMigrationService(db, guests))}
