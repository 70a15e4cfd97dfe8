"""Datastore logs of an instance: list, enable/disable, publish, discard, read back.

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

import base64
import hashlib
import io
import json
import logging
import os
import threading

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from trove_lite.backup.keys import TenantKeys
from trove_lite.drivers import storage as storage_drivers
from trove_lite.exceptions import BadRequest, NotFound, TroveLiteError
from trove_lite.guestagent.logs import LOG_TYPES, SYS, check_name

LOG = logging.getLogger(__name__)
OBJECT_FORMAT = "log-%06d"
ACTION_ORDER = ("enable", "disable", "discard", "publish")


class LogStoreError(TroveLiteError):
    code = "log_store_error"
    message_format = "%(reason)s"


def log_status(guest_status, published, pending, rotated):
    """Trove's status of a log from the guest's and the store's view (pure)."""
    if guest_status in ("Disabled", "Restart Required"):
        return guest_status
    if published:
        if rotated:
            return "Rotated"
        return "Published" if pending == 0 else "Partial"
    return guest_status


def pending_bytes(meta, guest_log):
    """Bytes of the guest's current file not yet published (pure)."""
    if meta.get("file_id") and meta["file_id"] == guest_log.get("file_id"):
        return max(0, guest_log["size"] - meta.get("offset", 0))
    return guest_log.get("size", 0)


def empty_meta():
    return {"file_id": None, "offset": 0, "next_number": 1, "objects": [], "rotations": 0}


class LogCipher:
    """AES-256-GCM under a key derived from the tenant's backup key (never stored).

    An object is ``nonce (12 bytes) || ciphertext || tag``; its name is the
    associated data, so an object moved to another name does not decrypt.
    (Fernet would store base64, a third more bytes, at a third of the speed.)"""

    def __init__(self, tenant_key):
        self._aead = AESGCM(hashlib.sha256(b"trove-lite datastore logs\0"
                                           + tenant_key.encode()).digest())

    def encrypt(self, data, name):
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, data, name.encode())

    def decrypt(self, blob, name):
        """The plain bytes; InvalidTag if the key, the name or a byte is wrong."""
        return self._aead.decrypt(blob[:12], blob[12:], name.encode())


class LogService:
    """Logs of the instances of a tenant. ``guests`` is a GuestAdminService (its
    ``guest()`` checks tenant and state), ``storage()`` returns the store."""

    def __init__(self, conf, db, guests, storage=None):
        self.conf = conf
        self.db = db
        self.guests = guests
        self._storage = storage
        self._keys = None
        self._locks = {}
        self._locks_guard = threading.Lock()

    # -- names and places ------------------------------------------------------------
    @property
    def container(self):
        return self.conf.logs.container

    def storage(self):
        if self._storage is None:
            self._storage = storage_drivers.get_storage(self.conf)
        return self._storage

    @staticmethod
    def prefix(instance_id, name):
        return "%s/%s/" % (instance_id, name)

    @staticmethod
    def metafile(instance_id, name):
        return "%s/%s.metafile" % (instance_id, name)

    def _location(self, object_name):
        return self.storage().location_for("%s/%s" % (self.container, object_name))

    def _cipher(self, tenant_id):
        if self._keys is None:
            self._keys = TenantKeys(self.conf, self.db)
        return LogCipher(self._keys.get(tenant_id))

    def _lock(self, instance_id, name):
        with self._locks_guard:
            return self._locks.setdefault((instance_id, name), threading.Lock())

    # -- metafile ------------------------------------------------------------------------
    def load_meta(self, instance_id, name):
        location = self._location(self.metafile(instance_id, name))
        store = self.storage()
        if not store.exists(location):
            return empty_meta()
        with store.load(location) as stream:
            raw = b"".join(iter(lambda: stream.read(1 << 20), b""))
        return json.loads(raw)

    def _save_meta(self, instance_id, name, meta):
        self.storage().save("%s/%s" % (self.container, self.metafile(instance_id, name)),
                            io.BytesIO(json.dumps(meta).encode()), {})

    # -- views ----------------------------------------------------------------------------
    def _view(self, instance_id, guest_log, meta):
        name = guest_log["name"]
        published = sum(o["size"] for o in meta["objects"])
        pending = pending_bytes(meta, guest_log)
        rotated = bool(meta.get("file_id")) and meta["file_id"] != guest_log.get("file_id")
        return {"name": name, "type": guest_log["type"],
                "status": log_status(guest_log["status"], published, pending, rotated),
                "published": published, "pending": pending, "container": self.container,
                "prefix": self.prefix(instance_id, name),
                "metafile": self.metafile(instance_id, name)}

    def _guest_log(self, guest, name):
        for entry in guest.guest_log_list():
            if entry["name"] == name:
                return entry
        raise NotFound(message="Log %s does not exist on this instance." % name)

    def list(self, tenant_id, instance_id):
        guest = self.guests.guest(tenant_id, instance_id, "listing logs")
        return [self._view(instance_id, g, self.load_meta(instance_id, g["name"]))
                for g in guest.guest_log_list()]

    def show(self, tenant_id, instance_id, name):
        check_name(name)
        guest = self.guests.guest(tenant_id, instance_id, "showing a log")
        return self._view(instance_id, self._guest_log(guest, name),
                          self.load_meta(instance_id, name))

    # -- actions ---------------------------------------------------------------------------
    def action(self, tenant_id, instance_id, name, actions):
        """``actions``: a subset of enable/disable, discard, publish, run in that order
        (troveclient may send discard and publish together); none is a show."""
        check_name(name)
        actions = [a for a in ACTION_ORDER if a in actions]
        if "enable" in actions and "disable" in actions:
            raise BadRequest(reason="enable and disable cannot be asked together")
        if {"enable", "disable"} & set(actions) and LOG_TYPES[name] == SYS:
            raise BadRequest(reason="log %s is a system log (SYS): it is always on and "
                                    "cannot be %sd" % (name, actions[0]))
        if not actions:
            return self.show(tenant_id, instance_id, name)
        guest = self.guests.guest(tenant_id, instance_id, "the %s log action" % actions[0])
        with self._lock(instance_id, name):
            guest_log = meta = None
            for act in actions:
                if act in ("enable", "disable"):
                    guest_log = guest.guest_log_enable(name, act == "enable")
                elif act == "discard":
                    meta = self._discard(instance_id, name)
                else:
                    meta = self._publish(tenant_id, instance_id, guest, name)
        return self._view(instance_id, self._guest_log(guest, name) if meta or not guest_log
                          else guest_log, meta or self.load_meta(instance_id, name))

    def _publish(self, tenant_id, instance_id, guest, name):
        guest_log = self._guest_log(guest, name)
        if not guest_log["enabled"]:
            raise BadRequest(reason="log %s is disabled: enable it before publishing it"
                                    % name)
        meta = self.load_meta(instance_id, name)
        limit = self.conf.logs.object_size
        cipher = self._cipher(tenant_id)
        try:
            while True:
                piece = guest.guest_log_read(name, meta["offset"], limit, meta["file_id"])
                meta["rotations"] += 1 if piece["rotated"] else 0
                data = base64.b64decode(piece["data"])
                if data:
                    self._upload(cipher, instance_id, name, meta, data)
                meta["offset"], meta["file_id"] = piece["next_offset"], piece["file_id"]
                if piece["at_end"] or not data:
                    break
        finally:
            # also after a failure: what was uploaded is recorded, not redone (and a
            # publish cut off before this rewrites the same numbered objects)
            self._save_meta(instance_id, name, meta)
        LOG.info("published log %s of instance %s: %d objects, offset %d", name,
                 instance_id, len(meta["objects"]), meta["offset"])
        return meta

    def _upload(self, cipher, instance_id, name, meta, data):
        """``data`` as the next numbered object, encrypted; recorded in ``meta``."""
        number = meta["next_number"]
        object_name = self.prefix(instance_id, name) + OBJECT_FORMAT % number
        lines = data.count(b"\n")
        stored = self.storage().save(
            "%s/%s" % (self.container, object_name),
            io.BytesIO(cipher.encrypt(data, object_name)),
            {"lines": lines, "size": len(data), "encrypted": "aes-256-gcm"})
        meta["objects"].append({"number": number, "name": object_name,
                                "location": stored.location, "size": len(data),
                                "lines": lines})
        meta["next_number"] = number + 1

    def _discard(self, instance_id, name):
        meta = self.load_meta(instance_id, name)
        store = self.storage()
        for obj in meta["objects"]:
            store.delete(obj["location"])
        meta["objects"] = []
        self._save_meta(instance_id, name, meta)
        return meta

    # -- reading back -------------------------------------------------------------------------
    def objects(self, tenant_id, instance_id, name):
        """[{number, size, lines}] of the published objects, oldest first."""
        check_name(name)
        self.guests.instances.get(tenant_id, instance_id)  # 404 for another tenant's
        return [{"number": o["number"], "size": o["size"], "lines": o["lines"]}
                for o in self.load_meta(instance_id, name)["objects"]]

    def object_data(self, tenant_id, instance_id, name, number):
        """The decrypted bytes of published object ``number``."""
        check_name(name)
        self.guests.instances.get(tenant_id, instance_id)
        for obj in self.load_meta(instance_id, name)["objects"]:
            if obj["number"] == number:
                with self.storage().load(obj["location"]) as stream:
                    blob = b"".join(iter(lambda: stream.read(1 << 20), b""))
                try:
                    return self._cipher(tenant_id).decrypt(blob, obj["name"])
                except InvalidTag:
                    raise LogStoreError(reason="published object %d of log %s cannot be "
                                               "decrypted with the tenant's key"
                                               % (number, name))
        raise NotFound(message="Log %s has no published object %s." % (name, number))
