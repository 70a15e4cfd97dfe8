"""``trove-lite schedule-*``: server-side backup schedules (``/backup_schedules``).

troveclient has no manager for them (Trove schedules through Mistral, from the
client), so these commands call the API through troveclient's HTTP client, as
the log commands do. A schedule is named by its id or its name.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from troveclient import exceptions as trove_exceptions

from trove_lite.cli.main import Record, Table, arg, command, find_instance

if TYPE_CHECKING:
    from troveclient.v1.client import Client

LIST_FIELDS = ["id", "name", "instance_id", "pattern", "incremental", "retention",
               "next_run", "last_run", "last_backup_status"]


def _http(cs: Client) -> Any:
    """troveclient's HTTP client (``get``/``post``/``delete`` -> (response, body))."""
    return cs.instances.api.client


def _flat(info: dict) -> dict:
    flat = dict(info)
    flat["retention"] = ", ".join("%s %s" % kv for kv in sorted(info["retention"].items()))
    return flat


def find_schedule(cs: Client, ref: str) -> dict:
    _, body = _http(cs).get("/backup_schedules")
    found = [s for s in body["backup_schedules"] if ref in (s["id"], s["name"])]
    if len(found) > 1:
        raise trove_exceptions.NoUniqueMatch(
            "Multiple schedules are named %r; use its id." % ref)
    if not found:
        raise trove_exceptions.CommandError("No backup schedule with a name or ID of %r "
                                            "exists." % ref)
    return found[0]


def _retention(args: argparse.Namespace) -> dict[str, int]:
    if (args.retention_count is None) == (args.retention_days is None):
        raise trove_exceptions.CommandError("Give one of --retention-count N and "
                                            "--retention-days D.")
    if args.retention_count is not None:
        return {"count": args.retention_count}
    return {"days": args.retention_days}


@command("schedule-create", "Creates a backup schedule of an instance (run by the "
                            "server).",
         arg("instance", help="ID or name of the instance."),
         arg("name", help="Name of the schedule (its backups are named after it)."),
         arg("pattern", help="When to back up: a 5-field cron pattern, e.g. '30 2 * * *' "
                             "(UTC)."),
         arg("--incremental", action="store_true", default=False,
             help="Incremental backups, with a new full one when a chain reaches the "
                  "server's max_chain_length."),
         arg("--retention-count", "--retention_count", type=int, default=None,
             help="Keep the newest N completed backups (with the chains they need)."),
         arg("--retention-days", "--retention_days", type=int, default=None,
             help="Keep the backups of the last D days (with the chains they need)."))
def do_schedule_create(cs: Client, args: argparse.Namespace) -> Record:
    body = {"instance_id": find_instance(cs, args.instance).id, "name": args.name,
            "pattern": args.pattern, "incremental": args.incremental,
            "retention": _retention(args)}
    _, made = _http(cs).post("/backup_schedules", body={"backup_schedule": body})
    info = made["backup_schedule"]
    return Record(raw=info, flat=_flat(info))


@command("schedule-list", "Lists backup schedules.",
         arg("--instance", default=None, help="Only the schedules of this instance."))
def do_schedule_list(cs: Client, args: argparse.Namespace) -> Table:
    path = "/backup_schedules"
    if args.instance:
        path += "?instance_id=%s" % find_instance(cs, args.instance).id
    _, body = _http(cs).get(path)
    raw = body["backup_schedules"]
    return Table(raw=raw, rows=[_flat(s) for s in raw], fields=LIST_FIELDS,
                 order_by="name")


@command("schedule-show", "Shows a backup schedule: next and last run, and the status "
                          "of the last backup it made.",
         arg("schedule", help="ID or name of the schedule."))
def do_schedule_show(cs: Client, args: argparse.Namespace) -> Record:
    _, body = _http(cs).get("/backup_schedules/%s" % find_schedule(cs, args.schedule)["id"])
    info = body["backup_schedule"]
    return Record(raw=info, flat=_flat(info))


@command("schedule-delete", "Deletes a backup schedule (the backups it made stay).",
         arg("schedule", help="ID or name of the schedule."))
def do_schedule_delete(cs: Client, args: argparse.Namespace) -> str:
    schedule = find_schedule(cs, args.schedule)
    _http(cs).delete("/backup_schedules/%s" % schedule["id"])
    return "Request to delete backup schedule %s has been accepted." % schedule["id"]
