"""Handlers of ``/instances/{id}/log``: Trove's datastore-log API.

``GET /log`` lists, ``GET /log/{name}`` and ``POST /log {"name": N}`` show,
``POST /log {"name": N, "enable"|"disable"|"publish"|"discard": 1}`` acts
(troveclient ``log_list``/``log_show``/``log_action``). Published logs are read
back through ``GET /log/{name}/objects[/{number}]`` (ours: with ``[logs] store =
deployment`` the objects are encrypted with the tenant's key, which only the
control plane holds; with ``tenant_swift`` they are read from the tenant's Swift
with the request's token, as troveclient reads them itself).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
import base64
import json

from oslo_config import cfg

from trove_lite.api.schemas import name, obj
from trove_lite.exceptions import BadRequest
from trove_lite.instance.logs import LogService, UserAuth
from trove_lite.db.session import Database
from trove_lite.api.views import Result
from trove_lite.instance.service import InstanceService

if TYPE_CHECKING:
    from trove_lite.api.wsgi import ApiRequest

FLAG = {"oneOf": [{"type": "integer", "minimum": 0, "maximum": 1}, {"type": "boolean"}]}
LOG_ACTION = obj(["name"], name=name(64), enable=FLAG, disable=FLAG, publish=FLAG,
                 discard=FLAG)


def user_auth(req: ApiRequest) -> UserAuth:
    """The request's token and service catalog (keystonemiddleware's
    ``X-Service-Catalog``), for publishing to the tenant's own Swift."""
    raw = req.webob.headers.get("X-Service-Catalog")
    try:
        catalog = json.loads(raw) if raw else None
    except ValueError:
        catalog = None
    return UserAuth(token=getattr(req.ctx, "auth_token", None), catalog=catalog)


class LogsController:
    def __init__(self, service: LogService) -> None:
        self.service = service

    def index(self, req: ApiRequest, instance_id: str) -> Result:
        req.can("instance:guest_log_list", {"instance_id": instance_id})
        logs = self.service.list(req.tenant_id, instance_id, user_auth(req))
        return 200, {"logs": logs}

    def show(self, req: ApiRequest, instance_id: str, log_name: str) -> Result:
        req.can("instance:guest_log_list", {"instance_id": instance_id})
        log = self.service.show(req.tenant_id, instance_id, log_name, user_auth(req))
        return 200, {"log": log}

    def action(self, req: ApiRequest, instance_id: str) -> Result:
        req.can("instance:guest_log_action", {"instance_id": instance_id})
        body = req.body(LOG_ACTION)
        actions = [a for a in ("enable", "disable", "publish", "discard") if body.get(a)]
        return 200, {"log": self.service.action(req.tenant_id, instance_id, body["name"],
                                                actions, user_auth(req))}

    def objects(self, req: ApiRequest, instance_id: str, log_name: str) -> Result:
        req.can("instance:guest_log_list", {"instance_id": instance_id})
        objects = self.service.objects(req.tenant_id, instance_id, log_name,
                                       user_auth(req))
        return 200, {"objects": objects}

    def object_show(self, req: ApiRequest, instance_id: str, log_name: str, number: str) -> Result:
        req.can("instance:guest_log_list", {"instance_id": instance_id})
        if not number.isdigit() or len(number) > 9:
            raise BadRequest(reason="object number %r is not a number" % number[:20])
        data = self.service.object_data(req.tenant_id, instance_id, log_name, int(number),
                                        user_auth(req))
        return 200, {"object": {"number": int(number),
                                "data": base64.b64encode(data).decode()}}


def make_controllers(conf: cfg.ConfigOpts, db: Database,
                     instances: InstanceService) -> dict[str, object]:
    """The controllers of this module for ``wsgi.make_app``."""
    from trove_lite.instance.guest_admin import GuestAdminService
    from trove_lite.rpc.guest import GuestAPI
    guests = GuestAdminService(conf, db, lambda instance_id: GuestAPI(conf, instance_id),
                               instances)
    return {"logs": LogsController(LogService(conf, db, guests))}
