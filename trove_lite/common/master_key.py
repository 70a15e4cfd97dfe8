"""The control plane's master secret, read by every control-plane service.

It encrypts the per-tenant backup keys at rest (backup/keys.py) and derives each
instance's RPC key (rpc/sealed.py), so it lives here, below both: the option
``[backup] master_key``, else the file ``<state_dir>/backup-master.key`` made on
first use (mode 0600). Guests never read it.
"""

import base64
import hashlib
import os
import secrets

from cryptography.fernet import Fernet
from oslo_config import cfg

from trove_lite.common import backup_opts
from trove_lite.exceptions import TroveLiteError

MASTER_FILE = "backup-master.key"


class MasterKeyError(TroveLiteError):
    code = "master_key_error"
    message_format = "%(reason)s"


def load_master(conf: cfg.ConfigOpts) -> bytes:
    """The master secret: the option, else the state-dir file (made once, 0600)."""
    backup_opts.register(conf)
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
        raise MasterKeyError(reason="the backup master key file %s is empty" % path)
    return secret.encode()


def master_fernet(conf: cfg.ConfigOpts) -> Fernet:
    """A Fernet under the master key: what the control plane encrypts at rest with."""
    digest = hashlib.sha256(load_master(conf)).digest()
    return Fernet(base64.urlsafe_b64encode(digest))
