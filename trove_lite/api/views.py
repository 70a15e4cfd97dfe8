"""Response bodies, shaped as python-troveclient and ``openstack database`` read them.

Pure functions of rows/snapshots and a ``Links`` (host URL + tenant). Keys the
clients index (``flavor['id']``, ``datastore['type']``, ``volume['size']``...)
are always present; optional blocks (``fault``, ``volume.used``) only when
known, as Trove does.
"""

import json
from typing import Any
import datetime
from collections.abc import Sequence

from trove_lite.instance import replication
from trove_lite.instance.service import InstanceSnapshot
from trove_lite.db import models

API_VERSION = "v1.0"

# a JSON object as the API reads and answers it
JsonBody = dict[str, Any]
# what a handler returns: the HTTP status and the body (None: no body)
Result = tuple[int, JsonBody | None]


def isotime(dt: datetime.datetime | None) -> str | None:
    return dt.strftime("%Y-%m-%dT%H:%M:%S") if dt is not None else None


class Links:
    """Hrefs for one request: self ``<host>/v1.0/<tenant>/...``, bookmark
    ``<host>/<tenant>/...``."""

    def __init__(self, host_url: str, tenant_id: str | None) -> None:
        self.host_url = host_url.rstrip("/")
        self.tenant_id = tenant_id

    def url(self, path: str) -> str:
        return "%s/%s/%s/%s" % (self.host_url, API_VERSION, self.tenant_id, path.lstrip("/"))

    def links(self, path: str) -> list[dict[str, str]]:
        path = path.lstrip("/")
        return [{"rel": "self", "href": self.url(path)},
                {"rel": "bookmark", "href": "%s/%s/%s" % (self.host_url, self.tenant_id, path)}]


def _access(inst: models.Instance) -> JsonBody:
    access = {"is_public": False, "allowed_cidrs": []}
    if inst.access:
        try:
            access.update(json.loads(inst.access))
        except ValueError:
            pass
    return access


def instance(snap: InstanceSnapshot, links: Links, detailed: bool = False) -> JsonBody:
    """One instance (list form, or show/detail form when ``detailed``)."""
    inst = snap.instance
    body: JsonBody = {
        "id": inst.id,
        "name": inst.name,
        "status": snap.status,
        "operating_status": snap.service_status,
        "links": links.links("instances/%s" % inst.id),
        "flavor": {"id": inst.flavor_id, "links": links.links("flavors/%s" % inst.flavor_id)},
        "datastore": {"type": snap.datastore.name, "version": snap.version.name,
                      "version_number": snap.version.version or snap.version.name},
        "region": inst.region_id,
        "access": _access(inst),
        "ip": [inst.address] if inst.address else [],
        "addresses": ([{"address": inst.address, "type": "private"}]
                      if inst.address else []),
    }
    if inst.volume_size is not None:
        body["volume"] = {"size": inst.volume_size}
    if not detailed:
        return body
    body["created"] = isotime(inst.created)
    body["updated"] = isotime(inst.updated)
    body["service_status_updated"] = isotime(snap.service.updated_at if snap.service
                                             else inst.created)
    used = getattr(snap.service, "volume_used", None) if snap.service else None
    if "volume" in body and used is not None:
        body["volume"]["used"] = used
    if inst.configuration_id:
        # Trove's id, links and name; "apply": whether the group reached the server
        body["configuration"] = {"id": inst.configuration_id, "links": links.links(
            "configurations/%s" % inst.configuration_id), **(snap.configuration or {})}
    elif snap.configuration:
        # a detach the server has not taken yet: no group, and the state of its removal
        body["configuration"] = {"id": None, "links": [], **snap.configuration}
    body.update(replication.view(snap, links))
    if snap.restorable_window is not None:
        body["restorable_window"] = snap.restorable_window
    progress = getattr(snap.service, "restore_progress", None) if snap.service else None
    if progress and snap.status == "BUILD":
        body["restore_progress"] = json.loads(progress)
    if snap.fault is not None:
        body["fault"] = {"message": snap.fault.message, "created": isotime(snap.fault.created),
                         "details": snap.fault.details}
    return body


def flavor(row: models.Flavor, links: Links) -> JsonBody:
    return {
        # troveclient shows str_id when id is null; Trove gives numeric ids as ints
        "id": int(row.id) if row.id.isdigit() else row.id,
        "str_id": row.id,
        "name": row.name,
        "ram": row.ram,
        "vcpus": row.vcpus,
        "disk": row.disk,
        "ephemeral": row.ephemeral,
        "links": links.links("flavors/%s" % row.id),
    }


def version_summary(row: models.DatastoreVersion, links: Links) -> JsonBody:
    return {"id": row.id, "name": row.name, "active": bool(row.active),
            "version": row.version or row.name,
            "links": links.links("datastores/versions/%s" % row.id)}


def version(row: models.DatastoreVersion, links: Links) -> JsonBody:
    body = version_summary(row, links)
    body.update({"datastore": row.datastore_id, "image": row.image_id,
                 "packages": row.packages or ""})
    return body


def datastore(row: models.Datastore, versions: Sequence[models.DatastoreVersion],
              links: Links) -> JsonBody:
    body = {"id": row.id, "name": row.name,
            "versions": [version_summary(v, links) for v in versions],
            "links": links.links("datastores/%s" % row.id)}
    if row.default_version_id and any(v.id == row.default_version_id for v in versions):
        body["default_version"] = row.default_version_id
    return body


def version_document(host_url: str) -> JsonBody:
    return {"versions": [{
        "id": API_VERSION, "status": "CURRENT", "updated": "2012-08-01T00:00:00Z",
        "links": [{"rel": "self", "href": "%s/%s/" % (host_url.rstrip("/"), API_VERSION)}],
    }]}
