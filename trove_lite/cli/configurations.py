"""``trove-lite configuration-*``: configuration groups and datastore parameters.

The commands and arguments of ``trove``'s configuration commands; values are a
JSON object as in ``trove configuration-create g '{"max_connections": 200}'``.
"""

from __future__ import annotations

import argparse
import json
import re
from typing import TYPE_CHECKING, Any

from troveclient import exceptions as trove_exceptions
from troveclient import utils as trove_utils

from trove_lite.cli.main import Record, Table, arg, command, find_instance

if TYPE_CHECKING:
    from troveclient.v1.client import Client

_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
LIST_FIELDS = ["id", "name", "description", "datastore_name", "datastore_version_name"]
PARAMETER_FIELDS = ["name", "type", "min", "max", "restart_required"]


def _values(text: str) -> str:
    """The values argument: a JSON object (checked here so the message is clear)."""
    try:
        values = json.loads(text)
    except ValueError as e:
        raise trove_exceptions.ValidationError("values must be a JSON object: %s" % e)
    if not isinstance(values, dict):
        raise trove_exceptions.ValidationError("values must be a JSON object, not %s"
                                               % type(values).__name__)
    return text


def find_configuration(cs: Client, ref: str) -> Any:
    return trove_utils.find_resource(cs.configurations, ref)


def _group_record(group: Any) -> Record:
    info = dict(group._info)
    flat = dict(info)
    flat["values"] = json.dumps(info.get("values", {}), sort_keys=True)
    return Record(raw=info, flat=flat)


def _parameters(cs: Client, datastore: str | None, version: str) -> Any:
    params = cs.configuration_parameters
    if _UUID_RE.match(version) and not datastore:
        return params.parameters_by_version(version)
    if not datastore:
        raise trove_exceptions.NoUniqueMatch(
            "The datastore name or id is required to look up a version by name.")
    return params.parameters(datastore, version)


@command("configuration-list", "Lists all configuration groups.",
         arg("--limit", type=int, default=None, help="Limit the number of results."),
         arg("--marker", default=None, help="Begin after this configuration group id."))
def do_configuration_list(cs: Client, args: argparse.Namespace) -> Table:
    page = cs.configurations.list(limit=args.limit, marker=args.marker)
    items = list(page)
    while args.limit is None and page.next:
        page = cs.configurations.list(marker=page.next)
        items.extend(page)
    raw = [c._info for c in items]
    return Table(raw=raw, rows=raw, fields=LIST_FIELDS)


@command("configuration-show", "Shows details of a configuration group.",
         arg("configuration_group", help="ID or name of the configuration group."))
def do_configuration_show(cs: Client, args: argparse.Namespace) -> Record:
    return _group_record(cs.configurations.get(
        find_configuration(cs, args.configuration_group).id))


@command("configuration-create", "Creates a configuration group.",
         arg("name", help="Name of the configuration group."),
         arg("values", help="Dictionary of the values to set (JSON)."),
         arg("--datastore", default=None, help="Datastore name or ID."),
         arg("--datastore_version", "--datastore-version", default=None,
             help="Datastore version name or ID."),
         arg("--description", default=None, help="An optional description."))
def do_configuration_create(cs: Client, args: argparse.Namespace) -> Record:
    group = cs.configurations.create(args.name, _values(args.values),
                                     description=args.description,
                                     datastore=args.datastore,
                                     datastore_version=args.datastore_version)
    return _group_record(group)


@command("configuration-patch", "Merges values into a configuration group.",
         arg("configuration_group", help="ID or name of the configuration group."),
         arg("values", help="Dictionary of the values to set (JSON)."))
def do_configuration_patch(cs: Client, args: argparse.Namespace) -> None:
    cs.configurations.edit(find_configuration(cs, args.configuration_group).id,
                           _values(args.values))


@command("configuration-update", "Replaces the values of a configuration group.",
         arg("configuration_group", help="ID or name of the configuration group."),
         arg("values", help="Dictionary of the values to set (JSON)."),
         arg("--name", default=None, help="New name of the configuration group."),
         arg("--description", default=None, help="New description."))
def do_configuration_update(cs: Client, args: argparse.Namespace) -> None:
    cs.configurations.update(find_configuration(cs, args.configuration_group).id,
                             _values(args.values), name=args.name,
                             description=args.description)


@command("configuration-delete", "Deletes a configuration group.",
         arg("configuration_group", help="ID or name of the configuration group."))
def do_configuration_delete(cs: Client, args: argparse.Namespace) -> None:
    cs.configurations.delete(find_configuration(cs, args.configuration_group).id)


@command("configuration-instances", "Lists the instances of a configuration group.",
         arg("configuration_group", help="ID or name of the configuration group."),
         arg("--limit", type=int, default=None, help="Limit the number of results."),
         arg("--marker", default=None, help="Begin after this instance id."))
def do_configuration_instances(cs: Client, args: argparse.Namespace) -> Table:
    group = find_configuration(cs, args.configuration_group)
    raw = [i._info for i in cs.configurations.instances(group.id, limit=args.limit,
                                                        marker=args.marker)]
    return Table(raw=raw, rows=raw, fields=["id", "name"])


@command("configuration-attach", "Attaches a configuration group to an instance.",
         arg("instance", help="ID or name of the instance."),
         arg("configuration", help="ID or name of the configuration group."))
def do_configuration_attach(cs: Client, args: argparse.Namespace) -> None:
    cs.instances.update(find_instance(cs, args.instance).id,
                        configuration=find_configuration(cs, args.configuration).id)


@command("configuration-detach", "Detaches the configuration group of an instance.",
         arg("instance", help="ID or name of the instance."))
def do_configuration_detach(cs: Client, args: argparse.Namespace) -> None:
    cs.instances.update(find_instance(cs, args.instance).id, remove_configuration=True)


@command("configuration-default", "Shows the effective configuration of an instance.",
         arg("instance", help="ID or name of the instance."))
def do_configuration_default(cs: Client, args: argparse.Namespace) -> Record:
    info = cs.instances.configuration(find_instance(cs, args.instance).id)._info
    values = info.get("configuration", {})
    return Record(raw=info, flat=dict(values))


@command("configuration-parameter-list", "Lists the parameters of a datastore version.",
         arg("datastore_version", help="Datastore version name or ID."),
         arg("--datastore", default=None,
             help="Datastore name or ID (needed with a version name)."))
def do_configuration_parameter_list(cs: Client, args: argparse.Namespace) -> Table:
    raw = [p._info for p in _parameters(cs, args.datastore, args.datastore_version)]
    rows = [dict(r, min=r.get("min", "-"), max=r.get("max", "-")) for r in raw]
    return Table(raw=raw, rows=rows, fields=PARAMETER_FIELDS,
                 labels={"min": "Min Size", "max": "Max Size"})


@command("configuration-parameter-show", "Shows one parameter of a datastore version.",
         arg("datastore_version", help="Datastore version name or ID."),
         arg("parameter", help="Name of the parameter."),
         arg("--datastore", default=None,
             help="Datastore name or ID (needed with a version name)."))
def do_configuration_parameter_show(cs: Client, args: argparse.Namespace) -> Record:
    params = cs.configuration_parameters
    if _UUID_RE.match(args.datastore_version) and not args.datastore:
        param = params.get_parameter_by_version(args.datastore_version, args.parameter)
    elif args.datastore:
        param = params.get_parameter(args.datastore, args.datastore_version, args.parameter)
    else:
        raise trove_exceptions.NoUniqueMatch(
            "The datastore name or id is required to look up a version by name.")
    return Record(raw=param._info, flat=dict(param._info))
