"""Databases, users, access and root of a running instance: API -> guest calls.

As in Trove, these go straight from the API to the instance's guest agent
(``GuestAPI``, short timeout); nothing is recorded in the control plane except
what the conductor writes from guest reports (root history).

Every method:

1. validates its input with the guest's own rules (``validation.py``), so a
   refused name never reaches a guest and nothing changes (400 InvalidName /
   BadRequest);
2. loads the instance within the tenant (404 for a missing or another
   tenant's instance) and refuses with 409 unless the database is serving
   (status ACTIVE, BACKUP or RESTART_REQUIRED);
3. makes one guest call. A guest that does not answer within
   ``[guest] rpc_short_timeout`` is 503 (GuestTimeout); errors the guest
   raises (NotFound, Conflict, BadRequest) pass through with their status.
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import TYPE_CHECKING, Any, Callable

from oslo_config import cfg
from sqlalchemy import select

from trove_lite.datastores import passwords
from trove_lite.datastores.mariadb import validation as v
from trove_lite.db import create_requests, models
from trove_lite.db.session import Database
from trove_lite.exceptions import BadRequest, InstanceNotActive, NotFound
from trove_lite.status import ServiceStatus, TaskStatus

if TYPE_CHECKING:
    from trove_lite.instance.service import InstanceService
    from trove_lite.rpc.guest import GuestAPI

_USABLE_TASKS = frozenset([TaskStatus.NONE, TaskStatus.RESTART_REQUIRED])
_USABLE_SERVICE = ServiceStatus.SERVING | {ServiceStatus.RESTART_REQUIRED}


class RootNotEnabled(NotFound):
    code = "root_not_enabled"
    message_format = "User root@%% of instance %(id)s does not exist (root is not enabled)."


@dataclasses.dataclass(frozen=True)
class RootHistory:
    instance_id: str
    enabled: datetime.datetime | None
    user: str | None


_READS = ("listing", "showing")  # the actions a replica serves itself


def refuse_guest_call(task_status: str, service_status: str) -> str | None:
    """Pure decision: why the guest may not be asked now (None when it may)."""
    if task_status not in _USABLE_TASKS:
        return "task status was %s" % task_status
    if service_status not in _USABLE_SERVICE:
        return "the database is %s" % service_status
    return None


def user_id(name: object, host: object) -> str:
    """``name@host`` after validation; the form users are shown and addressed by."""
    return "%s@%s" % (v.validate_user_name(name), v.validate_host(host))


def parse_user_path(user: str) -> tuple[str, str]:
    """The ``{user}`` of a path (already URL-decoded) -> validated (name, host)."""
    name, host = v.split_user_id(user)
    return v.validate_user_name(name), v.validate_host(host)


def database_names(databases: object) -> list[str]:
    """[{name}] or [names] -> validated names, refusing duplicates."""
    if not isinstance(databases, list) or not databases:
        raise BadRequest(reason="give at least one database")
    names = [v.validate_database_spec(d)["name"] for d in databases]
    if len(set(names)) != len(names):
        raise BadRequest(reason="a database is listed twice")
    return names


class GuestAdminService:
    """Guest administration of the instances of a tenant (see module docstring)."""

    def __init__(self, conf: cfg.ConfigOpts, db: Database,
                 guest_factory: Callable[[str], GuestAPI],
                 instances: InstanceService) -> None:
        """``guest_factory(instance_id)`` -> GuestAPI; ``instances`` an InstanceService."""
        self.conf = conf
        self.db = db
        self.guest_factory = guest_factory
        self.instances = instances

    def guest(self, tenant_id: str, instance_id: str, action: str) -> GuestAPI:
        """The GuestAPI of a serving instance of ``tenant_id``; 404/409 otherwise."""
        return self.guest_and_manager(tenant_id, instance_id, action)[0]

    def guest_and_manager(self, tenant_id: str, instance_id: str,
                          action: str) -> tuple[GuestAPI, str]:
        """(GuestAPI, datastore manager): the manager decides the password hash."""
        snap = self.instances.get(tenant_id, instance_id)
        reason = refuse_guest_call(snap.instance.task, snap.service_status)
        if reason is not None:
            raise InstanceNotActive(id=instance_id, status=snap.status, action=action,
                                    message="Instance %s is not available for %s: %s "
                                            "(status %s)." % (instance_id, action, reason,
                                                              snap.status))
        if snap.instance.slave_of_id and not action.startswith(_READS):
            # a local write on a replica would diverge it from its source (and its
            # own GTIDs would break a later promote): writes go to the source
            raise BadRequest(reason="Instance %s is a read-only replica of %s: %s is done "
                                    "on the source and replicates." % (
                                        instance_id, snap.instance.slave_of_id, action))
        return self.guest_factory(instance_id), snap.version.manager

    # -- databases ----------------------------------------------------------------
    # The guest's replies (JSON) are passed on as they come.
    def create_databases(self, tenant_id: str, instance_id: str, databases: list) -> Any:
        if not databases:
            raise BadRequest(reason="give at least one database")
        specs = [v.validate_database_spec(d) for d in databases]
        if len({s["name"] for s in specs}) != len(specs):
            raise BadRequest(reason="a database is listed twice")
        return self.guest(tenant_id, instance_id, "creating databases").create_databases(
            specs)

    def list_databases(self, tenant_id: str, instance_id: str, limit: int | None,
                       marker: str | None) -> Any:
        return self.guest(tenant_id, instance_id, "listing databases").list_databases(
            limit=limit, marker=marker)

    def delete_database(self, tenant_id: str, instance_id: str, name: str) -> None:
        name = v.validate_database_name(name)
        self.guest(tenant_id, instance_id, "deleting a database").delete_database(name)

    # -- users ----------------------------------------------------------------------
    def create_users(self, tenant_id: str, instance_id: str, users: list) -> Any:
        if not users:
            raise BadRequest(reason="give at least one user")
        specs = [v.validate_user_spec(u) for u in users]
        if len({(s["name"], s["host"]) for s in specs}) != len(specs):
            raise BadRequest(reason="a user is listed twice")
        guest, manager = self.guest_and_manager(tenant_id, instance_id, "creating users")
        # the bus and the guest see only the hashes (create_requests.hashed_users)
        return guest.create_users([dict(s, databases=[{"name": d} for d in s["databases"]])
                                   for s in create_requests.hashed_users(specs, manager)])

    def list_users(self, tenant_id: str, instance_id: str, limit: int | None,
                   marker: str | None) -> Any:
        return self.guest(tenant_id, instance_id, "listing users").list_users(
            limit=limit, marker=marker)

    def get_user(self, tenant_id: str, instance_id: str, user: str) -> Any:
        name, host = parse_user_path(user)
        return self.guest(tenant_id, instance_id, "showing a user").get_user(name, host)

    def update_user(self, tenant_id: str, instance_id: str, user: str, attrs: dict) -> Any:
        """``attrs``: any of name, host, password (validated here)."""
        name, host = parse_user_path(user)
        clean: dict[str, str] = {}
        if attrs.get("name") is not None:
            clean["name"] = v.validate_user_name(attrs["name"])
        if attrs.get("host") is not None:
            clean["host"] = v.validate_host(attrs["host"])
        password = attrs.get("password")
        if password is not None:
            v.validate_password(password)
        if not clean and password is None:
            raise BadRequest(reason="nothing to update: give a new name, host or password")
        guest, manager = self.guest_and_manager(tenant_id, instance_id, "updating a user")
        if password is not None:
            clean["password_hash"] = passwords.hash_for(manager, password)
        return guest.update_user(name, host, clean)

    def delete_user(self, tenant_id: str, instance_id: str, user: str) -> None:
        name, host = parse_user_path(user)
        self.guest(tenant_id, instance_id, "deleting a user").delete_user(name, host)

    def change_passwords(self, tenant_id: str, instance_id: str, users: list[dict]) -> None:
        if not users:
            raise BadRequest(reason="give at least one user")
        specs = [{"name": v.validate_user_name(u.get("name")),
                  "host": v.validate_host(u.get("host")),
                  "password": v.validate_password(u.get("password"))} for u in users]
        guest, manager = self.guest_and_manager(tenant_id, instance_id, "changing passwords")
        guest.change_passwords(create_requests.hashed_users(specs, manager))

    # -- access ---------------------------------------------------------------------
    def list_access(self, tenant_id: str, instance_id: str, user: str) -> Any:
        name, host = parse_user_path(user)
        return self.guest(tenant_id, instance_id, "listing access").list_access(name, host)

    def grant_access(self, tenant_id: str, instance_id: str, user: str,
                     databases: object) -> None:
        name, host = parse_user_path(user)
        names = database_names(databases)
        self.guest(tenant_id, instance_id, "granting access").grant_access(
            name, host, names)

    def revoke_access(self, tenant_id: str, instance_id: str, user: str,
                      database: str) -> None:
        name, host = parse_user_path(user)
        database = v.validate_database_name(database)
        self.guest(tenant_id, instance_id, "revoking access").revoke_access(
            name, host, database)

    # -- root -------------------------------------------------------------------------
    def enable_root(self, tenant_id: str, instance_id: str,
                    password: str | None = None) -> tuple[str, str]:
        """(name, password); a generated password when none is given. The guest
        reports it to the conductor, which records it in the root history."""
        # made and hashed here: the bus and the guest never see the password
        password = v.validate_password(password) if password is not None \
            else passwords.generate_password()
        guest, manager = self.guest_and_manager(tenant_id, instance_id, "enabling root")
        result = guest.enable_root(password_hash=passwords.hash_for(manager, password))
        return result["name"], password

    def disable_root(self, tenant_id: str, instance_id: str) -> None:
        if not self.guest(tenant_id, instance_id, "disabling root").disable_root():
            raise RootNotEnabled(id=instance_id)

    def root_enabled(self, tenant_id: str, instance_id: str) -> bool:
        """Was root ever enabled (Trove's ``rootEnabled``)?

        The root history answers; while it has no row (the conductor records a
        report a few ms after the guest enabled root) the guest is asked.
        """
        self.instances.get(tenant_id, instance_id)
        if self.root_history(instance_id).enabled is not None:
            return True
        return bool(self.guest(tenant_id, instance_id, "showing root").is_root_enabled())

    def root_history(self, instance_id: str, any_tenant: bool = False) -> RootHistory:
        """When root was last enabled and which user the guest reported (mgmt API).

        ``any_tenant``: an admin lookup; 404 if no such instance exists at all.
        """
        with self.db.session() as s:
            if any_tenant and s.execute(select(models.Instance.id).where(
                    models.Instance.id == instance_id,
                    models.Instance.deleted.is_(False))).first() is None:
                raise NotFound(kind="Instance", id=instance_id)
            row = s.get(models.RootEnabledHistory, instance_id)
            if row is None:
                return RootHistory(instance_id, None, None)
            return RootHistory(instance_id, row.created, row.user)
