"""Handlers of ``/flavors`` and ``/datastores/{ds}/versions/{v}/flavors``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from trove_lite import catalog
from trove_lite.api import views
from trove_lite.db.session import Database
from trove_lite.api.views import Result

if TYPE_CHECKING:
    from trove_lite.api.wsgi import ApiRequest


class FlavorsController:
    def __init__(self, db: Database) -> None:
        self.db = db

    def index(self, req: ApiRequest) -> Result:
        req.can("flavor:index")
        with self.db.session() as s:
            rows = catalog.list_flavors(s)
        return 200, {"flavors": [views.flavor(f, req.links) for f in rows]}

    def show(self, req: ApiRequest, flavor_id: str) -> Result:
        req.can("flavor:show")
        with self.db.session() as s:
            row = catalog.find_flavor(s, flavor_id)
        return 200, {"flavor": views.flavor(row, req.links)}

    def for_version(self, req: ApiRequest, datastore: str, version: str) -> Result:
        """Flavors allowed for a datastore version (all when it restricts none)."""
        req.can("flavor:index")
        with self.db.session() as s:
            ds = catalog.find_datastore(s, datastore)
            rows = catalog.list_version_flavors(s, catalog.find_version(s, ds, version))
        return 200, {"flavors": [views.flavor(f, req.links) for f in rows]}
