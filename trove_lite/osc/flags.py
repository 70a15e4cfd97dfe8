"""gh-ost's command line, parsed the way Go's ``flag`` package does it.

Syntax: ``-x``/``--x``, ``--x=v`` or ``--x v`` for non-booleans, bare booleans
or ``--x=true|false``; a repeated flag's last value wins; no abbreviations;
parsing stops at ``--`` or the first non-flag argument. An unknown flag or a
bad value raises FlagError with Go's wording (``flag provided but not defined:
-x``); the CLI prints it with the usage and exits 2, as gh-ost does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from trove_lite.exceptions import TroveLiteError

STR, INT, INT64, FLOAT, BOOL = "string", "int", "int64", "float", "bool"


@dataclasses.dataclass(frozen=True)
class Flag:
    name: str
    kind: str
    default: object
    usage: str


def _f(name: str, kind: str, default: object, usage: str = "") -> Flag:
    return Flag(name, kind, default, usage)


FLAGS = {f.name: f for f in [
    # connection
    _f("host", STR, "127.0.0.1", "MySQL hostname (preferably a replica, not the master)"),
    _f("port", INT, 3306, "MySQL port (preferably a replica, not the master)"),
    _f("user", STR, "", "MySQL user"),
    _f("password", STR, "", "MySQL password"),
    _f("master-user", STR, "", "MySQL user on master, if different from that on replica"),
    _f("master-password", STR, "", "MySQL password on master"),
    _f("assume-master-host", STR, "", "(optional) explicitly tell gh-ost the identity of the master: host:port"),
    _f("conf", STR, "", "Config file"),
    _f("mysql-timeout", FLOAT, 0.0, "Connect, read and write timeout for MySQL"),
    _f("mysql-wait-timeout", INT64, 0, "wait_timeout for the gh-ost sessions"),
    _f("ssl", BOOL, False, "Enable SSL encrypted connections to MySQL hosts"),
    _f("ssl-ca", STR, ""), _f("ssl-cert", STR, ""), _f("ssl-key", STR, ""),
    _f("ssl-allow-insecure", BOOL, False), _f("skip-port-validation", BOOL, False),
    _f("aliyun-rds", BOOL, False), _f("gcp", BOOL, False), _f("azure", BOOL, False),
    _f("tungsten", BOOL, False), _f("replica-server-id", INT64, 99999,
                                     "server id used by gh-ost process"),
    # what to migrate
    _f("database", STR, "", "database name (mandatory)"),
    _f("table", STR, "", "table name (mandatory)"),
    _f("alter", STR, "", "alter statement (mandatory)"),
    _f("attempt-instant-ddl", BOOL, False, "Attempt to use instant DDL for this migration first"),
    _f("storage-engine", STR, "innodb", "Specify table storage engine (default: 'innodb')"),
    _f("charset", STR, "utf8mb4,utf8,latin1", "The default charset for the database connection"),
    _f("exact-rowcount", BOOL, False, "actually count table rows as opposed to estimate them"),
    _f("concurrent-rowcount", BOOL, True, "count rows concurrently with row copy"),
    _f("allow-on-master", BOOL, False, "allow this migration to run directly on master"),
    _f("allow-master-master", BOOL, False, "explicitly allow running in a master-master setup"),
    _f("allow-nullable-unique-key", BOOL, False, "allow gh-ost to migrate based on a unique key with nullable columns"),
    _f("approve-renamed-columns", BOOL, False, "approve the column renames gh-ost detected"),
    _f("skip-renamed-columns", BOOL, False, "skip data of renamed columns"),
    _f("discard-foreign-keys", BOOL, False, "DANGER! discard any foreign keys on the migrated table"),
    _f("skip-foreign-key-checks", BOOL, False, "assume there are no foreign keys on the migrated table"),
    _f("skip-strict-mode", BOOL, False, "do not enforce STRICT_ALL_TABLES on the applier"),
    _f("allow-zero-in-date", BOOL, False, "allow zero in dates (remove NO_ZERO_DATE, NO_ZERO_IN_DATE)"),
    _f("skip-metadata-lock-check", BOOL, False, "skip the metadata lock check at cut-over"),
    _f("test-on-replica", BOOL, False, "test the migration on a replica; swaps tables and back, replication left stopped"),
    _f("test-on-replica-skip-replica-stop", BOOL, False, "do not stop replication with --test-on-replica"),
    _f("migrate-on-replica", BOOL, False, "run the migration on a replica"),
    _f("switch-to-rbr", BOOL, False, "let this tool switch the replica to row based replication"),
    _f("assume-rbr", BOOL, False, "assume binlog_format=ROW on the replica; skip the check"),
    _f("cut-over", STR, "atomic", "choose cut-over type (default|atomic, two-step)"),
    _f("cut-over-lock-timeout-seconds", INT64, 3, "max seconds to hold locks on tables while attempting cut-over (1-10)"),
    _f("cut-over-exponential-backoff", BOOL, False, "wait exponentially longer intervals between failed cut-over attempts"),
    _f("exponential-backoff-max-interval", INT64, 64, "maximum seconds between attempts with exponential backoff"),
    _f("force-named-cut-over", BOOL, False, "the unpostpone command must name the table"),
    _f("force-named-panic", BOOL, False, "the panic command must name the table"),
    _f("force-table-names", STR, "", "table name prefix used on the _gho and _del tables"),
    _f("timestamp-old-table", BOOL, False, "use a timestamp in the old table name"),
    _f("ok-to-drop-table", BOOL, False, "drop the old table at end of a successful migration"),
    _f("initially-drop-old-table", BOOL, False, "drop a possibly existing OLD table on startup"),
    _f("initially-drop-ghost-table", BOOL, False, "drop a possibly existing Ghost table on startup"),
    _f("initially-drop-socket-file", BOOL, False, "remove a stale socket file on startup"),
    _f("include-triggers", BOOL, False, "migrate the table's triggers with it"),
    _f("trigger-suffix", STR, "", "suffix added to the names of migrated triggers"),
    _f("remove-trigger-suffix-if-exists", BOOL, False, "remove the suffix from trigger names that already end with it"),
    _f("panic-on-warnings", BOOL, False, "fail the migration when a copy or apply statement raises warnings"),
    _f("analyze-ghost-table-before-cutover", BOOL, False, "ANALYZE the ghost table before cut-over"),
    _f("checkpoint", BOOL, False, "write progress to the _ghk checkpoint table"),
    _f("checkpoint-seconds", INT64, 300, "seconds between checkpoints"),
    _f("resume", BOOL, False, "resume a migration from its last checkpoint"),
    _f("gtid", BOOL, False, "stream the binlog by GTID"),
    _f("execute", BOOL, False, "actually execute the alter & migrate the table (default: noop)"),
    # tunables
    _f("chunk-size", INT64, 1000, "rows per row-copy chunk (10-100000)"),
    _f("dml-batch-size", INT64, 10, "binlog events applied per transaction (1-100; a backlog: up to 1000)"),
    _f("default-retries", INT64, 60, "retries for various operations"),
    _f("nice-ratio", FLOAT, 0.0, "sleep this ratio of each chunk's copy time after it"),
    _f("max-lag-millis", INT64, 1500, "replication lag at which to throttle"),
    _f("replication-lag-query", STR, "", "deprecated"),
    _f("heartbeat-interval-millis", INT64, 100, "how frequently to write the heartbeat"),
    _f("throttle-control-replicas", STR, "", "replicas to check for lag"),
    _f("throttle-query", STR, "", "throttle while this query returns > 0"),
    _f("throttle-http", STR, ""), _f("throttle-http-interval-millis", INT64, 100),
    _f("throttle-http-timeout-millis", INT64, 1000), _f("ignore-http-errors", BOOL, False),
    _f("throttle-flag-file", STR, "", "throttle while this file exists"),
    _f("throttle-additional-flag-file", STR, "/tmp/gh-ost.throttle", "throttle while this file exists"),
    _f("postpone-cut-over-flag-file", STR, "", "postpone the cut-over while this file exists"),
    _f("panic-flag-file", STR, "", "panic when this file is created"),
    _f("max-load", STR, "", "comma delimited status=threshold list that throttles"),
    _f("critical-load", STR, "", "comma delimited status=threshold list that aborts"),
    _f("critical-load-interval-millis", INT64, 0, "recheck critical-load after this interval"),
    _f("critical-load-hibernate-seconds", INT64, 0, "hibernate instead of panicking on critical-load"),
    # operations
    _f("serve-socket-file", STR, "", "Unix socket file to serve on"),
    _f("serve-tcp-port", INT64, 0, "TCP port to serve on"),
    _f("hooks-path", STR, "", "directory of hook executables"),
    _f("hooks-hint", STR, ""), _f("hooks-hint-owner", STR, ""), _f("hooks-hint-token", STR, ""),
    _f("hooks-status-interval", INT64, 60, "seconds between gh-ost-on-status hooks"),
    _f("binlogsyncer-max-reconnect-attempts", INT, 0),
    _f("quiet", BOOL, False), _f("verbose", BOOL, False), _f("debug", BOOL, False),
    _f("stack", BOOL, False), _f("help", BOOL, False), _f("version", BOOL, False),
    _f("check-flag", BOOL, False),
]}


class FlagError(TroveLiteError, ValueError):
    """A command line gh-ost would reject; ``str()`` is Go's message."""

    code = "osc_bad_flag"


def _convert(flag: Flag, raw: str) -> object:
    try:
        if flag.kind == BOOL:
            low = raw.lower()
            if low in ("1", "t", "true"):
                return True
            if low in ("0", "f", "false"):
                return False
            raise ValueError(raw)
        if flag.kind in (INT, INT64):
            return int(raw, 0)
        if flag.kind == FLOAT:
            return float(raw)
        return raw
    except ValueError:
        raise FlagError('invalid value "%s" for flag -%s: parse error' % (raw, flag.name))


def parse(argv: Sequence[str]) -> tuple[dict[str, Any], set[str], Sequence[str]]:
    """Parse argv (without the program name) into (values dict, set of names given, rest)."""
    values: dict[str, Any] = {name: f.default for name, f in FLAGS.items()}
    given: set[str] = set()
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            i += 1
            break
        if len(arg) < 2 or arg[0] != "-":
            break
        name = arg[2:] if arg.startswith("--") else arg[1:]
        if not name or name[0] in "-=":
            raise FlagError("bad flag syntax: %s" % arg)
        raw = None
        if "=" in name:
            name, raw = name.split("=", 1)
        flag = FLAGS.get(name)
        if flag is None:
            raise FlagError("flag provided but not defined: -%s" % name)
        if flag.kind == BOOL:
            values[name] = True if raw is None else _convert(flag, raw)
        else:
            if raw is None:
                if i + 1 >= len(argv):
                    raise FlagError("flag needs an argument: -%s" % name)
                i += 1
                raw = argv[i]
            values[name] = _convert(flag, raw)
        given.add(name)
        i += 1
    return values, given, argv[i:]


def usage() -> str:
    lines = ["Usage of gh-ost:"]
    for name in sorted(FLAGS):
        f = FLAGS[name]
        kind = "" if f.kind == BOOL else " " + f.kind
        lines.append("  -%s%s\n    \t%s" % (name, kind, f.usage or name))
    return "\n".join(lines)
