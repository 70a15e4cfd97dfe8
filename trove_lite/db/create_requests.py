"""A create's users, databases and root password, kept until the guest has them.

The API stores the request in the same transaction as the instance row, so a
create cast that is lost (dropped by the broker, taken by a dead taskmanager)
leaves the request behind for the reconciler: a create is resumed with what was
asked for, or ends in ERROR with a fault naming it, never silently degraded.

At rest: users carry only their password hash (the datastore's kind, computed here, at the
API; no clear user password leaves it), and the whole request is a Fernet token
under the control plane's master key (trove_lite/common/master_key.py). ``summary``
names what was requested (no secrets) for a fault that must say what was not
created. The taskmanager erases the row when the create ends, either way.
"""

import json

from cryptography.fernet import InvalidToken

from oslo_config import cfg

from trove_lite.common.master_key import master_fernet
from trove_lite.db import models
from trove_lite.db.session import Database
from trove_lite.exceptions import TroveLiteError
from trove_lite.datastores import passwords


class RequestUnreadable(TroveLiteError):
    code = "create_request_unreadable"
    message_format = "%(reason)s"


def hashed_users(users: list[dict], manager: str | None = None) -> list[dict]:
    """Validated user specs with the password replaced by its hash (the one the
    datastore ``manager`` creates accounts from)."""
    out = []
    for user in users:
        user = dict(user)
        password = user.pop("password", None)
        if password is not None:
            user["password_hash"] = passwords.hash_for(manager, password)
        out.append(user)
    return out


def summary(databases: list[dict], users: list[dict]) -> str:
    parts = []
    if users:
        parts.append("users " + ", ".join("%s@%s" % (u["name"], u.get("host") or "%")
                                          for u in users))
    if databases:
        parts.append("databases " + ", ".join(d["name"] for d in databases))
    return " and ".join(parts) or "no users or databases"


class CreateRequests:
    def __init__(self, conf: cfg.ConfigOpts, db: Database) -> None:
        self._fernet = master_fernet(conf)
        self.db = db

    def row(self, instance_id: str, databases: list[dict], users: list[dict],
            root_password: str | None = None,
            manager: str | None = None) -> models.CreateRequest:
        """The row to add in the caller's session (users already validated)."""
        users = hashed_users(users, manager)
        payload = {"databases": list(databases), "users": users,
                   "root_password": root_password}
        token = self._fernet.encrypt(json.dumps(payload).encode()).decode()
        return models.CreateRequest(instance_id=instance_id, encrypted=token,
                                    summary=summary(databases, users)[:1024])

    def load(self, instance_id: str) -> dict | None:
        """{databases, users, root_password} or None when there is no request;
        RequestUnreadable (naming what was requested) if it cannot be decrypted."""
        with self.db.session() as s:
            row = s.get(models.CreateRequest, instance_id)
            if row is None:
                return None
            token, what = row.encrypted, row.summary
        try:
            return json.loads(self._fernet.decrypt(token.encode()))
        except (InvalidToken, ValueError):
            raise RequestUnreadable(reason="%s were not created: the stored create request "
                                           "cannot be decrypted with this control plane's "
                                           "master key" % what) from None

    def exists(self, instance_id: str) -> bool:
        with self.db.session() as s:
            return s.get(models.CreateRequest, instance_id) is not None

    def erase(self, instance_id: str) -> None:
        with self.db.session() as s:
            row = s.get(models.CreateRequest, instance_id)
            if row is not None:
                s.delete(row)
