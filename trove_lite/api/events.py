"""``GET /instances/{id}/events``: the instance's event history, newest first."""

from trove_lite.api.pagination import next_links, page_params
from trove_lite.instance import events


class EventsController:
    def __init__(self, conf, db, instances):
        self.conf = conf
        self.db = db
        self.instances = instances

    def index(self, req, instance_id):
        req.can("instance:events", {"instance_id": instance_id})
        self.instances.get(req.tenant_id, instance_id)  # 404 for another tenant's
        limit, marker = page_params(req.params, self.conf.api.max_limit)
        found, more = events.list_events(self.db, req.tenant_id, instance_id, limit, marker)
        return 200, {"events": [events.view(e) for e in found],
                     "links": next_links(req.links.url("instances/%s/events" % instance_id),
                                         req.params, limit, [str(e.id) for e in found],
                                         more)}
