"""``trove-lite`` commands for databases, users, access and root of an instance.

Names and arguments are trove's (``trove database-create``, ``user-create``,
``root-enable``...). Each command resolves the instance by id or name, calls
python-troveclient, and returns a Table, Record or nothing.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from trove_lite.cli.main import Record, Table, arg, command, find_instance

if TYPE_CHECKING:
    from troveclient.v1.client import Client

_INSTANCE = arg("instance", help="ID or name of the instance.")
_HOST = arg("--host", default=None, help="Optional host of user.")


def _follow(manager: Any, instance: Any) -> list:
    """Every page of a paginated list."""
    page = manager.list(instance)
    items = list(page)
    while page.next:
        page = manager.list(instance, marker=page.next)
        items.extend(page)
    return items


def _user_row(info: dict) -> dict:
    return dict(info, databases=", ".join(d["name"] for d in info.get("databases") or []))


# -- databases --------------------------------------------------------------------

@command("database-create", "Creates a database on an instance.",
         _INSTANCE,
         arg("name", help="Name of the database."),
         arg("--character_set", "--character-set", default=None,
             help="Optional character set for database."),
         arg("--collate", default=None, help="Optional collation type for database."))
def do_database_create(cs: Client, args: argparse.Namespace) -> None:
    spec = {"name": args.name}
    if args.character_set:
        spec["character_set"] = args.character_set
    if args.collate:
        spec["collate"] = args.collate
    cs.databases.create(find_instance(cs, args.instance), [spec])


@command("database-list", "Lists available databases on an instance.", _INSTANCE)
def do_database_list(cs: Client, args: argparse.Namespace) -> Table:
    raw = [d._info for d in _follow(cs.databases, find_instance(cs, args.instance))]
    return Table(raw=raw, rows=raw, fields=["name"])


@command("database-delete", "Deletes a database from an instance.",
         _INSTANCE, arg("database", help="Name of the database."))
def do_database_delete(cs: Client, args: argparse.Namespace) -> None:
    cs.databases.delete(find_instance(cs, args.instance), args.database)


# -- users ------------------------------------------------------------------------

@command("user-create", "Creates a user on an instance.",
         _INSTANCE,
         arg("name", help="Name of user."),
         arg("password", help="Password of user."),
         _HOST,
         arg("--databases", nargs="+", default=[], metavar="<databases>",
             help="Optional list of databases."))
def do_user_create(cs: Client, args: argparse.Namespace) -> None:
    user = {"name": args.name, "password": args.password,
            "databases": [{"name": d} for d in args.databases]}
    if args.host:
        user["host"] = args.host
    cs.users.create(find_instance(cs, args.instance), [user])


@command("user-list", "Lists the users for an instance.", _INSTANCE)
def do_user_list(cs: Client, args: argparse.Namespace) -> Table:
    raw = [u._info for u in _follow(cs.users, find_instance(cs, args.instance))]
    return Table(raw=raw, rows=[_user_row(u) for u in raw],
                 fields=["name", "host", "databases"])


@command("user-show", "Shows details of a user of an instance.",
         _INSTANCE, arg("name", help="Name of user."), _HOST)
def do_user_show(cs: Client, args: argparse.Namespace) -> Record:
    user = cs.users.get(find_instance(cs, args.instance), args.name, hostname=args.host)
    return Record(raw=user._info, flat=_user_row(user._info))


@command("user-delete", "Deletes a user from an instance.",
         _INSTANCE, arg("name", help="Name of user."), _HOST)
def do_user_delete(cs: Client, args: argparse.Namespace) -> None:
    cs.users.delete(find_instance(cs, args.instance), args.name, hostname=args.host)


@command("user-update-attributes", "Updates a user's attributes on an instance. "
         "At least one optional argument must be provided.",
         _INSTANCE,
         arg("name", help="Name of user."), _HOST,
         arg("--new_name", "--new-name", default=None, help="Optional new name of user."),
         arg("--new_password", "--new-password", default=None,
             help="Optional new password of user."),
         arg("--new_host", "--new-host", default=None, help="Optional new host of user."))
def do_user_update_attributes(cs: Client, args: argparse.Namespace) -> None:
    attrs = {k: v for k, v in (("name", args.new_name), ("password", args.new_password),
                               ("host", args.new_host)) if v is not None}
    cs.users.update_attributes(find_instance(cs, args.instance), args.name,
                               newuserattr=attrs, hostname=args.host)


@command("user-grant-access", "Grants access to a database(s) for a user.",
         _INSTANCE, arg("name", help="Name of user."),
         arg("databases", nargs="+", metavar="<databases>", help="List of databases."),
         _HOST)
def do_user_grant_access(cs: Client, args: argparse.Namespace) -> None:
    cs.users.grant(find_instance(cs, args.instance), args.name, args.databases,
                   hostname=args.host)


@command("user-revoke-access", "Revokes access to a database for a user.",
         _INSTANCE, arg("name", help="Name of user."),
         arg("database", help="A single database."), _HOST)
def do_user_revoke_access(cs: Client, args: argparse.Namespace) -> None:
    cs.users.revoke(find_instance(cs, args.instance), args.name, args.database,
                    hostname=args.host)


@command("user-show-access", "Shows access details of a user of an instance.",
         _INSTANCE, arg("name", help="Name of user."), _HOST)
def do_user_show_access(cs: Client, args: argparse.Namespace) -> Table:
    raw = [d._info for d in cs.users.list_access(find_instance(cs, args.instance),
                                                 args.name, hostname=args.host)]
    return Table(raw=raw, rows=raw, fields=["name"])


# -- root -------------------------------------------------------------------------

@command("root-enable", "Enables root for an instance and resets if already exists.",
         arg("instance_or_cluster", help="ID or name of the instance."),
         arg("--root_password", "--root-password", default=None,
             help="Root password to set."))
def do_root_enable(cs: Client, args: argparse.Namespace) -> Record:
    name, password = cs.root.create_instance_root(find_instance(cs, args.instance_or_cluster),
                                                  args.root_password)
    return Record(raw={"name": name, "password": password},
                  flat={"name": name, "password": password})


@command("root-show", "Gets status if root was ever enabled for an instance.",
         arg("instance_or_cluster", help="ID or name of the instance."))
def do_root_show(cs: Client, args: argparse.Namespace) -> Record:
    root = cs.root.is_instance_root_enabled(find_instance(cs, args.instance_or_cluster))
    return Record(raw=root._info, flat={"is_root_enabled": root.rootEnabled})


@command("root-disable", "Disables root for an instance.", _INSTANCE)
def do_root_disable(cs: Client, args: argparse.Namespace) -> None:
    cs.root.disable_instance_root(find_instance(cs, args.instance))
