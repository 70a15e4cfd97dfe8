"""Handlers of ``/datastores`` and their versions (by id or name).

Lists show active versions only and hide datastores without one, as Trove
does for non-admin users; showing a version by id works even when inactive.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from oslo_config import cfg

from trove_lite import catalog
from trove_lite.api import views
from trove_lite.api.pagination import next_links, page_params
from trove_lite.db.session import Database
from trove_lite.api.views import Result

if TYPE_CHECKING:
    from trove_lite.api.wsgi import ApiRequest


class DatastoresController:
    def __init__(self, db: Database, conf: cfg.ConfigOpts) -> None:
        self.db = db
        self.conf = conf

    def index(self, req: ApiRequest) -> Result:
        req.can("datastore:index")
        limit, marker = page_params(req.params, self.conf.api.max_limit)
        with self.db.session() as s:
            shown = [(ds, catalog.list_versions(s, ds)) for ds in catalog.list_datastores(s)]
        shown = [(ds, versions) for ds, versions in shown if versions]
        shown.sort(key=lambda pair: pair[0].id)
        if marker:
            shown = [pair for pair in shown if pair[0].id > marker]
        page, more = shown[:limit], len(shown) > limit
        return 200, {
            "datastores": [views.datastore(ds, versions, req.links) for ds, versions in page],
            "links": next_links(req.links.url("datastores"), req.params, limit,
                                [ds.id for ds, _ in page], more),
        }

    def show(self, req: ApiRequest, datastore: str) -> Result:
        req.can("datastore:show")
        with self.db.session() as s:
            ds = catalog.find_datastore(s, datastore)
            versions = catalog.list_versions(s, ds)
        return 200, {"datastore": views.datastore(ds, versions, req.links)}

    def versions(self, req: ApiRequest, datastore: str) -> Result:
        req.can("datastore:version_index")
        with self.db.session() as s:
            versions = catalog.list_versions(s, catalog.find_datastore(s, datastore))
        return 200, {"versions": [views.version(v, req.links) for v in versions], "links": []}

    def version_show(self, req: ApiRequest, datastore: str, version: str) -> Result:
        req.can("datastore:version_show")
        with self.db.session() as s:
            row = catalog.find_version(s, catalog.find_datastore(s, datastore), version)
        return 200, {"version": views.version(row, req.links)}

    def version_by_id(self, req: ApiRequest, version_id: str) -> Result:
        req.can("datastore:version_show")
        with self.db.session() as s:
            row = catalog.get_version_by_id(s, version_id)
        return 200, {"version": views.version(row, req.links)}
