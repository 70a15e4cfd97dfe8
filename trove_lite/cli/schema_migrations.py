"""``trove-lite migration-*``: online schema migrations of an instance (issue 18).

``migration-create INSTANCE DATABASE TABLE ALTER [--postpone-cut-over] [--wait]``,
``migration-list``, ``migration-show``, ``migration-cut-over``, ``migration-abort``,
``migration-throttle``, ``migration-unthrottle``, ``migration-set``. ``--wait``
draws a progress bar on stderr until the migration is final (or POSTPONED, when
the cut-over waits for ``migration-cut-over``). Also named ``schema-migration-*``.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING, Any, TextIO

from troveclient import exceptions as trove_exceptions

from trove_lite.cli.main import Record, Table, arg, command, find_instance

if TYPE_CHECKING:
    from troveclient.v1.client import Client

FINAL = ("COMPLETED", "FAILED", "ABORTED")
LIST_FIELDS = ["id", "database", "table", "status", "percent", "rows_copied", "eta_seconds",
               "created"]


def _client(cs: Client) -> Any:
    """troveclient's HTTP client (``get``/``post`` -> (response, body))."""
    return cs.instances.api.client


def _path(instance: Any, migration_id: str | None = None, suffix: str = "") -> str:
    path = "/instances/%s/schema_migrations" % instance.id
    if migration_id:
        path += "/" + migration_id
    return path + suffix


def flatten(info: dict) -> dict:
    flat = {k: v for k, v in info.items() if k not in ("progress", "settings")}
    for key, value in (info.get("progress") or {}).items():
        flat[key] = ", ".join("%.3f" % x for x in value) if key == "cut_over_lock_seconds" \
            else value
    for key, value in (info.get("settings") or {}).items():
        flat["setting_" + key] = value
    return flat


def _record(info: dict) -> Record:
    return Record(raw=info, flat=flatten(info))


def progress_bar(info: dict, width: int = 30) -> str:
    """``[#####.....]  42.0% 4200/10000 rows at 350 rows/s, lag 0.1s, ETA 12s RUNNING``
    (pure; the rate once the guest reports the copy's time)."""
    p = info.get("progress") or {}
    pct = float(p.get("percent") or 0.0)
    filled = int(width * pct / 100)
    eta = p.get("eta_seconds")
    rate = " at %d rows/s" % ((p.get("rows_copied") or 0) / p["copy_seconds"]) \
        if p.get("copy_seconds") else ""
    return "[%s%s] %5.1f%% %d/%d rows%s, lag %.1fs, ETA %s %s%s" % (
        "#" * filled, "." * (width - filled), pct, p.get("rows_copied") or 0,
        p.get("rows_estimated") or 0, rate, p.get("lag_seconds") or 0.0,
        "%ds" % eta if eta is not None else "-", info["status"],
        " (%s)" % p["throttle_reason"] if p.get("throttle_reason") else "")


def wait(cs: Client, instance: Any, migration_id: str, until: tuple[str, ...] = FINAL,
         interval: float = 1.0, out: TextIO | None = None) -> dict:
    """Poll until the status is in ``until``; draw the bar; return the last body."""
    out = out or sys.stderr  # looked up now: whoever runs us may have replaced it
    while True:
        _, body = _client(cs).get(_path(instance, migration_id))
        info = body["schema_migration"]
        out.write("\r" + progress_bar(info))
        out.flush()
        if info["status"] in until or info["status"] in FINAL:
            out.write("\n")
            return info
        time.sleep(interval)


def _done(cs: Client, instance: Any, info: dict, expected: str = "COMPLETED") -> Record:
    if info["status"] in FINAL and info["status"] != expected:
        raise trove_exceptions.CommandError("schema migration %s %s: %s" % (
            info["id"], info["status"], info.get("fail_reason")))
    return _record(info)


@command("migration-create", "Starts an online schema migration of a table (gh-ost style).",
         arg("instance", help="ID or name of the instance."),
         arg("database", help="Database of the table."),
         arg("table", help="Table to migrate."),
         arg("alter", help="The ALTER clauses, e.g. \"add column c int, add key (c)\"."),
         arg("--postpone-cut-over", "--postpone_cut_over", action="store_true", default=False,
             help="Copy and keep applying changes, but cut over only on migration-cut-over."),
         arg("--keep-old-table", "--keep_old_table", action="store_true", default=False,
             help="Keep the original table as _<table>_del after the cut-over."),
         arg("--chunk-size", "--chunk_size", type=int, default=None, help="Rows per chunk."),
         arg("--max-lag-millis", "--max_lag_millis", type=int, default=None,
             help="Throttle above this lag."),
         arg("--max-load", "--max_load", default=None, help="e.g. Threads_running=25."),
         arg("--critical-load", "--critical_load", default=None,
             help="Abort above this, e.g. Threads_running=100."),
         arg("--nice-ratio", "--nice_ratio", type=float, default=None,
             help="Sleep this ratio of each chunk's time after it."),
         arg("--wait", action="store_true", default=False,
             help="Show progress until it completes (or waits for its cut-over)."),
         aliases=("schema-migration-create",))
def do_migration_create(cs: Client, args: argparse.Namespace) -> Record:
    instance = find_instance(cs, args.instance)
    body = {"database": args.database, "table": args.table, "alter": args.alter,
            "postpone_cut_over": args.postpone_cut_over, "keep_old_table": args.keep_old_table}
    for key in ("chunk_size", "max_lag_millis", "max_load", "critical_load", "nice_ratio"):
        if getattr(args, key) is not None:
            body[key] = getattr(args, key)
    _, out = _client(cs).post(_path(instance), body={"schema_migration": body})
    info = out["schema_migration"]
    if args.wait:
        info = _done(cs, instance, wait(cs, instance, info["id"], until=FINAL + (
            "POSTPONED",))).raw
    return _record(info)


@command("migration-list", "Lists the schema migrations of an instance.",
         arg("instance", help="ID or name of the instance."),
         aliases=("schema-migration-list",))
def do_migration_list(cs: Client, args: argparse.Namespace) -> Table:
    instance = find_instance(cs, args.instance)
    _, body = _client(cs).get(_path(instance))
    raw = body["schema_migrations"]
    return Table(raw=raw, rows=[flatten(i) for i in raw], fields=LIST_FIELDS,
                 order_by="created")


@command("migration-show", "Shows a schema migration: status, progress, lag, cut-over.",
         arg("instance", help="ID or name of the instance."),
         arg("migration", help="ID of the migration."),
         arg("--wait", action="store_true", default=False,
             help="Show progress until it is final; exit 1 unless it completed."),
         aliases=("schema-migration-show",))
def do_migration_show(cs: Client, args: argparse.Namespace) -> Record:
    instance = find_instance(cs, args.instance)
    if args.wait:  # exits 1 with the reason unless it completes
        return _done(cs, instance, wait(cs, instance, args.migration))
    _, body = _client(cs).get(_path(instance, args.migration))
    return _record(body["schema_migration"])


def _action(cs: Client, args: argparse.Namespace, name: str, values: dict | None = None,
            expected: str = "COMPLETED") -> Record:
    instance = find_instance(cs, args.instance)
    _, body = _client(cs).post(_path(instance, args.migration, "/action"),
                               body={name: values or {}})
    info = body["schema_migration"]
    if getattr(args, "wait", False):
        return _done(cs, instance, wait(cs, instance, args.migration), expected)
    return _record(info)


MIGRATION_ARGS = (arg("instance", help="ID or name of the instance."),
                  arg("migration", help="ID of the migration."))
WAIT_ARG = arg("--wait", action="store_true", default=False,
               help="Show progress until it is final.")


@command("migration-cut-over", "Lets a postponed cut-over happen.", *MIGRATION_ARGS,
         WAIT_ARG, aliases=("schema-migration-cutover",))
def do_migration_cut_over(cs: Client, args: argparse.Namespace) -> Record:
    return _action(cs, args, "cut_over")


@command("migration-abort", "Stops a migration; its ghost and changelog tables are dropped "
                            "and the table is left as it was.", *MIGRATION_ARGS, WAIT_ARG,
         aliases=("schema-migration-cancel",))
def do_migration_abort(cs: Client, args: argparse.Namespace) -> Record:
    return _action(cs, args, "abort", expected="ABORTED")


@command("migration-throttle", "Pauses a migration's row copy.", *MIGRATION_ARGS)
def do_migration_throttle(cs: Client, args: argparse.Namespace) -> Record:
    return _action(cs, args, "throttle")


@command("migration-unthrottle", "Ends a throttle set by migration-throttle.",
         *MIGRATION_ARGS)
def do_migration_unthrottle(cs: Client, args: argparse.Namespace) -> Record:
    return _action(cs, args, "unthrottle")


@command("migration-set", "Changes a running migration's settings.", *MIGRATION_ARGS,
         arg("--chunk-size", "--chunk_size", type=int, default=None),
         arg("--max-lag-millis", "--max_lag_millis", type=int, default=None),
         arg("--max-load", "--max_load", default=None),
         arg("--critical-load", "--critical_load", default=None),
         arg("--nice-ratio", "--nice_ratio", type=float, default=None),
         arg("--dml-batch-size", "--dml_batch_size", type=int, default=None))
def do_migration_set(cs: Client, args: argparse.Namespace) -> Record:
    values = {k: getattr(args, k) for k in ("chunk_size", "max_lag_millis", "max_load",
                                            "critical_load", "nice_ratio", "dml_batch_size")
              if getattr(args, k) is not None}
    return _action(cs, args, "set", values)
