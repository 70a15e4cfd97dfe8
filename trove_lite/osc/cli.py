"""``trove-lite-osc``: gh-ost's command line over the Migration library.

Exit codes: 0 success, 1 refusal or failure (``FATAL <message>`` on stderr),
2 command-line error (Go flag wording plus usage).
"""

from __future__ import annotations

import configparser
import faulthandler
import logging
import os
import signal
import sys
from typing import Any

from trove_lite.osc import flags as flags_mod
from trove_lite.osc.context import Tunables, request_from_flags
from trove_lite.osc.migrator import Migration
from trove_lite.osc.server import ControlServer
from trove_lite.osc.errors import MigrationError

VERSION = "trove-lite-osc 0.1 (gh-ost compatible)"


def _logger(values: dict[str, Any]) -> logging.Logger:
    log = logging.getLogger("trove_lite.osc")
    log.handlers[:] = []
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s",
                                           "%Y-%m-%d %H:%M:%S"))
    log.addHandler(handler)
    log.propagate = False
    level = logging.INFO
    if values["debug"]:
        level = logging.DEBUG
    elif values["quiet"]:
        level = logging.ERROR
    log.setLevel(level)
    # the replication library warns when we close its stream on purpose
    logging.getLogger("pymysqlreplication").setLevel(logging.ERROR)
    return log


def _validate(values: dict[str, Any], given: set[str]) -> str | None:
    """Argument errors gh-ost reports before doing anything (message, or None)."""
    if not values["alter"]:
        return "--alter must be provided and statement must not be empty"
    if not values["database"]:
        return "--database must be provided and database name must not be empty"
    if values["migrate-on-replica"] and values["test-on-replica"]:
        return "--migrate-on-replica and --test-on-replica are mutually exclusive"
    if values["switch-to-rbr"] and values["assume-rbr"]:
        return "--switch-to-rbr and --assume-rbr are mutually exclusive"
    if values["cut-over"] not in ("atomic", "default", "", "two-step"):
        return "Unknown cut-over: %s" % values["cut-over"]
    if values["resume"] and not values["checkpoint"]:
        return "--resume requires --checkpoint"
    if values["include-triggers"] and not values["trigger-suffix"]:
        return "--trigger-suffix must be used with --include-triggers"
    return None


def _apply_conf(values: dict[str, Any], given: set[str]) -> None:
    """--conf: a my.cnf-style file whose [client] user/password fill unset flags."""
    parser = configparser.ConfigParser(allow_no_value=True, interpolation=None,
                                       strict=False)
    with open(values["conf"]) as f:
        parser.read_file(f)
    if parser.has_section("client"):
        for key in ("user", "password"):
            if key not in given and parser.has_option("client", key):
                values[key] = parser.get("client", key).strip().strip("'\"")


def main(argv: list[str] | None = None) -> int:
    # `kill -USR1 <pid>` dumps every thread's stack: how to see where a stuck run waits
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    argv = sys.argv[1:] if argv is None else argv
    try:
        values, given, _rest = flags_mod.parse(argv)
    except flags_mod.FlagError as exc:
        sys.stderr.write("%s\n%s\n" % (exc, flags_mod.usage()))
        return 2
    if values["help"]:
        sys.stderr.write(flags_mod.usage() + "\n")
        return 0
    if values["version"]:
        print(VERSION)
        return 0
    log = _logger(values)
    if values["conf"]:
        try:
            _apply_conf(values, given)
        except (OSError, configparser.Error) as exc:
            sys.stderr.write("FATAL cannot read --conf %s: %s\n" % (values["conf"], exc))
            return 1
    if not values["table"] and "alter table" not in values["alter"].lower():
        log.critical("--table must be provided and table name must not be empty")
        return 1
    if not values["table"]:
        from trove_lite.osc.parser import parse_alter
        plan = parse_alter(values["alter"])
        values["table"] = plan.explicit_table
        values["database"] = values["database"] or plan.explicit_schema or ""
    error: str | MigrationError | None = _validate(values, given)
    if error:
        sys.stderr.write("FATAL %s\n" % error)
        return 1
    if values["cut-over"] in ("default", ""):
        values["cut-over"] = "atomic"
    request = request_from_flags(values)
    migration = Migration(request, Tunables(values), log,
                          test_pause=os.environ.get("TROVE_LITE_OSC_TEST_PAUSE", ""))
    server = ControlServer(migration, values["serve-socket-file"], values["serve-tcp-port"],
                           values["initially-drop-socket-file"])
    try:
        server.start()
    except OSError as exc:
        sys.stderr.write("FATAL %s\n" % exc)
        return 1
    try:
        error = migration.run()
    finally:
        server.stop()
    if error is not None:
        sys.stderr.write("FATAL %s\n" % error.message)
        sys.stderr.flush()
        return 1
    log.info("Done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
