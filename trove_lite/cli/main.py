"""``trove-lite``: the user CLI, trove-style commands and tables, on python-troveclient.

    trove-lite [--endpoint URL | --tenant T] [--json] COMMAND ...

The endpoint is ``--endpoint`` / ``TROVE_LITE_ENDPOINT``, else
``http://127.0.0.1:8779/v1.0/<tenant>`` with the tenant from ``--tenant`` /
``TROVE_LITE_TENANT`` (default ``demo``). Requests go through
``troveclient.v1.client.Client`` on a keystoneauth1 NoAuth session.

Commands are plain functions registered with ``@command(name, help, *args)``;
each returns a ``Table``, a ``Record`` or a message, and one renderer prints
it as a prettytable (like ``trove``) or as JSON (``--json``). To add a
command, write one function.

Errors print troveclient's message as ``ERROR: ...`` and exit 1.
"""

import argparse
import dataclasses
import json
import os
import sys
import warnings
from typing import Any, Callable, Literal, Sequence, TypeVar

# troveclient imports eventlet, which warns about its own deprecation on every
# run; a user of a CLI has nothing to do about that.
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
warnings.filterwarnings("ignore", category=DeprecationWarning)

import prettytable  # noqa: E402
from keystoneauth1 import exceptions as ks_exceptions  # noqa: E402
from keystoneauth1 import noauth  # noqa: E402
from keystoneauth1 import session as ks_session  # noqa: E402
from troveclient import exceptions as trove_exceptions  # noqa: E402
from troveclient import utils as trove_utils  # noqa: E402
from troveclient.v1 import client as trove_client  # noqa: E402

from trove_lite.cli import progress  # noqa: E402

DEFAULT_URL = "http://127.0.0.1:8779/v1.0/%s"


@dataclasses.dataclass
class Table:
    """Rows of a list command: ``raw`` for --json, ``rows`` (flattened dicts) for the table."""

    raw: list
    rows: list[dict]
    fields: list[str]
    labels: dict[str, str] = dataclasses.field(default_factory=dict)
    order_by: str | None = None


@dataclasses.dataclass
class Record:
    """One resource: ``raw`` for --json, ``flat`` for the Property/Value table."""

    raw: dict | list   # limit-list shows one record of a list
    flat: dict


# What a command returns: a table, a record, a message, or nothing to print.
Result = Table | Record | str | None
# One argument of a command: (names, add_argument's keywords).
Arg = tuple[tuple[str, ...], dict[str, Any]]
# python-troveclient has no type information: its client and resources are Any.
Command = Callable[[trove_client.Client, argparse.Namespace], Result]
_C = TypeVar("_C", bound=Callable[..., Result])

COMMANDS: dict[str, tuple[Command, str, tuple[Arg, ...], Sequence[str]]] = {}


def arg(*names: str, **kwargs: Any) -> Arg:
    return names, kwargs


def command(name: str, help_text: str, *args: Arg,
            aliases: Sequence[str] = ()) -> Callable[[_C], _C]:
    def register(func: _C) -> _C:
        COMMANDS[name] = (func, help_text, args, aliases)
        return func
    return register


# -- rendering ---------------------------------------------------------------

def _label(field: str) -> str:
    label = field.replace("_", " ").replace(" id", " ID")
    if len(label) < 3:
        return label.upper()
    return " ".join(word[0].upper() + word[1:] for word in label.split())


def _sort_key(value: object) -> tuple[int, float, str]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, value, "")
    return (1, 0, str(value))


def render_table(table: Table) -> str:
    labels = {f: table.labels.get(f) or _label(f) for f in table.fields}
    pt = prettytable.PrettyTable([labels[f] for f in table.fields])
    align: dict[str, Literal["l", "r"]] = {labels[f]: "l" for f in table.fields}
    key = table.order_by or table.fields[0]
    # sort on the values, not their strings: RAM 1024 comes after 512
    rows = sorted(table.rows, key=lambda r: (r.get(key) is None, _sort_key(r.get(key))))
    for i, row in enumerate(rows):
        values = [row.get(f, "") for f in table.fields]
        if i == 0:
            for f, v in zip(table.fields, values):
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    align[labels[f]] = "r"
        pt.add_row(["" if v is None else str(v) for v in values])
    for column, side in align.items():
        pt.align[column] = side
    return pt.get_string()


def render_record(record: Record) -> str:
    pt = prettytable.PrettyTable(["Property", "Value"])
    pt.align = "l"
    for key, value in record.flat.items():
        pt.add_row([key, "" if value is None else str(value)])
    return pt.get_string(sortby="Property")


def render(result: Result, as_json: bool) -> str | None:
    if result is None:
        return None
    if isinstance(result, str):
        return result
    if as_json:
        return json.dumps(result.raw, indent=2, sort_keys=True)
    if isinstance(result, Table):
        return render_table(result)
    return render_record(result)


# -- shaping (as trove's shell flattens resources) -----------------------------

def instance_row(info: dict) -> dict:
    row = dict(info)
    row["flavor_id"] = info.get("flavor", {}).get("id")
    row["size"] = info["volume"]["size"] if "volume" in info else "-"
    row.setdefault("region", "")
    ds = info.get("datastore") or {}
    row["datastore"] = ds.get("type")
    row["datastore_version"] = ds.get("version")
    return row


def instance_record(info: dict) -> Record:
    flat = dict(info)
    flat.pop("links", None)
    flat["flavor"] = info["flavor"]["id"]
    if "volume" in info:
        flat["volume"] = info["volume"]["size"]
        if "used" in info["volume"]:
            flat["volume_used"] = info["volume"]["used"]
    if "ip" in info:
        flat["ip"] = ", ".join(info["ip"])
    if "datastore" in info:
        flat["datastore"] = info["datastore"]["type"]
        flat["datastore_version"] = info["datastore"]["version"]
    if "fault" in info:
        fault = flat.pop("fault")
        flat["fault"] = fault["message"]
        flat["fault_date"] = fault["created"]
        if fault.get("details"):
            flat["fault_details"] = fault["details"]
    from trove_lite.cli import replication
    return Record(raw=info, flat=replication.flatten(info, flat))


def _record(resource: Any) -> Record:
    flat = dict(resource._info)
    flat.pop("links", None)
    return Record(raw=resource._info, flat=flat)


def find_instance(cs: trove_client.Client, ref: str) -> Any:
    return trove_utils.find_resource(cs.instances, ref)


def find_flavor(cs: trove_client.Client, ref: str) -> Any:
    return trove_utils.find_resource(cs.flavors, ref)


# -- commands ------------------------------------------------------------------

INSTANCE_FIELDS = ["id", "name", "datastore", "datastore_version", "status",
                   "operating_status", "flavor_id", "size", "region"]


@command("list", "Lists all the instances.",
         arg("--limit", type=int, default=None, help="Limit the number of results displayed."),
         arg("--marker", default=None, help="Begin displaying the results for IDs greater "
                                            "than the specified marker."))
def do_list(cs: trove_client.Client, args: argparse.Namespace) -> Table:
    page = cs.instances.list(limit=args.limit, marker=args.marker)
    items = list(page)
    # no explicit page size: follow the next links and show everything
    while args.limit is None and page.next:
        page = cs.instances.list(marker=page.next)
        items.extend(page)
    raw = [i._info for i in items]
    return Table(raw=raw, rows=[instance_row(i) for i in raw], fields=INSTANCE_FIELDS)


@command("show", "Shows details of an instance.",
         arg("instance", help="ID or name of the instance."))
def do_show(cs: trove_client.Client, args: argparse.Namespace) -> Record:
    return instance_record(cs.instances.get(find_instance(cs, args.instance).id)._info)


@command("create", "Creates a new instance.",
         arg("name", help="Name of the instance."),
         arg("flavor", help="A flavor name or ID."),
         arg("--size", type=int, default=None, help="Size of the instance disk volume in GB."),
         arg("--volume_type", "--volume-type", default=None, help="Volume type."),
         arg("--databases", nargs="+", default=[], metavar="<database>",
             help="Optional list of databases."),
         arg("--users", nargs="+", default=[], metavar="<user:password>",
             help="Optional list of users."),
         arg("--backup", default=None, help="A backup name or ID to restore from."),
         arg("--restore_instance", "--restore-instance", default=None,
             help="Point-in-time restore: the instance (name or ID; the ID if it was "
                  "deleted) whose data to restore, with --restore-time."),
         arg("--restore_time", "--restore-time", default=None,
             help="Point-in-time restore: YYYY-MM-DDTHH:MM:SS[.ffffff]Z (UTC)."),
         arg("--availability_zone", "--availability-zone", default=None,
             help="The zone hint (accepted, not used by local drivers)."),
         arg("--datastore", default=None, help="A datastore name or ID."),
         arg("--datastore_version", "--datastore-version", default=None,
             help="A datastore version name or ID."),
         arg("--configuration", default=None,
             help="ID of a configuration group to attach at create."),
         arg("--replica_of", "--replica-of", default=None,
             help="ID or name of an instance to replicate from."),
         arg("--replica_count", "--replica-count", type=int, default=None,
             help="Number of replicas to create (with --replica_of)."),
         arg("--wait", action="store_true", default=False,
             help="Wait until it ends, with a progress bar; exit 1 with the fault."))
def do_create(cs: trove_client.Client, args: argparse.Namespace) -> Record:
    flavor_id = find_flavor(cs, args.flavor).id
    if args.size is not None and args.size <= 0:
        raise trove_exceptions.ValidationError(
            "Volume size '%s' must be an integer and greater than 0." % args.size)
    volume = {"size": args.size, "type": args.volume_type} if args.size else None
    databases = [{"name": name} for name in args.databases]
    users = []
    for spec in args.users:
        if ":" not in spec:
            raise trove_exceptions.ValidationError(
                "User '%s' must be given as <user:password>." % spec)
        name, password = spec.split(":", 1)
        users.append({"name": name, "password": password, "databases": databases})
    restore_point = None
    if args.backup:
        restore_point = {"backupRef": trove_utils.find_resource(cs.backups, args.backup).id}
    elif args.restore_instance or args.restore_time:
        restore_point = {"instanceRef": _instance_ref(cs, args.restore_instance),
                         "restoreTime": args.restore_time}
    instance = cs.instances.create(
        args.name, flavor_id, volume=volume, databases=databases, users=users,
        restorePoint=restore_point,
        availability_zone=args.availability_zone, datastore=args.datastore,
        datastore_version=args.datastore_version, configuration=args.configuration,
        replica_of=find_instance(cs, args.replica_of).id if args.replica_of else None,
        replica_count=args.replica_count)
    if args.wait:
        return instance_record(progress.wait_instance(cs, instance.id, "create"))
    return instance_record(instance._info)


def _instance_ref(cs: trove_client.Client, ref: str | None) -> str | None:
    """The ID of a live instance named or identified by ``ref``; else ``ref`` as given
    (a deleted source is restorable by its ID)."""
    if not ref:
        return ref
    try:
        return find_instance(cs, ref).id
    except trove_exceptions.CommandError:
        return ref


@command("delete", "Delete specified instance(s).",
         arg("instance", nargs="+", help="ID or name of the instance(s)."))
def do_delete(cs: trove_client.Client, args: argparse.Namespace) -> str:
    failed = []
    lines = []
    for ref in args.instance:
        try:
            cs.instances.delete(find_instance(cs, ref))
            lines.append("Request to delete instance %s has been accepted." % ref)
        except trove_exceptions.ClientException as e:
            failed.append(ref)
            lines.append(str(e))
    if failed:
        print("\n".join(lines))
        raise trove_exceptions.CommandError("Unable to delete the specified instance(s).")
    return "\n".join(lines)


@command("restart", "Restarts an instance.",
         arg("instance", help="ID or name of the instance."),
         arg("--wait", action="store_true", default=False,
             help="Wait until it ends, with a progress bar; exit 1 with the fault."))
def do_restart(cs: trove_client.Client, args: argparse.Namespace) -> Record | None:
    instance = find_instance(cs, args.instance)
    cs.instances.restart(instance)
    return _maybe_wait(cs, args, instance.id, "restart")


def _maybe_wait(cs: trove_client.Client, args: argparse.Namespace, instance_id: str,
                action: str) -> Record | None:
    if args.wait:
        return instance_record(progress.wait_instance(cs, instance_id, action))
    return None


@command("resize-flavor", "Resizes an instance with a new flavor.",
         arg("instance", help="ID or name of the instance."),
         arg("flavor", help="New flavor of the instance."),
         arg("--wait", action="store_true", default=False,
             help="Wait until it ends, with a progress bar; exit 1 with the fault."),
         aliases=("resize-instance",))
def do_resize_flavor(cs: trove_client.Client, args: argparse.Namespace) -> Record | None:
    instance = find_instance(cs, args.instance)
    cs.instances.resize_instance(instance, find_flavor(cs, args.flavor).id)
    return _maybe_wait(cs, args, instance.id, "resize")


@command("resize-volume", "Resizes the volume size of an instance.",
         arg("instance", help="ID or name of the instance."),
         arg("size", type=int, help="New size of the instance disk volume in GB."),
         arg("--wait", action="store_true", default=False,
             help="Wait until it ends, with a progress bar; exit 1 with the fault."))
def do_resize_volume(cs: trove_client.Client, args: argparse.Namespace) -> Record | None:
    instance = find_instance(cs, args.instance)
    cs.instances.resize_volume(instance, args.size)
    return _maybe_wait(cs, args, instance.id, "resize")


@command("upgrade", "Upgrades an instance to a newer version of its datastore.",
         arg("instance", help="ID or name of the instance."),
         arg("datastore_version", help="ID or name of the datastore version."),
         arg("--wait", action="store_true", default=False,
             help="Wait until it ends, with a progress bar; exit 1 with the fault "
                  "(a rolled-back upgrade too)."))
def do_upgrade(cs: trove_client.Client, args: argparse.Namespace) -> Record | None:
    instance = find_instance(cs, args.instance)
    cs.instances.upgrade(instance, args.datastore_version)
    return _maybe_wait(cs, args, instance.id, "upgrade")


@command("reset-status", "Clears the task of an instance stuck in BUILD or ERROR.",
         arg("instance", help="ID or name of the instance."))
def do_reset_status(cs: trove_client.Client, args: argparse.Namespace) -> None:
    cs.instances.reset_status(find_instance(cs, args.instance))


@command("update", "Updates an instance: rename it.",
         arg("instance", help="ID or name of the instance."),
         arg("--name", required=True, help="New name of the instance."))
def do_update(cs: trove_client.Client, args: argparse.Namespace) -> None:
    cs.instances.update(find_instance(cs, args.instance), name=args.name)


@command("flavor-list", "Lists available flavors.",
         arg("--datastore_type", "--datastore-type", default=None,
             help="Type of the datastore (with --datastore_version_id)."),
         arg("--datastore_version_id", "--datastore-version-id", default=None,
             help="ID of the datastore version (with --datastore_type)."))
def do_flavor_list(cs: trove_client.Client, args: argparse.Namespace) -> Table:
    if args.datastore_type and args.datastore_version_id:
        flavors = cs.flavors.list_datastore_version_associated_flavors(
            args.datastore_type, args.datastore_version_id)
    elif not args.datastore_type and not args.datastore_version_id:
        flavors = cs.flavors.list()
    else:
        raise trove_exceptions.MissingArgs(["datastore_type", "datastore_version_id"])
    raw = [f._info for f in flavors]
    rows = [dict(r, id=r.get("id") or r.get("str_id")) for r in raw]
    return Table(raw=raw, rows=rows, fields=["id", "name", "ram", "vcpus", "disk", "ephemeral"],
                 labels={"ram": "RAM", "vcpus": "vCPUs", "disk": "Disk"}, order_by="ram")


@command("flavor-show", "Shows details of a flavor.",
         arg("flavor", help="ID or name of the flavor."))
def do_flavor_show(cs: trove_client.Client, args: argparse.Namespace) -> Record:
    return _record(find_flavor(cs, args.flavor))


@command("datastore-list", "Lists available datastores.")
def do_datastore_list(cs: trove_client.Client, args: argparse.Namespace) -> Table:
    raw = [d._info for d in cs.datastores.list()]
    rows = [dict(r, versions=", ".join(v["name"] for v in r.get("versions", []))) for r in raw]
    return Table(raw=raw, rows=rows, fields=["id", "name", "versions"])


@command("datastore-show", "Shows details of a datastore.",
         arg("datastore", help="ID or name of the datastore."))
def do_datastore_show(cs: trove_client.Client, args: argparse.Namespace) -> Record:
    ds = cs.datastores.get(args.datastore)
    record = _record(ds)
    versions = record.flat.pop("versions", [])
    record.flat["versions (id)"] = "\n".join("%s (%s)" % (v["name"], v["id"]) for v in versions)
    default = [v["name"] for v in versions if v["id"] == ds._info.get("default_version")]
    if default:
        record.flat["default_version"] = default[0]
    return record


@command("datastore-version-list", "Lists available versions for a datastore.",
         arg("datastore", help="ID or name of the datastore."))
def do_datastore_version_list(cs: trove_client.Client, args: argparse.Namespace) -> Table:
    raw = [v._info for v in cs.datastore_versions.list(args.datastore)]
    return Table(raw=raw, rows=raw, fields=["id", "name", "version"])


@command("datastore-version-show", "Shows details of a datastore version.",
         arg("datastore_version", help="ID or name of the datastore version."),
         arg("--datastore", default=None,
             help="ID or name of the datastore (optional with a version ID)."))
def do_datastore_version_show(cs: trove_client.Client, args: argparse.Namespace) -> Record:
    if args.datastore:
        version = cs.datastore_versions.get(args.datastore, args.datastore_version)
    else:
        version = cs.datastore_versions.get_by_uuid(args.datastore_version)
    return _record(version)


# -- entry point -------------------------------------------------------------------

# Command modules of other areas register themselves with @command on import.
COMMAND_MODULES = ("trove_lite.cli.databases", "trove_lite.cli.configurations",
                   "trove_lite.cli.quotas", "trove_lite.cli.backups",
                   "trove_lite.cli.replication", "trove_lite.cli.logs",
                   "trove_lite.cli.schedules", "trove_lite.cli.schema_migrations")


def load_command_modules() -> None:
    import importlib
    for name in COMMAND_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise


def build_parser() -> argparse.ArgumentParser:
    load_command_modules()
    parser = argparse.ArgumentParser(prog="trove-lite", description=__doc__.split("\n")[0])
    parser.add_argument("--endpoint", default=os.environ.get("TROVE_LITE_ENDPOINT"),
                        help="API endpoint including /v1.0/<tenant> "
                             "(env TROVE_LITE_ENDPOINT).")
    parser.add_argument("--tenant", default=os.environ.get("TROVE_LITE_TENANT", "demo"),
                        help="Tenant (project) id when no endpoint is given "
                             "(env TROVE_LITE_TENANT, default demo).")
    parser.add_argument("--json", action="store_true", default=False,
                        help="Print JSON instead of tables.")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="HTTP timeout in seconds.")
    json_parent = argparse.ArgumentParser(add_help=False)
    json_parent.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                             help="Print JSON instead of tables.")
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    sub.required = True
    for name, (func, help_text, args, aliases) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text,
                           aliases=list(aliases), parents=[json_parent])
        for names, kwargs in args:
            p.add_argument(*names, **kwargs)
        p.set_defaults(func=func)
    return parser


def make_client(endpoint: str, timeout: float = 60.0) -> trove_client.Client:
    auth = noauth.NoAuth(endpoint=endpoint)
    return trove_client.Client(session=ks_session.Session(auth=auth, timeout=timeout))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    endpoint = args.endpoint or DEFAULT_URL % args.tenant
    try:
        result = args.func(make_client(endpoint, args.timeout), args)
    except (trove_exceptions.ClientException, ks_exceptions.ClientException) as e:
        print("ERROR: %s" % e, file=sys.stderr)
        return 1
    output = render(result, args.json)
    if output:
        print(output)
    return 0


if __name__ == "__main__":
    # Run the imported module's main, not this __main__ copy: command modules
    # register into trove_lite.cli.main.COMMANDS, which __main__ does not see.
    from trove_lite.cli import main as _cli
    sys.exit(_cli.main())
