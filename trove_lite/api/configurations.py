"""Handlers of configuration groups, datastore parameters and an instance's effective
configuration: policy check, body validation, service call, view.

Shapes are Trove's, as python-troveclient and ``openstack database configuration``
read them. The service is trove_lite/configuration/service.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from oslo_config import cfg

from trove_lite.api import schemas
from trove_lite.api.pagination import next_links, page_params
from trove_lite.api.schemas import name, obj, text
from trove_lite.api.views import isotime, JsonBody, Result
from trove_lite.configuration.service import ConfigurationService, GroupView
from trove_lite.db.session import Database
from trove_lite.configuration.rules import Rule

if TYPE_CHECKING:
    from trove_lite.api.wsgi import ApiRequest

# names and values are checked against the datastore's rules by the service
_VALUES = {"type": "object", "maxProperties": 200,
           "propertyNames": {"maxLength": 128, "pattern": schemas.NO_CONTROL},
           "additionalProperties": {"type": ["string", "integer", "number", "boolean"],
                                    "maxLength": 4096, "pattern": schemas.NO_CONTROL,
                                    # a server variable is at most an unsigned 64-bit
                                    "minimum": -2 ** 63, "maximum": 2 ** 64 - 1}}
_NAME = name(255)
_DESCRIPTION = text(255)

CONFIGURATION_CREATE = obj(["configuration"], configuration=obj(
    ["name", "values"], name=_NAME, description=_DESCRIPTION, values=_VALUES,
    datastore=schemas.DATASTORE))

CONFIGURATION_CHANGE = obj(["configuration"], configuration=obj(
    ["values"], values=_VALUES, name=_NAME, description=_DESCRIPTION))


def configuration_view(group: GroupView, detailed: bool = True) -> JsonBody:
    """One group; ``detailed`` adds values and instance_count (show/create)."""
    row, version = group.row, group.version
    body: JsonBody = {
        "id": row.id, "name": row.name, "description": row.description,
        "created": isotime(row.created), "updated": isotime(row.updated),
        "datastore_name": group.datastore.name, "datastore_version_id": version.id,
        "datastore_version_name": version.name,
        "datastore_version_number": version.version or version.name,
    }
    if detailed:
        body["values"] = group.values
        body["instance_count"] = group.instance_count
    return body


def parameter_view(rule: Rule, version_id: str) -> JsonBody:
    body: JsonBody = rule.to_dict()
    for key in ("min", "max"):
        if body.get(key) is None:
            body.pop(key, None)
    body["datastore_version_id"] = version_id
    return body


class ConfigurationsController:
    def __init__(self, conf: cfg.ConfigOpts, db: Database,
                 service: ConfigurationService | None = None) -> None:
        self.conf = conf
        self.service = service or ConfigurationService(conf, db)

    # -- groups ------------------------------------------------------------------
    def index(self, req: ApiRequest) -> Result:
        req.can("configuration:index")
        limit, marker = page_params(req.params, self.conf.api.max_limit)
        groups, more = self.service.list(req.tenant_id, limit, marker)
        return 200, {"configurations": [configuration_view(g, detailed=False)
                                        for g in groups],
                     "links": next_links(req.links.url("configurations"), req.params, limit,
                                         [g.row.id for g in groups], more)}

    def show(self, req: ApiRequest, configuration_id: str) -> Result:
        req.can("configuration:show", {"configuration_id": configuration_id})
        group = self.service.get(req.tenant_id, configuration_id)
        return 200, {"configuration": configuration_view(group)}

    def create(self, req: ApiRequest) -> Result:
        req.can("configuration:create")
        b = req.body(CONFIGURATION_CREATE)["configuration"]
        ds = b.get("datastore") or {}
        group = self.service.create(req.tenant_id, b["name"], b["values"],
                                    description=b.get("description"),
                                    datastore=ds.get("type"), version=ds.get("version"),
                                    version_number=ds.get("version_number"))
        return 200, {"configuration": configuration_view(group)}

    def edit(self, req: ApiRequest, configuration_id: str) -> Result:
        """PATCH: merge the values; every attached instance gets them (200 as Trove
        answers, though the apply runs in the taskmanager afterwards: it is shown as
        the instance's ``configuration.apply``)."""
        req.can("configuration:edit", {"configuration_id": configuration_id})
        b = req.body(CONFIGURATION_CHANGE)["configuration"]
        self.service.change(req.ctx, req.tenant_id, configuration_id, b["values"],
                            replace=False)
        return 200, None

    def update(self, req: ApiRequest, configuration_id: str) -> Result:
        """PUT: replace the values (dropped ones return to the defaults on the instances)."""
        req.can("configuration:update", {"configuration_id": configuration_id})
        b = req.body(CONFIGURATION_CHANGE)["configuration"]
        self.service.change(req.ctx, req.tenant_id, configuration_id, b["values"], replace=True,
                            name=b.get("name"), description=b.get("description"))
        return 202, None

    def delete(self, req: ApiRequest, configuration_id: str) -> Result:
        req.can("configuration:delete", {"configuration_id": configuration_id})
        self.service.delete(req.tenant_id, configuration_id)
        return 202, None

    def instances(self, req: ApiRequest, configuration_id: str) -> Result:
        req.can("configuration:instances", {"configuration_id": configuration_id})
        limit, marker = page_params(req.params, self.conf.api.max_limit)
        items, more = self.service.instances(req.tenant_id, configuration_id, limit, marker)
        path = "configurations/%s/instances" % configuration_id
        return 200, {"instances": items,
                     "links": next_links(req.links.url(path), req.params, limit,
                                         [i["id"] for i in items], more)}

    # -- parameters --------------------------------------------------------------
    def _parameters(self, req: ApiRequest, **ref: str) -> Result:
        req.can("configuration-parameter:index")
        version, rules = self.service.parameters(**ref)
        return 200, {"configuration-parameters": [parameter_view(r, version.id)
                                                  for r in rules]}

    def _parameter(self, req: ApiRequest, name: str, **ref: str) -> Result:
        req.can("configuration-parameter:show")
        version, rule = self.service.parameter(name, **ref)
        return 200, parameter_view(rule, version.id)

    def parameters(self, req: ApiRequest, datastore: str, version: str) -> Result:
        return self._parameters(req, datastore=datastore, version=version)

    def parameter(self, req: ApiRequest, datastore: str, version: str, name: str) -> Result:
        return self._parameter(req, name, datastore=datastore, version=version)

    def parameters_by_version(self, req: ApiRequest, version_id: str) -> Result:
        return self._parameters(req, version_id=version_id)

    def parameter_by_version(self, req: ApiRequest, version_id: str, name: str) -> Result:
        return self._parameter(req, name, version_id=version_id)

    # -- an instance's effective configuration --------------------------------------
    def effective(self, req: ApiRequest, instance_id: str) -> Result:
        req.can("instance:configuration", {"instance_id": instance_id})
        values = self.service.effective(req.tenant_id, instance_id)
        return 200, {"instance": {"configuration": values}}

