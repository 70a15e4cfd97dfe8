"""Backup encryption keys: one per tenant, stored encrypted, never shown.

A tenant's key is random (32 bytes, URL-safe text: openssl reads it from a pipe
as a line, so no newline or NUL). It is stored in ``backup_keys`` as a Fernet
token under the control plane's master key (common/master_key.py), handed to the
guest in the RPC message of a backup or restore, and never appears in the API, in
logs or in backup metadata (objects carry only a PBKDF2 check value of it: runner.key_check_value).

Only the taskmanager reads keys. All incrementals of a chain use the tenant's
key, so a chain restores with one key.
"""

import logging
import secrets

from cryptography.fernet import InvalidToken
from oslo_config import cfg
from sqlalchemy.exc import IntegrityError

from trove_lite.common.master_key import master_fernet
from trove_lite.db import models
from trove_lite.db.session import Database
from trove_lite.exceptions import TroveLiteError

LOG = logging.getLogger(__name__)


class BackupKeyError(TroveLiteError):
    code = "backup_key_error"
    message_format = "%(reason)s"


def new_key() -> str:
    return secrets.token_urlsafe(32)


class TenantKeys:
    """Per-tenant keys in the control-plane database (``db``)."""

    def __init__(self, conf: cfg.ConfigOpts, db: Database) -> None:
        self._fernet = master_fernet(conf)
        self.db = db

    def get(self, tenant_id: str, create: bool = True) -> str:
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

    def _store_new(self, tenant_id: str) -> str:
        token = self._fernet.encrypt(new_key().encode()).decode()
        try:
            with self.db.session() as s:
                s.add(models.BackupKey(tenant_id=tenant_id, encrypted_key=token))
        except IntegrityError:
            # another request made it first: use that one
            with self.db.session() as s:
                row = s.get(models.BackupKey, tenant_id)
                assert row is not None, "key rows are never deleted"
                return row.encrypted_key
        LOG.info("created the backup encryption key of tenant %s", tenant_id)
        return token

    def replace(self, tenant_id: str, key: str) -> None:
        """Store ``key`` as the tenant's key (rotation; existing backups then need
        the old one)."""
        token = self._fernet.encrypt(key.encode()).decode()
        with self.db.session() as s:
            row = s.get(models.BackupKey, tenant_id)
            if row is None:
                s.add(models.BackupKey(tenant_id=tenant_id, encrypted_key=token))
            else:
                row.encrypted_key = token
