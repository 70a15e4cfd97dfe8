"""Datastore logs of an instance: list, enable/disable, publish, discard, read back.

Where published logs go (``[logs] store``, see ``pick_store``):

- ``tenant_swift`` (``auto`` picks it with Keystone and the Swift storage
  driver): as Trove, into the tenant's own Swift account (the request's token;
  the account URL from ``[logs] swift_url`` or the catalog's object-store
  endpoint), container ``[logs] container``, plain objects with
  ``X-Object-Meta-Lines``, so troveclient's ``log_generator``/``log_save`` and
  ``openstack database log tail/save`` read them unchanged. Encryption at rest
  is Swift's (the ``keymaster`` + ``encryption`` proxy middlewares).
- ``deployment`` (``auto`` picks it for noauth or the local store, where no
  user account exists): the deployment's storage driver, each object
  AES-256-GCM under a key derived from the tenant's backup key (below).

As in Trove, these go straight from the API to the instance's guest agent
(``GuestAPI`` 1.4). Publishing is done here, in the control plane, because the
tenant's encryption key never leaves it (not even on the bus):

1. the metafile (``<instance>/<log>.metafile`` in the ``[logs] container`` of
   the deployment's storage driver, local store or Swift) says which file of the
   log was read up to which offset and lists the objects published so far;
2. the guest hands over what is new since that offset, at most ``[logs]
   object_size`` bytes per call (from 0 of a new file if it rotated);
3. each piece becomes the next numbered object ``<instance>/<log>/log-NNNNNN``,
   AES-256-GCM-encrypted under a key derived from the tenant's backup key; the
   metafile is rewritten when the publish ends, also when it fails half-way, so
   a publish never uploads a byte twice (a process killed mid-way leaves the old
   metafile, and the next publish rewrites the same numbered objects in place).

``discard`` deletes the published objects (the offset stays: a later publish
carries on with what is new). Reading back (``objects``/``object_data``) needs
only the instance row and the store, not the guest.
"""

from __future__ import annotations

import base64
import builtins
import dataclasses
import hashlib
import io
import json
import logging
import os
import threading
from typing import TYPE_CHECKING, Any, Callable, Collection

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from oslo_config import cfg
import requests
import swiftclient
from swiftclient import exceptions as swift_exc

from trove_lite.backup.keys import TenantKeys
from trove_lite.datastores.logs import LOG_TYPES, SYS, check_name
from trove_lite.drivers import storage as storage_drivers
from trove_lite.db.session import Database
from trove_lite.exceptions import BadRequest, Forbidden, NotFound, TroveLiteError

if TYPE_CHECKING:
    from trove_lite.instance.guest_admin import GuestAdminService
    from trove_lite.rpc.guest import GuestAPI

LOG = logging.getLogger(__name__)
OBJECT_FORMAT = "log-%06d"
ACTION_ORDER = ("enable", "disable", "discard", "publish")


class LogStoreError(TroveLiteError):
    """The object store failed or is unreachable (not the user's doing)."""
    http_status = 503
    code = "log_store_error"
    message_format = "%(reason)s"


def log_status(guest_status: str, published: int, pending: int, rotated: bool) -> str:
    """Trove's status of a log from the guest's and the store's view (pure)."""
    if guest_status in ("Disabled", "Restart Required"):
        return guest_status
    if published:
        if rotated:
            return "Rotated"
        return "Published" if pending == 0 else "Partial"
    return guest_status


def pending_bytes(meta: dict, guest_log: dict) -> int:
    """Bytes of the guest's current file not yet published (pure)."""
    if meta.get("file_id") and meta["file_id"] == guest_log.get("file_id"):
        return max(0, guest_log["size"] - meta.get("offset", 0))
    return guest_log.get("size", 0)


def empty_meta() -> dict[str, Any]:
    return {"file_id": None, "offset": 0, "next_number": 1, "objects": [], "rotations": 0}


class LogCipher:
    """AES-256-GCM under a key derived from the tenant's backup key (never stored).

    An object is ``nonce (12 bytes) || ciphertext || tag``; its name is the
    associated data, so an object moved to another name does not decrypt.
    (Fernet would store base64, a third more bytes, at a third of the speed.)"""

    def __init__(self, tenant_key: str) -> None:
        self._aead = AESGCM(hashlib.sha256(b"trove-lite datastore logs\0"
                                           + tenant_key.encode()).digest())

    def encrypt(self, data: bytes, name: str) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, data, name.encode())

    def decrypt(self, blob: bytes, name: str) -> bytes:
        """The plain bytes; InvalidTag if the key, the name or a byte is wrong."""
        return self._aead.decrypt(blob[:12], blob[12:], name.encode())


class DeploymentStore:
    """Published logs in the deployment's storage driver (local store or Swift),
    each object AES-256-GCM under the tenant's key (``[logs] store = deployment``)."""

    encrypted = True

    def __init__(self, container: str, storage: storage_drivers.StorageDriver,
                 cipher: Callable[[], LogCipher]) -> None:
        self.container = container
        self._storage = storage
        self._make_cipher = cipher
        self._cipher_made: LogCipher | None = None

    def _cipher(self) -> LogCipher:
        if self._cipher_made is None:
            self._cipher_made = self._make_cipher()
        return self._cipher_made

    def _location(self, object_name: str) -> str:
        return self._storage.location_for("%s/%s" % (self.container, object_name))

    def read_meta(self, metafile: str) -> dict | None:
        location = self._location(metafile)
        if not self._storage.exists(location):
            return None
        with self._storage.load(location) as stream:
            return json.loads(b"".join(iter(lambda: stream.read(1 << 20), b"")))

    def write_meta(self, metafile: str, meta: dict) -> None:
        self._storage.save("%s/%s" % (self.container, metafile),
                           io.BytesIO(json.dumps(meta).encode()), {})

    def put(self, object_name: str, data: bytes, lines: int) -> str:
        return self._storage.save(
            "%s/%s" % (self.container, object_name),
            io.BytesIO(self._cipher().encrypt(data, object_name)),
            {"lines": lines, "size": len(data), "encrypted": "aes-256-gcm"}).location

    def get(self, obj: dict) -> bytes:
        with self._storage.load(obj["location"]) as stream:
            blob = b"".join(iter(lambda: stream.read(1 << 20), b""))
        try:
            return self._cipher().decrypt(blob, obj["name"])
        except InvalidTag:
            raise LogStoreError(reason="published object %d of log %s cannot be "
                                       "decrypted with the tenant's key"
                                % (obj["number"], obj["name"])) from None

    def delete(self, obj: dict) -> None:
        self._storage.delete(obj["location"])


class TenantSwiftStore:
    """Published logs in the tenant's own Swift account, with the request's token
    (``[logs] store = tenant_swift``), as Trove's guest publishes them: plain
    objects with ``X-Object-Meta-Lines`` that troveclient's ``log_generator``
    reads; Swift's ``keymaster`` + ``encryption`` middlewares encrypt them at rest."""

    encrypted = False

    def __init__(self, container: str, storage_url: str, token: str, retries: int = 2,
                 timeout: float = 30.0) -> None:
        self.container = container
        self.storage_url = storage_url
        self._conn = swiftclient.Connection(preauthurl=storage_url, preauthtoken=token,
                                            retries=retries, timeout=timeout,
                                            starting_backoff=0.5, max_backoff=4)
        self._container_made = False

    def _call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except swift_exc.ClientException as e:
            if e.http_status in (401, 403):
                raise Forbidden(message="The object store refused %s in the project's "
                                        "account (%s)." % (what, e.http_status)) from None
            if e.http_status == 404:
                raise
            raise LogStoreError(reason="object store: %s failed: %s"
                                       % (what, e.http_status or e.msg)) from None
        except (requests.RequestException, OSError) as e:
            raise LogStoreError(reason="object store unreachable while %s: %s"
                                       % (what, e)) from None

    def read_meta(self, metafile: str) -> dict | None:
        try:
            _, body = self._call("reading the metafile", self._conn.get_object,
                                 self.container, metafile)
        except swift_exc.ClientException:
            return None
        return json.loads(body)

    def _ensure_container(self) -> None:
        if not self._container_made:
            self._call("creating the log container", self._conn.put_container,
                       self.container)
            self._container_made = True

    def write_meta(self, metafile: str, meta: dict) -> None:
        self._ensure_container()
        self._call("writing the metafile", self._conn.put_object, self.container, metafile,
                   json.dumps(meta).encode(), content_type="application/json")

    def put(self, object_name: str, data: bytes, lines: int) -> str:
        self._ensure_container()
        self._call("uploading a log object", self._conn.put_object, self.container,
                   object_name, data, content_type="text/plain",
                   headers={"X-Object-Meta-Lines": str(lines)})
        return "%s/%s/%s" % (self.storage_url, self.container, object_name)

    def get(self, obj: dict) -> bytes:
        try:
            return self._call("reading a log object", self._conn.get_object,
                              self.container, obj["name"])[1]
        except swift_exc.ClientException:
            raise NotFound(message="Published object %d of log %s is gone from the "
                                   "object store." % (obj["number"], obj["name"])) from None

    def delete(self, obj: dict) -> None:
        try:
            self._call("deleting a log object", self._conn.delete_object, self.container,
                       obj["name"])
        except swift_exc.ClientException:
            pass  # already gone


# Where a tenant's logs are published (see ``LogService.store``).
LogStore = DeploymentStore | TenantSwiftStore


def object_store_url(catalog: list | None, region: str | None = None) -> str | None:
    """The public object-store URL in a service catalog (keystonemiddleware's
    ``X-Service-Catalog``: v2 ``publicURL`` entries or v3 ``interface``/``url``),
    None if there is none (pure)."""
    for service in catalog or []:
        if service.get("type") != "object-store":
            continue
        for ep in service.get("endpoints") or []:
            if region and (ep.get("region") or ep.get("region_id")) not in (region, None):
                continue
            if ep.get("publicURL"):
                return ep["publicURL"]
            if ep.get("interface") == "public" and ep.get("url"):
                return ep["url"]
    return None


def tenant_storage_url(swift_url: str | None, catalog: list | None, project_id: str,
                       region: str | None = None) -> str | None:
    """The Swift account URL of ``project_id``: ``[logs] swift_url`` (Trove's
    ``swift_url``: ``.../v1/AUTH_`` gets the project id appended, or a template
    with ``%(project_id)s``), else the catalog's object-store endpoint (pure)."""
    if swift_url:
        if "%(" in swift_url:
            return swift_url % {"project_id": project_id, "tenant_id": project_id}
        return swift_url + project_id
    return object_store_url(catalog, region)


@dataclasses.dataclass(frozen=True)
class UserAuth:
    """What a request brings for the tenant's own Swift: its token and catalog."""
    token: str | None = dataclasses.field(default=None, repr=False)
    catalog: list | None = dataclasses.field(default=None, repr=False)


def pick_store(store_opt: str, auth_strategy: str, storage_driver: str) -> str:
    """``tenant_swift`` or ``deployment`` for ``[logs] store`` (pure): ``auto`` is
    tenant_swift with Keystone and the Swift storage driver, else deployment."""
    if store_opt != "auto":
        return store_opt
    if auth_strategy == "keystone" and storage_driver == "swift":
        return "tenant_swift"
    return "deployment"


class LogService:
    """Logs of the instances of a tenant. ``guests`` is a GuestAdminService (its
    ``guest()`` checks tenant and state), ``storage()`` returns the store."""

    def __init__(self, conf: cfg.ConfigOpts, db: Database, guests: GuestAdminService,
                 storage: storage_drivers.StorageDriver | None = None) -> None:
        self.conf = conf
        self.db = db
        self.guests = guests
        self._storage = storage
        self._keys: TenantKeys | None = None
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._locks_guard = threading.Lock()

    # -- names and places ------------------------------------------------------------
    @property
    def container(self) -> str:
        return self.conf.logs.container

    def storage(self) -> storage_drivers.StorageDriver:
        if self._storage is None:
            self._storage = storage_drivers.get_storage(self.conf)
        return self._storage

    @staticmethod
    def prefix(instance_id: str, name: str) -> str:
        return "%s/%s/" % (instance_id, name)

    @staticmethod
    def metafile(instance_id: str, name: str) -> str:
        return "%s/%s.metafile" % (instance_id, name)

    @property
    def mode(self) -> str:
        def opt(group: str, name: str, default: str) -> str:
            try:
                return getattr(getattr(self.conf, group), name)
            except (AttributeError, cfg.NoSuchOptError):
                return default
        return pick_store(opt("logs", "store", "auto"), opt("api", "auth_strategy", "noauth"),
                          opt("backup_storage", "driver", "local"))

    def store(self, tenant_id: str, auth: UserAuth | None = None) -> LogStore:
        """Where ``tenant_id``'s logs are published (see ``[logs] store``)."""
        if self.mode == "deployment":
            return DeploymentStore(self.container, self.storage(),
                                   lambda: self._cipher(tenant_id))
        auth = auth or UserAuth()
        if not auth.token:
            raise BadRequest(reason="publishing to the project's object store needs "
                                    "the request's Keystone token")
        url = tenant_storage_url(self.conf.logs.swift_url, auth.catalog, tenant_id,
                                 self.conf.storage_swift.region_name)
        if not url:
            raise BadRequest(reason="the service catalog has no object-store endpoint "
                                    "and [logs] swift_url is not set")
        return TenantSwiftStore(self.container, url, auth.token,
                                retries=self.conf.storage_swift.retries,
                                timeout=self.conf.storage_swift.timeout)

    def _cipher(self, tenant_id: str) -> LogCipher:
        if self._keys is None:
            self._keys = TenantKeys(self.conf, self.db)
        return LogCipher(self._keys.get(tenant_id))

    def _lock(self, instance_id: str, name: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault((instance_id, name), threading.Lock())

    # -- metafile ------------------------------------------------------------------------
    def load_meta(self, store: LogStore, instance_id: str, name: str) -> dict[str, Any]:
        return store.read_meta(self.metafile(instance_id, name)) or empty_meta()

    def _save_meta(self, store: LogStore, instance_id: str, name: str, meta: dict) -> None:
        store.write_meta(self.metafile(instance_id, name), meta)

    # -- views ----------------------------------------------------------------------------
    def _view(self, instance_id: str, guest_log: dict, meta: dict) -> dict[str, Any]:
        name = guest_log["name"]
        published = sum(o["size"] for o in meta["objects"])
        pending = pending_bytes(meta, guest_log)
        rotated = bool(meta.get("file_id")) and meta["file_id"] != guest_log.get("file_id")
        return {"name": name, "type": guest_log["type"],
                "status": log_status(guest_log["status"], published, pending, rotated),
                "published": published, "pending": pending, "container": self.container,
                "prefix": self.prefix(instance_id, name),
                "metafile": self.metafile(instance_id, name)}

    def _guest_log(self, guest: GuestAPI, name: str) -> dict:
        for entry in guest.guest_log_list():
            if entry["name"] == name:
                return entry
        raise NotFound(message="Log %s does not exist on this instance." % name)

    def list(self, tenant_id: str, instance_id: str,
             auth: UserAuth | None = None) -> list[dict[str, Any]]:
        guest = self.guests.guest(tenant_id, instance_id, "listing logs")
        store = self.store(tenant_id, auth)
        return [self._view(instance_id, g, self.load_meta(store, instance_id, g["name"]))
                for g in guest.guest_log_list()]

    def show(self, tenant_id: str, instance_id: str, name: str,
             auth: UserAuth | None = None) -> dict[str, Any]:
        check_name(name)
        guest = self.guests.guest(tenant_id, instance_id, "showing a log")
        return self._view(instance_id, self._guest_log(guest, name),
                          self.load_meta(self.store(tenant_id, auth), instance_id, name))

    # -- actions ---------------------------------------------------------------------------
    def action(self, tenant_id: str, instance_id: str, name: str, actions: Collection[str],
               auth: UserAuth | None = None) -> dict[str, Any]:
        """``actions``: a subset of enable/disable, discard, publish, run in that order
        (troveclient may send discard and publish together); none is a show."""
        check_name(name)
        ordered = [a for a in ACTION_ORDER if a in actions]
        if "enable" in ordered and "disable" in ordered:
            raise BadRequest(reason="enable and disable cannot be asked together")
        if {"enable", "disable"} & set(ordered) and LOG_TYPES[name] == SYS:
            raise BadRequest(reason="log %s is a system log (SYS): it is always on and "
                                    "cannot be %sd" % (name, ordered[0]))
        if not ordered:
            return self.show(tenant_id, instance_id, name, auth)
        guest = self.guests.guest(tenant_id, instance_id, "the %s log action" % ordered[0])
        store = self.store(tenant_id, auth)
        with self._lock(instance_id, name):
            guest_log: dict | None = None
            meta: dict | None = None
            for act in ordered:
                if act in ("enable", "disable"):
                    guest_log = guest.guest_log_enable(name, act == "enable")
                elif act == "discard":
                    meta = self._discard(store, instance_id, name)
                else:
                    meta = self._publish(store, instance_id, guest, name)
        return self._view(instance_id, self._guest_log(guest, name) if meta or not guest_log
                          else guest_log, meta or self.load_meta(store, instance_id, name))

    def _publish(self, store: LogStore, instance_id: str, guest: GuestAPI,
                 name: str) -> dict[str, Any]:
        guest_log = self._guest_log(guest, name)
        if not guest_log["enabled"]:
            raise BadRequest(reason="log %s is disabled: enable it before publishing it"
                                    % name)
        meta = self.load_meta(store, instance_id, name)
        limit = self.conf.logs.object_size
        try:
            while True:
                piece = guest.guest_log_read(name, meta["offset"], limit, meta["file_id"])
                meta["rotations"] += 1 if piece["rotated"] else 0
                data = base64.b64decode(piece["data"])
                if data:
                    self._upload(store, instance_id, name, meta, data)
                meta["offset"], meta["file_id"] = piece["next_offset"], piece["file_id"]
                if piece["at_end"] or not data:
                    break
        finally:
            # also after a failure: what was uploaded is recorded, not redone (and a
            # publish cut off before this rewrites the same numbered objects)
            self._save_meta(store, instance_id, name, meta)
        LOG.info("published log %s of instance %s: %d objects, offset %d", name,
                 instance_id, len(meta["objects"]), meta["offset"])
        return meta

    @staticmethod
    def _upload(store: LogStore, instance_id: str, name: str, meta: dict,
                data: bytes) -> None:
        """``data`` as the next numbered object; recorded in ``meta``."""
        number = meta["next_number"]
        object_name = LogService.prefix(instance_id, name) + OBJECT_FORMAT % number
        lines = data.count(b"\n")
        location = store.put(object_name, data, lines)
        meta["objects"].append({"number": number, "name": object_name,
                                "location": location, "size": len(data),
                                "lines": lines})
        meta["next_number"] = number + 1

    def _discard(self, store: LogStore, instance_id: str, name: str) -> dict[str, Any]:
        meta = self.load_meta(store, instance_id, name)
        for obj in meta["objects"]:
            store.delete(obj)
        meta["objects"] = []
        self._save_meta(store, instance_id, name, meta)
        return meta

    # -- reading back -------------------------------------------------------------------------
    def objects(self, tenant_id: str, instance_id: str, name: str,
                auth: UserAuth | None = None) -> builtins.list[dict[str, Any]]:
        """[{number, size, lines}] of the published objects, oldest first."""
        check_name(name)
        self.guests.instances.get(tenant_id, instance_id)  # 404 for another tenant's
        return [{"number": o["number"], "size": o["size"], "lines": o["lines"]}
                for o in self.load_meta(self.store(tenant_id, auth), instance_id,
                                        name)["objects"]]

    def object_data(self, tenant_id: str, instance_id: str, name: str, number: int,
                    auth: UserAuth | None = None) -> bytes:
        """The plain bytes of published object ``number``."""
        check_name(name)
        self.guests.instances.get(tenant_id, instance_id)
        store = self.store(tenant_id, auth)
        for obj in self.load_meta(store, instance_id, name)["objects"]:
            if obj["number"] == number:
                return store.get(obj)
        raise NotFound(message="Log %s has no published object %s." % (name, number))
