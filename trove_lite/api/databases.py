"""Handlers of ``/instances/{id}/databases``, ``/users`` and ``/root``.

Flat, as everywhere in the API: policy check, body schema, service call
(``GuestAdminService``), Trove's response shape. User
paths carry ``name@host`` as troveclient quotes it; WSGI hands it over decoded.
"""

from __future__ import annotations

from typing import Any, TYPE_CHECKING

from oslo_config import cfg

from trove_lite.api import schemas
from trove_lite.api.pagination import next_links, page_params
from trove_lite.api.schemas import array, name, obj
from trove_lite.datastores.mariadb import validation as mariadb
from trove_lite.db.session import Database
from trove_lite.api.views import JsonBody, Result
from trove_lite.instance.service import InstanceService

if TYPE_CHECKING:
    from trove_lite.api.wsgi import ApiRequest
    from trove_lite.instance.guest_admin import GuestAdminService

DATABASE = schemas.DATABASE
DATABASE_REF = schemas.DATABASE_REF
USER = schemas.USER

DATABASES_CREATE = obj(["databases"], databases=array(DATABASE, min_items=1))
USERS_CREATE = obj(["users"], users=array(USER, min_items=1))
PASSWORDS_CHANGE = obj(["users"], users=array(
    obj(["name", "password"], name=schemas.USER_NAME, password=schemas.PASSWORD,
        host=schemas.HOST), min_items=1))
USER_UPDATE = obj(["user"], user=obj(
    min_properties=1, name=name(mariadb.USER_NAME_MAX, nullable=True),
    password=name(mariadb.PASSWORD_MAX, min_length=0, nullable=True), host=schemas.HOST))
ACCESS_GRANT = obj(["databases"], databases=array(DATABASE_REF, min_items=1))
ROOT_ENABLE = obj(password=name(mariadb.PASSWORD_MAX, min_length=0, nullable=True))


def _user_view(user: dict[str, Any]) -> JsonBody:
    return {"name": user["name"], "host": user["host"],
            "databases": [{"name": d["name"]} for d in user.get("databases") or []]}


class DatabasesController:
    def __init__(self, conf: cfg.ConfigOpts, service: GuestAdminService) -> None:
        self.conf = conf
        self.service = service

    def index(self, req: ApiRequest, instance_id: str) -> Result:
        req.can("database:index", {"instance_id": instance_id})
        limit, marker = page_params(req.params, self.conf.api.max_limit)
        items, next_marker = self.service.list_databases(req.tenant_id, instance_id,
                                                         limit, marker)
        names = [d["name"] for d in items]
        return 200, {"databases": [{"name": n} for n in names],
                     "links": next_links(req.links.url("instances/%s/databases"
                                                       % instance_id),
                                         req.params, limit, names, next_marker is not None)}

    def create(self, req: ApiRequest, instance_id: str) -> Result:
        req.can("database:create", {"instance_id": instance_id})
        body = req.body(DATABASES_CREATE)
        self.service.create_databases(req.tenant_id, instance_id, body["databases"])
        return 202, None

    def delete(self, req: ApiRequest, instance_id: str, database: str) -> Result:
        req.can("database:delete", {"instance_id": instance_id})
        self.service.delete_database(req.tenant_id, instance_id, database)
        return 202, None


class UsersController:
    def __init__(self, conf: cfg.ConfigOpts, service: GuestAdminService) -> None:
        self.conf = conf
        self.service = service

    def index(self, req: ApiRequest, instance_id: str) -> Result:
        req.can("user:index", {"instance_id": instance_id})
        limit, marker = page_params(req.params, self.conf.api.max_limit)
        items, next_marker = self.service.list_users(req.tenant_id, instance_id, limit,
                                                     marker)
        return 200, {"users": [_user_view(u) for u in items],
                     "links": next_links(req.links.url("instances/%s/users" % instance_id),
                                         req.params, limit,
                                         ["%s@%s" % (u["name"], u["host"]) for u in items],
                                         next_marker is not None)}

    def create(self, req: ApiRequest, instance_id: str) -> Result:
        req.can("user:create", {"instance_id": instance_id})
        body = req.body(USERS_CREATE)
        self.service.create_users(req.tenant_id, instance_id, body["users"])
        return 202, None

    def update_all(self, req: ApiRequest, instance_id: str) -> Result:
        """PUT /users: change the passwords of several users."""
        req.can("user:update_all", {"instance_id": instance_id})
        body = req.body(PASSWORDS_CHANGE)
        self.service.change_passwords(req.tenant_id, instance_id, body["users"])
        return 202, None

    def show(self, req: ApiRequest, instance_id: str, user: str) -> Result:
        req.can("user:show", {"instance_id": instance_id})
        return 200, {"user": _user_view(self.service.get_user(req.tenant_id, instance_id,
                                                              user))}

    def update(self, req: ApiRequest, instance_id: str, user: str) -> Result:
        req.can("user:update", {"instance_id": instance_id})
        body = req.body(USER_UPDATE)
        self.service.update_user(req.tenant_id, instance_id, user, body["user"])
        return 202, None

    def delete(self, req: ApiRequest, instance_id: str, user: str) -> Result:
        req.can("user:delete", {"instance_id": instance_id})
        self.service.delete_user(req.tenant_id, instance_id, user)
        return 202, None

    def access_index(self, req: ApiRequest, instance_id: str, user: str) -> Result:
        req.can("user:access:index", {"instance_id": instance_id})
        databases = self.service.list_access(req.tenant_id, instance_id, user)
        return 200, {"databases": [{"name": d["name"]} for d in databases]}

    def access_grant(self, req: ApiRequest, instance_id: str, user: str) -> Result:
        req.can("user:access:grant", {"instance_id": instance_id})
        body = req.body(ACCESS_GRANT)
        self.service.grant_access(req.tenant_id, instance_id, user, body["databases"])
        return 202, None

    def access_revoke(self, req: ApiRequest, instance_id: str, user: str, database: str) -> Result:
        req.can("user:access:revoke", {"instance_id": instance_id})
        self.service.revoke_access(req.tenant_id, instance_id, user, database)
        return 202, None


class RootController:
    def __init__(self, service: GuestAdminService) -> None:
        self.service = service

    def index(self, req: ApiRequest, instance_id: str) -> Result:
        req.can("root:index", {"instance_id": instance_id})
        return 200, {"rootEnabled": self.service.root_enabled(req.tenant_id, instance_id)}

    def create(self, req: ApiRequest, instance_id: str) -> Result:
        """POST, with an optional ``{"password": ...}`` (troveclient sends no body
        when no password is given)."""
        req.can("root:create", {"instance_id": instance_id})
        password = None
        if req.webob.body.strip():
            password = req.body(ROOT_ENABLE).get("password")
        name, password = self.service.enable_root(req.tenant_id, instance_id, password)
        return 200, {"user": {"name": name, "password": password}}

    def delete(self, req: ApiRequest, instance_id: str) -> Result:
        req.can("root:delete", {"instance_id": instance_id})
        self.service.disable_root(req.tenant_id, instance_id)
        return 204, None


def make_controllers(conf: cfg.ConfigOpts, db: Database,
                     instances: InstanceService) -> dict[str, object]:
    """The controllers of this module for ``wsgi.make_app`` (``instances``: the
    InstanceService)."""
    from trove_lite.instance.guest_admin import GuestAdminService
    from trove_lite.rpc.guest import GuestAPI
    service = GuestAdminService(conf, db, lambda instance_id: GuestAPI(conf, instance_id),
                                instances)
    return {"databases": DatabasesController(conf, service),
            "users": UsersController(conf, service),
            "root": RootController(service)}
