"""Handlers of ``/instances``: policy check, body validation, service call, view."""

from trove_lite.api import schemas, views
from trove_lite.api.pagination import next_links, page_params
from trove_lite.configuration.service import ConfigurationService
from trove_lite.exceptions import BadRequest, NotImplementedYet
from trove_lite.instance import replication
from trove_lite.instance.service import CreateRequest

# create-body keys we accept but whose feature is not built yet (501, not ignored)
_CREATE_NOT_IMPLEMENTED = {
    "modules": "Modules",
    "locality": "Locality policies for replicas",
}


def create_request(body):
    """A CreateRequest from a schema-valid create body (501 for features not built)."""
    b = body["instance"]
    for key, feature in _CREATE_NOT_IMPLEMENTED.items():
        if b.get(key):
            raise NotImplementedYet(feature=feature)
    if "flavorRef" not in b and not b.get("replica_of"):  # a replica may take its source's
        raise BadRequest(reason="a flavor is required (flavorRef)")
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
        access=b.get("access"),
        region_name=b.get("region_name"),
        configuration=b.get("configuration"),
    )


class InstancesController:
    def __init__(self, conf, service):
        self.conf = conf
        self.service = service
        self.configurations = ConfigurationService(conf, service.db)

    def _list(self, req, path, detailed):
        limit, marker = page_params(req.params, self.conf.api.max_limit)
        snaps, more = self.service.list(req.tenant_id, limit, marker)
        return 200, {
            "instances": [views.instance(s, req.links, detailed) for s in snaps],
            "links": next_links(req.links.url(path), req.params, limit,
                                [s.instance.id for s in snaps], more),
        }

    def index(self, req):
        req.can("instance:index")
        return self._list(req, "instances", detailed=False)

    def detail(self, req):
        req.can("instance:index")
        return self._list(req, "instances/detail", detailed=True)

    def show(self, req, instance_id):
        req.can("instance:show", {"instance_id": instance_id})
        snap = self.service.get(req.tenant_id, instance_id)
        return 200, {"instance": views.instance(snap, req.links, detailed=True)}

    def create(self, req):
        req.can("instance:create")
        body = req.body(schemas.INSTANCE_CREATE)
        create = create_request(body)
        replica_of = body["instance"].get("replica_of")
        if replica_of:
            snap = replication.create_replicas(self.service, req.ctx, req.tenant_id, create,
                                               replica_of, body["instance"].get("replica_count"))
        elif body["instance"].get("replica_count") is not None:
            raise BadRequest(reason="replica_count needs replica_of")
        else:
            snap = self.service.create(req.ctx, req.tenant_id, create)
        return 200, {"instance": views.instance(snap, req.links, detailed=True)}

    def update(self, req, instance_id):
        """PUT: rename, and attach (``configuration: ID``) or detach (``null``) a
        configuration group; replica detach and access answer 501."""
        b = req.body(schemas.INSTANCE_UPDATE)["instance"]
        if "access" in b:
            raise NotImplementedYet(feature="Changing instance access")
        if "replica_of" in b:  # the schema lets only null through: detach
            req.can("instance:update", {"instance_id": instance_id})
            replication.start_detach(self.service, req.ctx, req.tenant_id, instance_id)
            return 202, None
        if "name" not in b and "configuration" not in b:
            raise BadRequest(reason="nothing to update: give instance.name or "
                                    "instance.configuration")
        req.can("instance:update", {"instance_id": instance_id})
        if "name" in b:
            self.service.rename(req.ctx, req.tenant_id, instance_id, b["name"])
        if b.get("configuration"):
            self.configurations.attach(req.tenant_id, instance_id, b["configuration"])
        elif "configuration" in b:
            self.configurations.detach(req.tenant_id, instance_id)
        return 202, None

    def edit(self, req, instance_id):
        """PATCH (datastore upgrade)."""
        req.can("instance:edit", {"instance_id": instance_id})
        raise NotImplementedYet(feature="Upgrading an instance's datastore version")

    def delete(self, req, instance_id):
        req.can("instance:delete", {"instance_id": instance_id})
        self.service.delete(req.ctx, req.tenant_id, instance_id)
        return 202, None

    def action(self, req, instance_id):
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
