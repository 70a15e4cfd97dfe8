"""``GET /`` and ``GET /v1.0``: the version document (no tenant, no auth needed)."""

from trove_lite.api import views


class VersionsController:
    def index(self, req):
        return 200, views.version_document(req.webob.host_url)

    def show(self, req):
        return 200, {"version": views.version_document(req.webob.host_url)["versions"][0]}
