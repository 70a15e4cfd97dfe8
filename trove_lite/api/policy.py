"""API policy: oslo.policy defaults in code, one rule per API action.

Every handler calls :func:`enforce` with its action name before doing anything.
Targets: ``{"project_id": <owner>}`` where the owner is the project that owns the
resource, or the URL tenant for collections, creates and global resources
(flavors, datastores). Operators override rules in the file named by
``[oslo_policy] policy_file`` (see etc/policy.yaml.sample, generated from this
module; a unit test keeps it current).

Defaults: every tenant-scoped action is ``rule:admin_or_owner``; ``mgmt:*``,
``quota:*`` and ``instance:action:reset_status`` are admin-only. ``admin`` means
the Keystone role ``admin`` or a context with ``is_admin`` (no-auth mode: a URL
tenant listed in ``[api] noauth_admin_projects``).

Regenerate the sample (equivalent to ``oslopolicy-sample-generator --namespace
trove_lite`` once the entry point is installed)::

    .venv/bin/python -m trove_lite.api.policy etc/policy.yaml.sample
"""

import sys
from typing import Any

from oslo_policy import generator as _generator
from oslo_policy import policy
from oslo_config import cfg

from trove_lite.exceptions import Forbidden
from trove_lite.api.context import RequestContext

ADMIN = "rule:admin"
OWNER = "rule:admin_or_owner"
BASE = "/v1.0/{project_id}"

_BASE_RULES = [
    policy.RuleDefault("admin", "role:admin or is_admin:True",
                       description="The cloud administrator."),
    policy.RuleDefault("admin_or_owner", "is_admin:True or project_id:%(project_id)s",
                       description="The administrator or a member of the project that "
                                   "owns the resource."),
    policy.RuleDefault("default", OWNER,
                       description="Rule for actions that have no rule of their own."),
]

# (action, default check, description, [(method, path under BASE), ...])
_ACTIONS = [
    ("instance:create", OWNER, "Create a database instance.", [("POST", "/instances")]),
    ("instance:index", OWNER, "List database instances.",
     [("GET", "/instances"), ("GET", "/instances/detail")]),
    ("instance:show", OWNER, "Show a database instance.", [("GET", "/instances/{id}")]),
    ("instance:update", OWNER, "Attach/detach a configuration, detach a replica, rename "
     "or change access of an instance.", [("PUT", "/instances/{id}")]),
    ("instance:edit", OWNER, "Upgrade an instance to another datastore version.",
     [("PATCH", "/instances/{id}")]),
    ("instance:delete", OWNER, "Delete a database instance.",
     [("DELETE", "/instances/{id}")]),
    ("instance:action:restart", OWNER, "Restart the database service.",
     [("POST", "/instances/{id}/action")]),
    ("instance:action:resize_flavor", OWNER, "Resize an instance to another flavor.",
     [("POST", "/instances/{id}/action")]),
    ("instance:action:resize_volume", OWNER, "Grow the volume of an instance.",
     [("POST", "/instances/{id}/action")]),
    ("instance:action:promote_to_replica_source", OWNER,
     "Promote a replica to be the replication source.",
     [("POST", "/instances/{id}/action")]),
    ("instance:action:eject_replica_source", OWNER,
     "Eject a lost replication source and elect a new one.",
     [("POST", "/instances/{id}/action")]),
    ("instance:action:reset_status", ADMIN, "Reset the status of an instance in error.",
     [("POST", "/instances/{id}/action")]),
    ("instance:backups", OWNER, "List the backups of an instance.",
     [("GET", "/instances/{id}/backups")]),
    ("instance:events", OWNER, "List the events of an instance.",
     [("GET", "/instances/{id}/events")]),
    ("instance:configuration", OWNER, "Show the effective configuration of an instance.",
     [("GET", "/instances/{id}/configuration")]),
    ("instance:guest_log_list", OWNER, "List the logs of an instance.",
     [("GET", "/instances/{id}/log"), ("GET", "/instances/{id}/log/{name}"),
      ("GET", "/instances/{id}/log/{name}/objects"),
      ("GET", "/instances/{id}/log/{name}/objects/{number}")]),
    ("instance:guest_log_action", OWNER, "Enable, disable, publish or discard a log.",
     [("POST", "/instances/{id}/log")]),
    ("instance:schema_migration_list", OWNER, "List and show the schema migrations of an "
     "instance.", [("GET", "/instances/{id}/schema_migrations"),
                   ("GET", "/instances/{id}/schema_migrations/{migration_id}")]),
    ("instance:schema_migration_create", OWNER, "Start an online schema migration of a table.",
     [("POST", "/instances/{id}/schema_migrations")]),
    ("instance:schema_migration_action", OWNER, "Cut over, abort, throttle or tune a schema "
     "migration.", [("POST", "/instances/{id}/schema_migrations/{migration_id}/action")]),
    ("database:create", OWNER, "Create databases on an instance.",
     [("POST", "/instances/{id}/databases")]),
    ("database:index", OWNER, "List the databases of an instance.",
     [("GET", "/instances/{id}/databases")]),
    ("database:delete", OWNER, "Drop a database.",
     [("DELETE", "/instances/{id}/databases/{database}")]),
    ("user:create", OWNER, "Create database users.", [("POST", "/instances/{id}/users")]),
    ("user:index", OWNER, "List database users.", [("GET", "/instances/{id}/users")]),
    ("user:show", OWNER, "Show a database user.", [("GET", "/instances/{id}/users/{user}")]),
    ("user:update", OWNER, "Change a user's name, host or password.",
     [("PUT", "/instances/{id}/users/{user}")]),
    ("user:update_all", OWNER, "Change the passwords of several users.",
     [("PUT", "/instances/{id}/users")]),
    ("user:delete", OWNER, "Drop a database user.",
     [("DELETE", "/instances/{id}/users/{user}")]),
    ("user:access:index", OWNER, "List the databases a user can access.",
     [("GET", "/instances/{id}/users/{user}/databases")]),
    ("user:access:grant", OWNER, "Grant a user access to databases.",
     [("PUT", "/instances/{id}/users/{user}/databases")]),
    ("user:access:revoke", OWNER, "Revoke a user's access to a database.",
     [("DELETE", "/instances/{id}/users/{user}/databases/{database}")]),
    ("root:create", OWNER, "Enable the root user.", [("POST", "/instances/{id}/root")]),
    ("root:index", OWNER, "Show whether root was ever enabled.",
     [("GET", "/instances/{id}/root")]),
    ("root:delete", OWNER, "Disable the root user.", [("DELETE", "/instances/{id}/root")]),
    ("configuration:create", OWNER, "Create a configuration group.",
     [("POST", "/configurations")]),
    ("configuration:index", OWNER, "List configuration groups.",
     [("GET", "/configurations")]),
    ("configuration:show", OWNER, "Show a configuration group.",
     [("GET", "/configurations/{id}")]),
    ("configuration:instances", OWNER, "List instances using a configuration group.",
     [("GET", "/configurations/{id}/instances")]),
    ("configuration:update", OWNER, "Replace the values of a configuration group.",
     [("PUT", "/configurations/{id}")]),
    ("configuration:edit", OWNER, "Merge values into a configuration group.",
     [("PATCH", "/configurations/{id}")]),
    ("configuration:delete", OWNER, "Delete a configuration group.",
     [("DELETE", "/configurations/{id}")]),
    ("configuration-parameter:index", OWNER, "List the parameters of a datastore version.",
     [("GET", "/datastores/{datastore}/versions/{version}/parameters"),
      ("GET", "/datastores/versions/{version_id}/parameters")]),
    ("configuration-parameter:show", OWNER, "Show one parameter of a datastore version.",
     [("GET", "/datastores/{datastore}/versions/{version}/parameters/{name}"),
      ("GET", "/datastores/versions/{version_id}/parameters/{name}")]),
    ("backup:create", OWNER, "Create a backup.", [("POST", "/backups")]),
    ("backup:index", OWNER, "List backups.", [("GET", "/backups")]),
    ("backup:show", OWNER, "Show a backup.", [("GET", "/backups/{id}")]),
    ("backup:delete", OWNER, "Delete a backup (and its incremental children).",
     [("DELETE", "/backups/{id}")]),
    ("backup_strategy:create", OWNER, "Create a backup strategy.",
     [("POST", "/backup_strategies")]),
    ("backup_strategy:index", OWNER, "List backup strategies.",
     [("GET", "/backup_strategies")]),
    ("backup_strategy:delete", OWNER, "Delete a backup strategy.",
     [("DELETE", "/backup_strategies")]),
    ("backup_schedule:create", OWNER, "Create a backup schedule.",
     [("POST", "/backup_schedules")]),
    ("backup_schedule:index", OWNER, "List backup schedules.",
     [("GET", "/backup_schedules")]),
    ("backup_schedule:show", OWNER, "Show a backup schedule.",
     [("GET", "/backup_schedules/{id}")]),
    ("backup_schedule:update", OWNER, "Change a backup schedule.",
     [("PATCH", "/backup_schedules/{id}")]),
    ("backup_schedule:delete", OWNER, "Delete a backup schedule (its backups stay).",
     [("DELETE", "/backup_schedules/{id}")]),
    ("flavor:index", OWNER, "List flavors.",
     [("GET", "/flavors"), ("GET", "/datastores/{datastore}/versions/{version}/flavors")]),
    ("flavor:show", OWNER, "Show a flavor.", [("GET", "/flavors/{id}")]),
    ("datastore:index", OWNER, "List datastores.", [("GET", "/datastores")]),
    ("datastore:show", OWNER, "Show a datastore.", [("GET", "/datastores/{id}")]),
    ("datastore:version_index", OWNER, "List the versions of a datastore.",
     [("GET", "/datastores/{datastore}/versions")]),
    ("datastore:version_show", OWNER, "Show a datastore version.",
     [("GET", "/datastores/{datastore}/versions/{id}"),
      ("GET", "/datastores/versions/{id}")]),
    ("limits:index", OWNER, "Show the absolute limits of the project.", [("GET", "/limits")]),
    ("quota:show", ADMIN, "Show the quotas of a project.",
     [("GET", "/mgmt/quotas/{tenant}")]),
    ("quota:update", ADMIN, "Change the quotas of a project.",
     [("PUT", "/mgmt/quotas/{tenant}")]),
    ("mgmt:access", ADMIN, "Reach any path under /mgmt/ (checked before routing).",
     [("GET", "/mgmt/*"), ("POST", "/mgmt/*"), ("PUT", "/mgmt/*"),
      ("DELETE", "/mgmt/*")]),
    ("mgmt:instance:index", ADMIN, "List the instances of all projects.",
     [("GET", "/mgmt/instances")]),
    ("mgmt:instance:show", ADMIN, "Show any instance with management details.",
     [("GET", "/mgmt/instances/{id}")]),
    ("mgmt:instance:action", ADMIN, "Stop, reboot, reset the task status of or rebuild "
     "an instance.", [("POST", "/mgmt/instances/{id}/action")]),
    ("mgmt:instance:rpc_ping", ADMIN, "Ping the guest agent of an instance.",
     [("GET", "/mgmt/instances/{id}/rpc_ping")]),
]


def list_rules() -> list[policy.RuleDefault]:
    """All policy defaults; the ``oslo.policy.policies`` entry point of trove_lite."""
    rules = list(_BASE_RULES)
    for name, check, description, operations in _ACTIONS:
        rules.append(policy.DocumentedRuleDefault(
            name=name, check_str=check, description=description,
            operations=[{"method": m, "path": BASE + p} for m, p in operations]))
    return rules


def make_enforcer(conf: cfg.ConfigOpts) -> policy.Enforcer:
    """An Enforcer on ``conf`` (its ``[oslo_policy]`` options) with our defaults.

    Rules in ``[oslo_policy] policy_file``, if that file exists, override the
    defaults; the file is re-read when it changes. Raises on a malformed file.
    """
    enforcer = policy.Enforcer(conf)
    enforcer.register_defaults(list_rules())
    enforcer.load_rules()
    return enforcer


def enforce(enforcer: policy.Enforcer, context: RequestContext, action: str,
            target: dict[str, Any] | None = None) -> bool:
    """Raise Forbidden(action=...) unless ``context`` may do ``action`` on ``target``.

    ``target`` defaults to the URL tenant: ``{"project_id": context.tenant}``.
    An action that is not registered raises oslo_policy's PolicyNotRegistered
    (a programming error, not a user error).
    """
    if target is None:
        target = {"project_id": context.tenant}
    return enforcer.authorize(action, target, context.to_policy_values(),
                              do_raise=True, exc=Forbidden, action=action)


def sample_text() -> str:
    """etc/policy.yaml.sample as oslopolicy-sample-generator writes it."""
    # the generator's own formatter, fed our rules directly, so the sample can be
    # produced before the entry point is installed
    return "".join(_generator._sort_and_format_by_section(
        {"trove_lite": list_rules()}, include_help=True))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    text = sample_text()
    if argv:
        with open(argv[0], "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
