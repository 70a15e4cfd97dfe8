"""Configuration groups: validate, record, and apply them to instances through the guest.

``ConfigurationService(conf, db, guest_factory=None)`` is what the API calls.

How a change reaches the servers: PATCH and PUT never wait on a guest. They
validate everything first (bad names, types, ranges: 400 and nothing changed),
write the new values, mark every attached instance ``pending`` and cast
``update_configuration`` to the taskmanager, which applies the group through the
guest and records ``applied`` or ``failed`` with the reason; a failed or pending
apply is retried after the guest's next heartbeat (configuration/apply.py). The
instance shows that state under ``configuration.apply``.

Attach and detach work the same way: they record the instance's
``configuration_id`` (or its absence), mark the apply ``pending`` and cast; the
guest applies a group all or nothing (``MariaDBApp.attach_configuration``), so
an attach the server refuses shows ``failed`` with the reason and leaves the
server as it was.

Dynamic values are set with SET GLOBAL and written to the instance's
``conf.d/50-configuration-group.cnf``; others wait for a restart and the guest
reports RESTART_REQUIRED until then. Detach removes the file and sets the
dynamic values back to the template's (or compiled-in) values.
"""

from __future__ import annotations

import builtins
import dataclasses
import json
import logging
import os
import re
from typing import TYPE_CHECKING, Any, Callable, Mapping

from oslo_config import cfg
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from trove_lite import catalog, config
from trove_lite.configuration import apply as apply_mod
from trove_lite.configuration import rules as rules_mod
from trove_lite.db import models
from trove_lite.db.session import Database
from trove_lite.exceptions import BadRequest, Conflict, NotFound
from trove_lite.status import ServiceStatus, TaskStatus

if TYPE_CHECKING:
    from trove_lite.rpc.context import Context
    from trove_lite.rpc.guest import GuestAPI
    from trove_lite.rpc.taskmanager import TaskManagerAPI

LOG = logging.getLogger(__name__)

NAME_MAX = 255
# Service statuses in which a guest can take a configuration change.
APPLY_SERVICE_STATES = frozenset([ServiceStatus.RUNNING, ServiceStatus.HEALTHY,
                                  ServiceStatus.RESTART_REQUIRED])
# "loose_" marks an option some versions lack (mariadbd then ignores it)
_TEMPLATE_OPTION_RE = re.compile(r"^(?:loose_)?([a-z][a-z0-9_]*)\s*=", re.MULTILINE)


class ConfigurationNotFound(NotFound):
    code = "configuration_not_found"
    message_format = "Configuration group %(id)s could not be found."


class ParameterNotFound(NotFound):
    code = "configuration_parameter_not_found"
    message_format = ("Configuration parameter %(name)s could not be found for "
                      "datastore version %(version)s.")


class ConfigurationInUse(Conflict):
    code = "configuration_in_use"
    message_format = ("Configuration group %(id)s is attached to %(count)d instance(s) "
                      "(%(instances)s); detach it first.")


class ConfigurationMismatch(BadRequest):
    code = "configuration_datastore_mismatch"
    message_format = ("The datastore version of configuration group %(id)s (%(group)s) "
                      "does not match the instance's (%(instance)s).")


class ConfigurationAlreadyAttached(Conflict):
    code = "configuration_already_attached"
    message_format = ("Instance %(instance_id)s already has configuration group "
                      "%(configuration_id)s attached; detach it first.")


class NoConfigurationAttached(BadRequest):
    code = "configuration_not_attached"
    message_format = "Instance %(instance_id)s has no configuration group attached."


class InstanceNotReady(Conflict):
    code = "instance_not_ready_for_configuration"
    message_format = ("Instance %(id)s cannot take a configuration change now "
                      "(%(reason)s).")


@dataclasses.dataclass(frozen=True)
class GroupView:
    """One configuration group with what its views need."""

    row: models.Configuration
    values: dict
    datastore: models.Datastore
    version: models.DatastoreVersion
    instance_count: int


# -- pure helpers ---------------------------------------------------------------
def rule_dict(row: models.DatastoreConfigurationParameter) -> dict[str, Any]:
    """A DatastoreConfigurationParameter row as a rule dict rules.Rule reads."""
    data: dict[str, Any] = {"name": row.name, "data_type": row.data_type, "min_size": row.min_size,
            "max_size": row.max_size, "restart_required": bool(row.restart_required),
            "dynamic": bool(row.dynamic), "allowed_values": row.allowed_values}
    if row.cnf_extra:
        data.update(json.loads(row.cnf_extra))
    return data


def apply_plan(rules: Mapping[str, rules_mod.Rule], old_values: Mapping[str, Any],
               new_values: Mapping[str, Any]) -> tuple[list[str], dict[str, str]]:
    """What the guest needs to move an instance from ``old_values`` to ``new_values``.

    Returns (dynamic, options): the dynamic variables among both groups' names
    (those the new group drops go back to the defaults live), and the option-file
    names that differ from the variable names.
    """
    names = set(old_values) | set(new_values)
    dynamic = sorted(n for n in names if n in rules and rules[n].applies_live)
    options = {n: rules[n].option_name for n in sorted(names)
               if n in rules and rules[n].cnf_option}
    return dynamic, options


def option_values(rules: Mapping[str, rules_mod.Rule],
                  values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` keyed by option-file name (what a prepare writes before the first start)."""
    return {(rules[n].option_name if n in rules else n).replace("-", "_"): v
            for n, v in values.items()}


def refuse_apply(task_status: str, service_status: str | None) -> str | None:
    """Why an instance cannot take a configuration change now (None when it can)."""
    if task_status not in (TaskStatus.NONE, TaskStatus.RESTART_REQUIRED):
        return "task status is %s" % task_status
    if service_status not in APPLY_SERVICE_STATES:
        return "its database is %s" % service_status
    return None


def template_parameter_names(conf: cfg.ConfigOpts) -> set[str]:
    """Option names the MariaDB config template sets (their live values are shown)."""
    path = os.path.join(config.templates_dir(conf), "mariadb", "config.template")
    try:
        with open(path) as f:
            return set(_TEMPLATE_OPTION_RE.findall(f.read()))
    except OSError:
        return set()


def _validate_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > NAME_MAX:
        raise BadRequest(reason="the configuration group name must be 1-%d characters"
                         % NAME_MAX)
    return name


# -- reads used by other services ---------------------------------------------------
def load_rules(s: Session, version_id: str) -> dict[str, rules_mod.Rule]:
    rows = s.execute(select(models.DatastoreConfigurationParameter).where(
        models.DatastoreConfigurationParameter.datastore_version_id == version_id,
        models.DatastoreConfigurationParameter.deleted.is_(False))).scalars()
    return rules_mod.parse_rules(rule_dict(r) for r in rows)


def load_values(s: Session, configuration_id: str) -> dict[str, Any]:
    rows = s.execute(select(models.ConfigurationParameter).where(
        models.ConfigurationParameter.configuration_id == configuration_id)).scalars()
    return {r.key: json.loads(r.value) for r in rows}


def find_group(s: Session, tenant_id: str, configuration_id: str) -> models.Configuration:
    return models.get_owned(s, models.Configuration, tenant_id, configuration_id,
                            ConfigurationNotFound(id=configuration_id))


def check_attachable(s: Session, tenant_id: str, configuration_id: str,
                     version_id: str) -> str:
    """The group's id if ``tenant_id`` may use it on an instance of ``version_id``."""
    row = find_group(s, tenant_id, configuration_id)
    if row.datastore_version_id != version_id:
        raise ConfigurationMismatch(id=row.id, group=row.datastore_version_id,
                                    instance=version_id)
    return row.id


def prepare_overrides(db: Database, configuration_id: str | None) -> dict[str, Any]:
    """{option name: value} of a group, for the prepare of a new instance ({} if none)."""
    if not configuration_id:
        return {}
    with db.session() as s:
        row = s.get(models.Configuration, configuration_id)
        if row is None:
            return {}
        return option_values(load_rules(s, row.datastore_version_id),
                             load_values(s, configuration_id))


class ConfigurationService:
    """Configuration groups of one control plane; see the module docstring."""

    def __init__(self, conf: cfg.ConfigOpts, db: Database,
                 guest_factory: Callable[[str], GuestAPI] | None = None,
                 taskmanager: TaskManagerAPI | None = None) -> None:
        self.conf = conf
        self.db = db
        self._taskmanager = taskmanager
        if guest_factory is None:
            from trove_lite.rpc import guest as guest_rpc
            guest_factory = lambda instance_id: guest_rpc.GuestAPI(conf, instance_id)  # noqa
        self.guest_factory = guest_factory

    @property
    def taskmanager(self) -> TaskManagerAPI:
        if self._taskmanager is None:
            from trove_lite.rpc import taskmanager as tm_rpc
            self._taskmanager = tm_rpc.TaskManagerAPI(self.conf)
        return self._taskmanager

    # -- parameters ------------------------------------------------------------------
    def parameters(self, datastore: str | None = None, version: str | None = None,
                   version_id: str | None = None
                   ) -> tuple[models.DatastoreVersion, list[rules_mod.Rule]]:
        """(version row, [Rule]) of a datastore version, by names or by version id."""
        with self.db.session() as s:
            if version_id is not None:
                v = catalog.get_version_by_id(s, version_id)
            else:
                if datastore is None or version is None:
                    raise TypeError("parameters() takes a version_id, or a datastore "
                                    "and a version")
                v = catalog.find_version(s, catalog.find_datastore(s, datastore), version)
            rules = load_rules(s, v.id)
        return v, [rules[n] for n in sorted(rules)]

    def parameter(self, name: str, **version_ref: str
                  ) -> tuple[models.DatastoreVersion, rules_mod.Rule]:
        v, rules = self.parameters(**version_ref)
        norm = rules_mod.normalize_name(name)
        for rule in rules:
            if rule.name == norm:
                return v, rule
        raise ParameterNotFound(name=name, version=v.name)

    # -- groups ----------------------------------------------------------------------
    def list(self, tenant_id: str, limit: int, marker: str | None = None
             ) -> tuple[builtins.list[GroupView], bool]:
        with self.db.session() as s:
            q = select(models.Configuration).where(
                models.Configuration.tenant_id == tenant_id,
                models.Configuration.deleted.is_(False))
            if marker:
                q = q.where(models.Configuration.id > marker)
            rows = s.execute(q.order_by(models.Configuration.id).limit(limit + 1)
                             ).scalars().all()
            return [self._view(s, r) for r in rows[:limit]], len(rows) > limit

    def get(self, tenant_id: str, configuration_id: str) -> GroupView:
        with self.db.session() as s:
            return self._view(s, find_group(s, tenant_id, configuration_id))

    def _view(self, s: Session, row: models.Configuration) -> GroupView:
        version = catalog.get_version_by_id(s, row.datastore_version_id)
        count = s.execute(select(func.count()).select_from(models.Instance).where(
            models.Instance.configuration_id == row.id,
            models.Instance.deleted.is_(False))).scalar_one()
        return GroupView(row, load_values(s, row.id), version.datastore, version, count)

    def create(self, tenant_id: str, name: str, values: object,
               description: str | None = None, datastore: str | None = None,
               version: str | None = None, version_number: str | None = None) -> GroupView:
        _validate_name(name)
        now = models.utcnow()
        with self.db.session() as s:
            _, v = catalog.resolve_datastore_version(s, datastore, version, version_number)
            checked = rules_mod.validate_values(load_rules(s, v.id), values)
            row = models.Configuration(id=models.new_id(), name=name, description=description,
                                       tenant_id=tenant_id, datastore_version_id=v.id,
                                       created=now, updated=now)
            s.add(row)
            s.flush()
            self._write_values(s, row.id, checked)
        LOG.info("configuration group %s (%s) created for tenant %s: %s", row.id, name,
                 tenant_id, sorted(checked))
        return self.get(tenant_id, row.id)

    @staticmethod
    def _write_values(s: Session, configuration_id: str, values: Mapping[str, Any]) -> None:
        for old in s.execute(select(models.ConfigurationParameter).where(
                models.ConfigurationParameter.configuration_id == configuration_id)).scalars():
            s.delete(old)
        s.flush()
        for key, value in values.items():
            s.add(models.ConfigurationParameter(configuration_id=configuration_id, key=key,
                                                value=json.dumps(value)))

    def change(self, ctx: Context, tenant_id: str, configuration_id: str,
               values: object, replace: bool, name: str | None = None,
               description: str | None = None) -> None:
        """PATCH (``replace`` False: merge) or PUT (replace): records the values, marks
        the attached instances pending and casts the apply to the taskmanager."""
        if name is not None:
            _validate_name(name)
        with self.db.session() as s:
            row = find_group(s, tenant_id, configuration_id)
            rules = load_rules(s, row.datastore_version_id)
            old = load_values(s, row.id)
            checked = rules_mod.validate_values(rules, values)
            new = checked if replace else rules_mod.validate_values(rules, {**old, **checked})
            self._write_values(s, row.id, new)
            if name is not None:
                row.name = name
            if description is not None:
                row.description = description
            row.updated = models.utcnow()
            attached = s.execute(select(models.Instance.id).where(
                models.Instance.configuration_id == row.id,
                models.Instance.deleted.is_(False))).scalars().all()
            for instance_id in attached:
                apply_mod.mark_pending(s, instance_id, row.id, old)
        for instance_id in attached:
            self.taskmanager.update_configuration(ctx, instance_id, configuration_id)
        LOG.info("configuration group %s %s: %s; cast to %d instance(s)", configuration_id,
                 "replaced" if replace else "patched", sorted(new), len(attached))

    def delete(self, tenant_id: str, configuration_id: str) -> None:
        with self.db.session() as s:
            row = find_group(s, tenant_id, configuration_id)
            users = s.execute(select(models.Instance.id).where(
                models.Instance.configuration_id == row.id,
                models.Instance.deleted.is_(False))).scalars().all()
            if users:
                raise ConfigurationInUse(id=row.id, count=len(users),
                                         instances=", ".join(users))
            row.deleted = True
            row.updated = models.utcnow()

    def instances(self, tenant_id: str, configuration_id: str, limit: int,
                  marker: str | None = None) -> tuple[builtins.list[dict], bool]:
        with self.db.session() as s:
            find_group(s, tenant_id, configuration_id)
            q = select(models.Instance.id, models.Instance.name).where(
                models.Instance.configuration_id == configuration_id,
                models.Instance.deleted.is_(False))
            if marker:
                q = q.where(models.Instance.id > marker)
            rows = s.execute(q.order_by(models.Instance.id).limit(limit + 1)).all()
        return [{"id": r.id, "name": r.name} for r in rows[:limit]], len(rows) > limit

    # -- instances -------------------------------------------------------------------
    @staticmethod
    def _instance(s: Session, tenant_id: str, instance_id: str) -> models.Instance:
        return models.get_owned(s, models.Instance, tenant_id, instance_id,
                                NotFound(kind="Instance", id=instance_id))

    @staticmethod
    def _check_ready(s: Session, inst: models.Instance) -> None:
        st = s.execute(select(models.ServiceStatus.status).where(
            models.ServiceStatus.instance_id == inst.id)).scalar()
        reason = refuse_apply(inst.task, st)
        if reason:
            raise InstanceNotReady(id=inst.id, reason=reason)

    def attach(self, ctx: Context, tenant_id: str, instance_id: str,
               configuration_id: str) -> None:
        """Record the group on the instance (apply ``pending``) and cast the apply.

        Refusals (other datastore version, a group already attached, an instance
        that cannot take a change now) change nothing. The guest is never asked
        within the request: the taskmanager applies the group and records
        ``applied`` or ``failed``; a failed apply is retried after the guest's next
        heartbeat (configuration/apply.py).
        """
        with self.db.session() as s:
            inst = self._instance(s, tenant_id, instance_id)
            check_attachable(s, tenant_id, configuration_id, inst.datastore_version_id)
            if inst.configuration_id:
                raise ConfigurationAlreadyAttached(instance_id=instance_id,
                                                   configuration_id=inst.configuration_id)
            self._check_ready(s, inst)
            inst.configuration_id = configuration_id
            inst.updated = models.utcnow()
            # nothing of this group is on the server yet (a pending detach keeps its values)
            apply_mod.mark_pending(s, instance_id, configuration_id, {})
        self.taskmanager.update_configuration(ctx, instance_id, configuration_id)
        LOG.info("instance %s: configuration %s attached; apply cast", instance_id,
                 configuration_id)

    def detach(self, ctx: Context, tenant_id: str, instance_id: str) -> None:
        """Record that the instance has no group (apply ``pending``) and cast the
        removal; the instance shows the detach's apply state until it is done."""
        with self.db.session() as s:
            inst = self._instance(s, tenant_id, instance_id)
            if not inst.configuration_id:
                raise NoConfigurationAttached(instance_id=instance_id)
            self._check_ready(s, inst)
            configuration_id = inst.configuration_id
            inst.configuration_id = None
            inst.updated = models.utcnow()
            apply_mod.mark_pending(s, instance_id, None, load_values(s, configuration_id),
                                   reason="detach waiting for the taskmanager")
        self.taskmanager.update_configuration(ctx, instance_id, None)
        LOG.info("instance %s: configuration %s detached; removal cast", instance_id,
                 configuration_id)

    def effective(self, tenant_id: str, instance_id: str) -> dict[str, Any]:
        """{name: live value} of the template's and the group's parameters."""
        with self.db.session() as s:
            inst = self._instance(s, tenant_id, instance_id)
            rules = load_rules(s, inst.datastore_version_id)
            values = load_values(s, inst.configuration_id) if inst.configuration_id else {}
        by_option = {r.option_name.replace("-", "_"): r.name for r in rules.values()}
        names = {by_option.get(n, n) for n in template_parameter_names(self.conf)}
        names |= set(values)
        return self.guest_factory(instance_id).get_configuration(sorted(names))
