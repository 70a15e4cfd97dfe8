"""Backup encryption keys: one per tenant, stored encrypted, never shown.

A tenant's key is random (32 bytes, URL-safe text: openssl reads it from a pipe
as a line, so no newline or NUL). It is stored in ``backup_keys`` as a Fernet
token under the control plane's master key (``[backup] master_key`` or the file
``<state_dir>/backup-master.key``), handed to the guest in the RPC message of a
backup or restore, and never appears in the API, in logs or in backup metadata
(objects carry only a PBKDF2 check value of it: runner.key_check_value).

Only the taskmanager reads keys. All incrementals of a chain use the tenant's
key, so a chain restores with one key.
"""

import base64
import hashlib
import logging
import os
import secrets

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy.exc import IntegrityError

from trove_lite.backup import opts
from trove_lite.db import models
from trove_lite.exceptions import TroveLiteError

LOG = logging.getLogger(__name__)
MASTER_FILE = "backup-master.key"


class BackupKeyError(TroveLiteError):
    code = "backup_key_error"
    message_format = "%(reason)s"


def new_key():
    return secrets.token_urlsafe(32)


def load_master(conf):
    """The master secret: the option, else the state-dir file (made once, 0600)."""
    opts.register(conf)
    if conf.backup.master_key:
        return conf.backup.master_key.encode()
    path = os.path.join(conf.state_dir, MASTER_FILE)
    if not os.path.exists(path):
        # written aside, then linked into place: a process starting at the same time
        # (API and taskmanager) finds either no file or the whole key, never a part
        tmp = "%s.%d.tmp" % (path, os.getpid())
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    with open(path) as f:
        secret = f.read().strip()
    if not secret:
        raise BackupKeyError(reason="the backup master key file %s is empty" % path)
    return secret.encode()


def master_fernet(conf):
    """A Fernet under the master key: what the control plane encrypts at rest with."""
    digest = hashlib.sha256(load_master(conf)).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


class TenantKeys:
    """Per-tenant keys in the control-plane database (``db``)."""

    def __init__(self, conf, db):
        self._fernet = master_fernet(conf)
        self.db = db

    def get(self, tenant_id, create=True):
        """The tenant's key; made and stored first if ``create``. BackupKeyError if
        there is none (and not ``create``) or the master key cannot open it."""
        with self.db.session() as s:
            row = s.get(models.BackupKey, tenant_id)
            token = row.encrypted_key if row else None
        if token is None:
            if not create:
                raise BackupKeyError(reason="tenant %s has no backup encryption key" %
                                            tenant_id)
            token = self._store_new(tenant_id)
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise BackupKeyError(reason="the backup key of tenant %s cannot be decrypted "
                                        "with this control plane's master key" % tenant_id)

    def _store_new(self, tenant_id):
        token = self._fernet.encrypt(new_key().encode()).decode()
        try:
            with self.db.session() as s:
                s.add(models.BackupKey(tenant_id=tenant_id, encrypted_key=token))
        except IntegrityError:
            # another request made it first: use that one
            with self.db.session() as s:
                return s.get(models.BackupKey, tenant_id).encrypted_key
        LOG.info("created the backup encryption key of tenant %s", tenant_id)
        return token

    def replace(self, tenant_id, key):
        """Store ``key`` as the tenant's key (rotation; existing backups then need
        the old one)."""
        token = self._fernet.encrypt(key.encode()).decode()
        with self.db.session() as s:
            row = s.get(models.BackupKey, tenant_id)
            if row is None:
                s.add(models.BackupKey(tenant_id=tenant_id, encrypted_key=token))
            else:
                row.encrypted_key = token
