"""``trove-lite log-*``: datastore logs (trove's commands).

``log-list``, ``log-show``, ``log-enable``, ``log-disable``, ``log-publish`` and
``log-discard`` are troveclient's ``log_list``/``log_show``/``log_action``.
``log-tail`` and ``log-save`` publish first, then read the published objects back
through the API (``GET .../log/NAME/objects``), which decrypts them (or reads
them from the tenant's Swift): like troveclient's ``log_generator``, without
needing Swift credentials or Keystone.
"""

from __future__ import annotations

import argparse
import base64
import sys
import time
from typing import TYPE_CHECKING, Any

from trove_lite.cli.main import Arg, Record, Table, arg, command, find_instance

if TYPE_CHECKING:
    from troveclient.v1.client import Client

LIST_FIELDS = ["name", "type", "status", "published", "pending", "container", "prefix"]


def _log_record(log: Any) -> Record:
    return Record(raw=log._info, flat=dict(log._info))


def _get(cs: Client, path: str) -> dict:
    _, body = cs.instances.api.client.get(path)
    return body


def published_objects(cs: Client, instance: Any, name: str) -> list[dict]:
    """[{number, size, lines}] of the published objects of a log, oldest first."""
    return _get(cs, "/instances/%s/log/%s/objects" % (instance.id, name))["objects"]


def object_bytes(cs: Client, instance: Any, name: str, number: int) -> bytes:
    body = _get(cs, "/instances/%s/log/%s/objects/%d" % (instance.id, name, number))
    return base64.b64decode(body["object"]["data"])


def last_lines(cs: Client, instance: Any, name: str, lines: int,
               objects: list[dict]) -> list[str]:
    """The last ``lines`` lines of the published objects (newest read first, only as
    many as needed)."""
    chunks: list[bytes] = []
    counted = 0
    for obj in reversed(objects):
        chunks.insert(0, object_bytes(cs, instance, name, obj["number"]))
        counted += obj["lines"]
        if counted > lines:
            break
    text = b"".join(chunks).decode("utf-8", "replace").splitlines()
    return text[-lines:] if lines else text


def _action(cs: Client, args: argparse.Namespace, **flags: bool) -> Record:
    instance = find_instance(cs, args.instance)
    return _log_record(cs.instances.log_action(instance, args.log_name, **flags))


def _log_args(*extra: Arg) -> tuple[Arg, ...]:
    return (arg("instance", help="ID or name of the instance."),
            arg("log_name", metavar="<log_name>", help="Name of the log.")) + extra


@command("log-list", "Lists the logs of an instance.",
         arg("instance", help="ID or name of the instance."))
def do_log_list(cs: Client, args: argparse.Namespace) -> Table:
    logs = cs.instances.log_list(find_instance(cs, args.instance))
    raw = [log._info for log in logs]
    return Table(raw=raw, rows=raw, fields=LIST_FIELDS)


@command("log-show", "Shows a log of an instance.", *_log_args())
def do_log_show(cs: Client, args: argparse.Namespace) -> Record:
    return _log_record(cs.instances.log_show(find_instance(cs, args.instance),
                                             args.log_name))


@command("log-enable", "Enables a user log (general, slow_query).", *_log_args())
def do_log_enable(cs: Client, args: argparse.Namespace) -> Record:
    return _action(cs, args, enable=True)


@command("log-disable", "Disables a user log (general, slow_query).", *_log_args(
    arg("--discard", action="store_true", default=False,
        help="Also discard what was published.")))
def do_log_disable(cs: Client, args: argparse.Namespace) -> Record:
    return _action(cs, args, disable=True, discard=args.discard)


@command("log-publish", "Publishes what is new in a log to the log container.",
         *_log_args(arg("--disable", action="store_true", default=False,
                        help="Disable the log after publishing it."),
                    arg("--discard", action="store_true", default=False,
                        help="Discard what was published before publishing.")))
def do_log_publish(cs: Client, args: argparse.Namespace) -> Record:
    record = _action(cs, args, publish=True, discard=args.discard)
    if args.disable:
        record = _action(cs, args, disable=True)
    return record


@command("log-discard", "Deletes the published objects of a log.", *_log_args())
def do_log_discard(cs: Client, args: argparse.Namespace) -> Record:
    return _action(cs, args, discard=True)


@command("log-tail", "Publishes a log, then shows its last lines.", *_log_args(
    arg("--lines", type=int, default=20, help="Lines to show (default 20)."),
    arg("--follow", action="store_true", default=False,
        help="Keep publishing every --interval seconds and print new lines."),
    arg("--interval", type=float, default=2.0, help="Seconds between publishes with --follow.")))
def do_log_tail(cs: Client, args: argparse.Namespace) -> None:
    instance = find_instance(cs, args.instance)
    cs.instances.log_action(instance, args.log_name, publish=True)
    objects = published_objects(cs, instance, args.log_name)
    for line in last_lines(cs, instance, args.log_name, max(args.lines, 0), objects):
        print(line)
    seen = objects[-1]["number"] if objects else 0
    while args.follow:
        sys.stdout.flush()
        time.sleep(args.interval)
        cs.instances.log_action(instance, args.log_name, publish=True)
        for obj in published_objects(cs, instance, args.log_name):
            if obj["number"] > seen:
                sys.stdout.write(object_bytes(cs, instance, args.log_name, obj["number"])
                                 .decode("utf-8", "replace"))
                seen = obj["number"]
    return None


@command("log-save", "Publishes a log, then saves all of it that was published to a "
                     "file.", *_log_args(
    arg("--file", default=None, help="Where to save it (default trove-ID-NAME.log).")))
def do_log_save(cs: Client, args: argparse.Namespace) -> Record:
    instance = find_instance(cs, args.instance)
    cs.instances.log_action(instance, args.log_name, publish=True)
    path = args.file or "trove-%s-%s.log" % (instance.id, args.log_name)
    size = 0
    with open(path, "wb") as f:
        for obj in published_objects(cs, instance, args.log_name):
            data = object_bytes(cs, instance, args.log_name, obj["number"])
            f.write(data)
            size += len(data)
    return Record(raw={"file": path, "bytes": size}, flat={"file": path, "bytes": size})
