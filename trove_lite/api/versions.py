"""``GET /`` and ``GET /v1.0``: the version document (no tenant, no auth needed)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from trove_lite.api import views
from trove_lite.api.views import Result

if TYPE_CHECKING:
    from trove_lite.api.wsgi import ApiRequest


class VersionsController:
    def index(self, req: ApiRequest) -> Result:
        return 200, views.version_document(req.webob.host_url)

    def show(self, req: ApiRequest) -> Result:
        return 200, {"version": views.version_document(req.webob.host_url)["versions"][0]}
