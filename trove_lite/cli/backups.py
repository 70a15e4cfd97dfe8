"""``trove-lite backup-*``: create, list, show and delete backups (trove's commands).

``backup-create`` takes the instance and the name in either order (``trove``
itself wants ``<instance> <name>``): the argument that names an existing
instance is the instance. Restoring is ``trove-lite create ... --backup ID``.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any, Callable

from troveclient import exceptions as trove_exceptions
from troveclient import utils as trove_utils

from trove_lite.cli import progress
from trove_lite.cli.main import Record, Table, arg, command, find_instance

if TYPE_CHECKING:
    from troveclient.v1.client import Client

LIST_FIELDS = ["id", "instance_id", "name", "status", "parent_id", "updated"]
INSTANCE_LIST_FIELDS = ["id", "name", "status", "parent_id", "updated"]


def find_backup(cs: Client, ref: str) -> Any:
    return trove_utils.find_resource(cs.backups, ref)


def backup_record(backup: Any) -> Record:
    info = dict(backup._info)
    flat = dict(info)
    ds = info.get("datastore") or {}
    flat["datastore"] = "%s %s" % (ds.get("type"), ds.get("version")) if ds else None
    return Record(raw=info, flat=flat)


def _all_pages(fetch: Callable[..., Any], limit: int | None) -> list[dict]:
    page = fetch(limit=limit, marker=None)
    items = list(page)
    while limit is None and page.next:
        page = fetch(limit=None, marker=page.next)
        items.extend(page)
    return [b._info for b in items]


def _instance_and_name(cs: Client, first: str, second: str) -> tuple[Any, str]:
    try:
        return find_instance(cs, first), second
    except trove_exceptions.CommandError:
        return find_instance(cs, second), first


@command("backup-create", "Creates a backup of an instance.",
         arg("instance_or_name", metavar="<instance>", help="ID or name of the instance."),
         arg("name_or_instance", metavar="<name>", help="Name of the backup."),
         arg("--description", default=None, help="An optional description for the backup."),
         arg("--parent", default=None,
             help="Optional ID or name of the parent backup to perform an incremental "
                  "backup from."),
         arg("--incremental", action="store_true", default=False,
             help="Create an incremental backup based on the last full or incremental "
                  "backup. It will create a full backup if no existing backup found."),
         arg("--swift-container", "--swift_container", default=None,
             help="The container to store the backup in (default: the strategy's or "
                  "the configured one)."),
         arg("--wait", action="store_true", default=False,
             help="Wait until it ends, with a progress bar; exit 1 with the fault."))
def do_backup_create(cs: Client, args: argparse.Namespace) -> Record:
    instance, name = _instance_and_name(cs, args.instance_or_name, args.name_or_instance)
    parent = find_backup(cs, args.parent).id if args.parent else None
    backup = cs.backups.create(name, instance.id, description=args.description,
                               parent_id=parent, incremental=args.incremental,
                               swift_container=args.swift_container)
    if args.wait:
        backup = progress.wait_backup(cs, backup.id)
    return backup_record(backup)


@command("backup-list", "Lists available backups.",
         arg("--limit", type=int, default=None, help="Return up to N backups."),
         arg("--datastore", default=None, help="ID or name of the datastore."),
         arg("--instance-id", "--instance_id", default=None,
             help="Only the backups of this instance."))
def do_backup_list(cs: Client, args: argparse.Namespace) -> Table:
    raw = _all_pages(lambda limit, marker: cs.backups.list(
        limit=limit, marker=marker, datastore=args.datastore,
        instance_id=args.instance_id), args.limit)
    return Table(raw=raw, rows=raw, fields=LIST_FIELDS, order_by="updated")


@command("backup-list-instance", "Lists available backups for an instance.",
         arg("instance", help="ID or name of the instance."),
         arg("--limit", type=int, default=None, help="Return up to N backups."))
def do_backup_list_instance(cs: Client, args: argparse.Namespace) -> Table:
    instance = find_instance(cs, args.instance)
    raw = _all_pages(lambda limit, marker: cs.instances.backups(
        instance, limit=limit, marker=marker), args.limit)
    return Table(raw=raw, rows=raw, fields=INSTANCE_LIST_FIELDS, order_by="updated")


@command("backup-show", "Shows details of a backup (progress while it runs).",
         arg("backup", help="ID or name of the backup."))
def do_backup_show(cs: Client, args: argparse.Namespace) -> Record:
    return backup_record(cs.backups.get(find_backup(cs, args.backup).id))


@command("backup-delete", "Deletes a backup and its incremental children.",
         arg("backup", help="ID or name of the backup."))
def do_backup_delete(cs: Client, args: argparse.Namespace) -> str:
    backup = find_backup(cs, args.backup)
    cs.backups.delete(backup)
    return "Request to delete backup %s has been accepted." % backup.id
