"""``GET /instances/{id}/events``: the instance's event history, newest first."""

from __future__ import annotations

from typing import TYPE_CHECKING

from oslo_config import cfg

from trove_lite.api.pagination import next_links, page_params
from trove_lite.instance import events
from trove_lite.db.session import Database
from trove_lite.api.views import Result
from trove_lite.instance.service import InstanceService

if TYPE_CHECKING:
    from trove_lite.api.wsgi import ApiRequest


class EventsController:
    def __init__(self, conf: cfg.ConfigOpts, db: Database, instances: InstanceService) -> None:
        self.conf = conf
        self.db = db
        self.instances = instances

    def index(self, req: ApiRequest, instance_id: str) -> Result:
        req.can("instance:events", {"instance_id": instance_id})
        self.instances.get(req.tenant_id, instance_id)  # 404 for another tenant's
        limit, marker = page_params(req.params, self.conf.api.max_limit)
        found, more = events.list_events(self.db, req.tenant_id, instance_id, limit, marker)
        return 200, {"events": [events.view(e) for e in found],
                     "links": next_links(req.links.url("instances/%s/events" % instance_id),
                                         req.params, limit, [str(e.id) for e in found],
                                         more)}
