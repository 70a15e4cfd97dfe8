"""Handlers of ``/instances``: policy check, body validation, service call, view."""

from __future__ import annotations

from typing import TYPE_CHECKING
import ipaddress

from oslo_config import cfg

from trove_lite.api import schemas, views
from trove_lite.api.pagination import next_links, page_params
from trove_lite.configuration.service import ConfigurationService
from trove_lite.exceptions import BadRequest, NotFound, NotImplementedYet
from trove_lite.instance import ha as instance_ha
from trove_lite.instance import replication, upgrade
from trove_lite.instance.service import CreateRequest, InstanceService
from trove_lite.api.views import JsonBody, Result

if TYPE_CHECKING:
    from trove_lite.api.wsgi import ApiRequest


def check_unoffered(b: JsonBody) -> None:
    """Modules and locality policies are not offered here: refused (4xx, never
    ignored, never 5xx). No module exists, so a module is not found, as Trove
    answers an unknown one."""
    for module in b.get("modules") or ():
        if not module.get("id"):
            raise BadRequest(reason="modules: each entry needs an id")
        raise NotFound(kind="Module", id=module["id"])
    if b.get("locality"):
        raise BadRequest(reason="locality %r is not offered here (no server groups)"
                                % b["locality"])


def access_settings(access: JsonBody, partial: bool = False) -> JsonBody:
    """``{is_public, allowed_cidrs}`` with each CIDR parsed and normalised (400 if not
    one); ``partial`` (an update) keeps only the keys given."""
    if partial:
        return {k: v for k, v in access_settings(access).items() if k in access}
    cidrs = []
    for cidr in access.get("allowed_cidrs") or ():
        try:
            cidrs.append(str(ipaddress.ip_network(cidr, strict=False)))
        except ValueError:
            raise BadRequest(reason="allowed_cidrs: %r is not a CIDR (like 10.0.0.0/24 or "
                                    "192.0.2.7)" % cidr) from None
    return {"is_public": bool(access.get("is_public", False)), "allowed_cidrs": cidrs}


def check_placement(b: JsonBody, conf: cfg.ConfigOpts) -> None:
    """Volume type, zone and networks: only what this deployment offers (400 else)."""
    vtype = (b.get("volume") or {}).get("type")
    if vtype is not None and vtype not in conf.api.volume_types:
        raise BadRequest(reason="volume type %r is not offered here (offered: %s)"
                                % (vtype, ", ".join(conf.api.volume_types) or "none"))
    zone = b.get("availability_zone")
    if zone is not None and zone not in conf.api.availability_zones:
        raise BadRequest(reason="availability zone %r is not offered here (offered: %s)"
                                % (zone, ", ".join(conf.api.availability_zones) or "none"))
    if b.get("nics"):
        raise BadRequest(reason="nics: choosing networks is not supported; instances are "
                                "attached to the deployment's network")


def check_grants(b: JsonBody) -> None:
    """Users may be granted only databases created in the same request.

    A restore brings databases the request cannot name, so it is not checked.
    """
    if b.get("restorePoint"):
        return
    created = {d["name"] for d in b.get("databases") or ()}
    for user in b.get("users") or ():
        missing = [d["name"] for d in user.get("databases") or () if d["name"] not in created]
        if missing:
            raise BadRequest(reason="user %s is granted %s, which the request does not "
                                    "create" % (user["name"], ", ".join(missing)))


def restore_point(rp: JsonBody | None) -> tuple[str, str] | None:
    """(source instance ref, restoreTime text) of a point-in-time restore, or None;
    400 for a mix or half of the two forms."""
    if not rp or ("instanceRef" not in rp and "restoreTime" not in rp):
        return None
    if "backupRef" in rp:
        raise BadRequest(reason="restorePoint takes backupRef, or instanceRef with "
                                "restoreTime, not both")
    if not rp.get("instanceRef") or not rp.get("restoreTime"):
        raise BadRequest(reason="a point-in-time restore needs both instanceRef and "
                                "restoreTime (YYYY-MM-DDTHH:MM:SS[.ffffff]Z)")
    return (rp["instanceRef"], rp["restoreTime"])


def create_request(body: JsonBody, conf: cfg.ConfigOpts) -> CreateRequest:
    """A CreateRequest from a schema-valid create body."""
    b = body["instance"]
    check_unoffered(b)
    if "flavorRef" not in b and not b.get("replica_of"):  # a replica may take its source's
        raise BadRequest(reason="a flavor is required (flavorRef)")
    check_placement(b, conf)
    check_grants(b)
    ds = b.get("datastore") or {}
    volume = b.get("volume") or {}
    return CreateRequest(
        name=b["name"],
        flavor_ref=str(b["flavorRef"]) if "flavorRef" in b else None,
        volume_size=volume.get("size"),
        volume_type=volume.get("type"),
        datastore=ds.get("type"),
        datastore_version=ds.get("version"),
        version_number=ds.get("version_number"),
        databases=tuple(b.get("databases") or ()),
        users=tuple(b.get("users") or ()),
        backup_ref=(b.get("restorePoint") or {}).get("backupRef"),
        restore_point=restore_point(b.get("restorePoint")),
        access=access_settings(b["access"]) if "access" in b else None,
        region_name=b.get("region_name"),
        configuration=b.get("configuration"),
    )


class InstancesController:
    def __init__(self, conf: cfg.ConfigOpts, service: InstanceService) -> None:
        self.conf = conf
        self.service = service
        self.configurations = ConfigurationService(conf, service.db)

    def _list(self, req: ApiRequest, path: str, detailed: bool) -> Result:
        limit, marker = page_params(req.params, self.conf.api.max_limit)
        snaps, more = self.service.list(req.tenant_id, limit, marker)
        return 200, {
            "instances": [views.instance(s, req.links, detailed) for s in snaps],
            "links": next_links(req.links.url(path), req.params, limit,
                                [s.instance.id for s in snaps], more),
        }

    def index(self, req: ApiRequest) -> Result:
        req.can("instance:index")
        return self._list(req, "instances", detailed=False)

    def detail(self, req: ApiRequest) -> Result:
        req.can("instance:index")
        return self._list(req, "instances/detail", detailed=True)

    def show(self, req: ApiRequest, instance_id: str) -> Result:
        req.can("instance:show", {"instance_id": instance_id})
        snap = self.service.get(req.tenant_id, instance_id)
        return 200, {"instance": views.instance(snap, req.links, detailed=True)}

    def create(self, req: ApiRequest) -> Result:
        req.can("instance:create")
        body = req.body(schemas.INSTANCE_CREATE)
        create = create_request(body, self.conf)
        replica_of = body["instance"].get("replica_of")
        if replica_of:
            snap = replication.create_replicas(self.service, req.ctx, req.tenant_id, create,
                                               replica_of, body["instance"].get("replica_count"))
        elif body["instance"].get("replica_count") is not None:
            raise BadRequest(reason="replica_count needs replica_of")
        else:
            snap = self.service.create(req.ctx, req.tenant_id, create)
        return 200, {"instance": views.instance(snap, req.links, detailed=True)}

    def update(self, req: ApiRequest, instance_id: str) -> Result:
        """PUT: rename; attach (``configuration: ID``) or detach (``null``) a
        configuration group; set ``access``. Replica detach answers 501."""
        return self._update(req, instance_id, req.body(schemas.INSTANCE_UPDATE)["instance"])

    def _update(self, req: ApiRequest, instance_id: str, b: JsonBody) -> Result:
        if "replica_of" in b:  # the schema lets only null through: detach
            req.can("instance:update", {"instance_id": instance_id})
            replication.start_detach(self.service, req.ctx, req.tenant_id, instance_id)
            return 202, None
        if not b.keys() & {"name", "configuration", "access", "durability"}:
            raise BadRequest(reason="nothing to update: give instance.name, "
                                    "instance.configuration, instance.access or "
                                    "instance.durability")
        access = access_settings(b["access"], partial=True) if "access" in b else None
        req.can("instance:update", {"instance_id": instance_id})
        if "durability" in b:
            instance_ha.request_durability(self.service, req.ctx, req.tenant_id, instance_id,
                                           b["durability"])
        if "name" in b:
            self.service.rename(req.ctx, req.tenant_id, instance_id, b["name"])
        if access is not None:
            self.service.set_access(req.ctx, req.tenant_id, instance_id, access)
        if b.get("configuration"):
            self.configurations.attach(req.ctx, req.tenant_id, instance_id, b["configuration"])
        elif "configuration" in b:
            self.configurations.detach(req.ctx, req.tenant_id, instance_id)
        return 202, None

    def edit(self, req: ApiRequest, instance_id: str) -> Result:
        """PATCH: ``{"instance": {"datastore_version": ID|NAME}}`` upgrades (troveclient
        ``instances.upgrade``; see instance/upgrade.py for what is refused); ``name``,
        ``configuration`` and ``replica_of: null`` change what PUT changes (troveclient
        ``instances.edit``). 404 for an instance the tenant does not have."""
        b = req.body(schemas.INSTANCE_EDIT)["instance"]
        req.can("instance:edit", {"instance_id": instance_id})
        self.service.get(req.tenant_id, instance_id)
        if "datastore_version" in b:
            if len(b) > 1:
                raise BadRequest(reason="an upgrade (instance.datastore_version) changes "
                                        "nothing else in the same request")
            upgrade.request_upgrade(self.service, req.ctx, req.tenant_id, instance_id,
                                    b["datastore_version"])
            return 202, None
        return self._update(req, instance_id, b)

    def delete(self, req: ApiRequest, instance_id: str) -> Result:
        req.can("instance:delete", {"instance_id": instance_id})
        self.service.delete(req.ctx, req.tenant_id, instance_id)
        return 202, None

    def action(self, req: ApiRequest, instance_id: str) -> Result:
        body = req.body(schemas.INSTANCE_ACTION)
        (name, args), = body.items()
        target = {"instance_id": instance_id}
        if name == "restart":
            req.can("instance:action:restart", target)
            self.service.restart(req.ctx, req.tenant_id, instance_id)
        elif name == "reset_status":
            req.can("instance:action:reset_status", target)
            self.service.reset_status(req.ctx, req.tenant_id, instance_id)
        elif name == "resize" and "flavorRef" in args:
            req.can("instance:action:resize_flavor", target)
            self.service.resize_flavor(req.ctx, req.tenant_id, instance_id,
                                       str(args["flavorRef"]))
        elif name == "resize":
            req.can("instance:action:resize_volume", target)
            self.service.resize_volume(req.ctx, req.tenant_id, instance_id,
                                       args["volume"]["size"])
        elif name == "promote_to_replica_source":
            req.can("instance:action:promote_to_replica_source", target)
            replication.start_promote(self.service, req.ctx, req.tenant_id, instance_id)
        elif name == "eject_replica_source":
            req.can("instance:action:eject_replica_source", target)
            replication.start_eject(self.service, req.ctx, req.tenant_id, instance_id)
        else:
            raise NotImplementedYet(feature="The %s action" % name)
        return 202, None
