"""``trove-lite`` replication commands (trove's names): promote, eject, detach, and
``set-durability`` (a set's semisync or async; see instance/ha.py).

Creating a replica is ``trove-lite create NAME FLAVOR --size N --replica_of SRC
[--replica_count N]``; ``show`` adds the replication columns (role, source,
lag, threads, last error) from the instance's ``replication`` block.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
import argparse

from trove_lite.cli.main import arg, command, find_instance

if TYPE_CHECKING:
    from troveclient.v1.client import Client

# what ``show`` flattens out of the replication block, in this order
SHOW_FIELDS = (("role", "replication_role"), ("strategy", "replication_strategy"),
               ("lag_seconds", "replication_lag_seconds"),
               ("io_thread", "replication_io_thread"),
               ("sql_thread", "replication_sql_thread"),
               ("gtid_binlog_pos", "replication_gtid"),
               ("last_error", "replication_last_error"),
               ("durability", "replication_durability"), ("term", "replication_term"))


def flatten(info: dict, flat: dict) -> dict:
    """Replace the nested replication keys of ``flat`` by one column each."""
    if "replica_of" in info:
        flat["replica_of"] = info["replica_of"]["id"]
    if "replicas" in info:
        flat["replicas"] = ", ".join(r["id"] for r in info["replicas"])
    block = flat.pop("replication", None)
    if block:
        for key, column in SHOW_FIELDS:
            if block.get(key) is not None:
                flat[column] = block[key]
        if block.get("rejoin"):
            flat["replication_rejoin"] = "%s%s" % (block["rejoin"]["state"], (
                ": " + block["rejoin"]["reason"]) if block["rejoin"].get("reason") else "")
        if block.get("binlog_file"):
            flat["replication_binlog"] = "%s:%s" % (block["binlog_file"],
                                                    block.get("binlog_position"))
    return flat


@command("promote-to-replica-source", "Promotes a replica to be the new replica source "
                                      "of its set.",
         arg("instance", help="ID or name of the replica."))
def do_promote(cs: Client, args: argparse.Namespace) -> None:
    cs.instances.promote_to_replica_source(find_instance(cs, args.instance))


@command("eject-replica-source", "Ejects the dead replica source of a set and elects a "
                                 "new one.",
         arg("instance", help="ID or name of a replica of the set."))
def do_eject(cs: Client, args: argparse.Namespace) -> None:
    cs.instances.eject_replica_source(find_instance(cs, args.instance))


@command("detach-replica", "Detaches a replica from its replication source.",
         arg("instance", help="ID or name of the replica."))
def do_detach(cs: Client, args: argparse.Namespace) -> None:
    cs.instances.update(find_instance(cs, args.instance), detach_replica_source=True)


@command("set-durability", "Chooses whether the set's source waits for a replica to "
                           "acknowledge each commit (semisync) or not (async).",
         arg("instance", help="ID or name of any member of the set."),
         arg("durability", choices=["semisync", "async"], help="semisync or async."))
def do_set_durability(cs: Client, args: argparse.Namespace) -> None:
    cs.client.put("/instances/%s" % find_instance(cs, args.instance).id,
                  body={"instance": {"durability": args.durability}})
