"""Read-only checks and facts about the migrated table (gh-ost's inspector).

Nothing here writes to the server. Checks raise MigrationError with gh-ost's
refusal text; the pure helpers (``choose_shared_key``, ``check_alter_plan``,
``shared_columns``) are unit-tested without a database.
"""

from __future__ import annotations

import dataclasses
import time
import logging
from collections.abc import Sequence
from typing import Any

from trove_lite.osc import conn as dbconn
from trove_lite.osc import sql
from trove_lite.osc.errors import MigrationError
from trove_lite.osc.conn import Connection
from trove_lite.osc.context import MigrationRequest
from trove_lite.osc.parser import AlterPlan

_INTEGER_TYPES = {"tinyint", "smallint", "mediumint", "int", "integer", "bigint"}
_TEXT_TYPES = {"char", "varchar", "text", "tinytext", "mediumtext", "longtext", "enum", "set"}
_REFUSED_KEY_TYPES = {"float", "double", "json"}


@dataclasses.dataclass(frozen=True)
class Column:
    name: str
    data_type: str          # lower-case DATA_TYPE, e.g. 'int', 'timestamp'
    column_type: str        # e.g. 'int(10) unsigned'
    nullable: bool
    generated: bool = False
    charset: str | None = None


@dataclasses.dataclass(frozen=True)
class UniqueKey:
    name: str
    columns: tuple
    nullable: bool = False
    refused_type: bool = False
    has_text: bool = False
    all_integer: bool = True
    enum_set: tuple = ()    # ENUM/SET columns: ranges compare their stored numbers

    @property
    def is_primary(self) -> bool:
        return self.name == "PRIMARY"

    def sort_key(self) -> tuple[bool, bool, bool, bool, int]:
        return (not self.is_primary, self.nullable, self.has_text, not self.all_integer,
                len(self.columns))


def read_columns(conn: Connection, db: str, table: str) -> list[Column]:
    rows = dbconn.query_all(conn, (
        "select column_name, lower(data_type), column_type, is_nullable, "
        "coalesce(extra, ''), character_set_name, coalesce(is_generated, 'NEVER') "
        "from information_schema.columns where table_schema=%s and table_name=%s "
        "order by ordinal_position"), (db, table))
    return [Column(r[0], r[1], r[2], r[3] == "YES",
                   "GENERATED" in r[4].upper() or "VIRTUAL" in r[4].upper()
                   or "PERSISTENT" in r[4].upper() or "STORED" in r[4].upper()
                   or r[6] == "ALWAYS", r[5]) for r in rows]


def read_unique_keys(conn: Connection, db: str, table: str,
                     columns: Sequence[Column]) -> list[UniqueKey]:
    rows = dbconn.query_all(conn, (
        "select index_name, column_name, sub_part from information_schema.statistics "
        "where table_schema=%s and table_name=%s and non_unique=0 "
        "order by index_name, seq_in_index"), (db, table))
    by_name = {c.name: c for c in columns}
    keys: dict[str, list[str]] = {}
    order: list[str] = []
    prefixed: set[str] = set()
    for name, col, sub_part in rows:
        if name not in keys:
            keys[name] = []
            order.append(name)
        keys[name].append(col)
        if sub_part is not None:
            prefixed.add(name)
    out = []
    for name in order:
        cols = [by_name[c] for c in keys[name] if c in by_name]
        if len(cols) != len(keys[name]) or name in prefixed:
            continue
        out.append(UniqueKey(
            name, tuple(c.name for c in cols),
            nullable=any(c.nullable for c in cols),
            refused_type=any(c.data_type in _REFUSED_KEY_TYPES for c in cols),
            has_text=any(c.data_type in _TEXT_TYPES for c in cols),
            all_integer=all(c.data_type in _INTEGER_TYPES for c in cols),
            enum_set=tuple(c.name for c in cols if c.data_type in ("enum", "set"))))
    return out


def shared_columns(orig_columns: Sequence[Column], ghost_columns: Sequence[Column], plan: AlterPlan,
                   skip_renamed: bool = False) -> tuple[list[str], list[str]]:
    """(source names, ghost names) of the columns the copy carries over.

    Column names are case-insensitive (``modify NAME ...`` keeps column ``name``'s
    values); a column the ALTER drops and adds again is a new column, not shared.
    """
    ghost = {c.name.lower(): c for c in ghost_columns}
    src, dst = [], []
    for c in orig_columns:
        if c.generated or plan.readds(c.name):
            continue
        target = plan.mapped_name(c.name)
        if skip_renamed and target != c.name:
            continue
        g = ghost.get(target.lower())
        if g is None or g.generated:
            continue
        src.append(c.name)
        dst.append(g.name)
    return src, dst


def _names(columns: Sequence[str], plan: AlterPlan | None = None) -> frozenset[str]:
    """A key's column set as compared before and after the ALTER: renames applied,
    case and order ignored (a key is the same key whatever its name and order)."""
    return frozenset((plan.mapped_name(c) if plan else c).lower() for c in columns)


def choose_shared_key(orig_keys: Sequence[UniqueKey], ghost_keys: Sequence[UniqueKey],
                      plan: AlterPlan,
                      allow_nullable: bool = False) -> tuple[UniqueKey, None] | tuple[None, str]:
    """The best unique key present, with the same column set, before and after the ALTER
    (under any name, in any column order: gh-ost's shared unique key).

    Returns (key, error_text). Preference: PRIMARY, non-nullable, no charset,
    integer, fewer columns. FLOAT, DOUBLE and JSON keys are never used.
    """
    usable = [k for k in orig_keys if not k.refused_type]
    if not orig_keys or not ghost_keys:
        return None, "no PRIMARY nor UNIQUE key found in table! Bailing out"
    ghost_sets = {_names(k.columns) for k in ghost_keys if not k.refused_type}
    shared = [k for k in usable
              if not any(plan.readds(c) for c in k.columns)
              and _names(k.columns, plan) in ghost_sets]
    if not shared:
        return None, "no shared unique key can be found after ALTER! Bailing out"
    shared.sort(key=UniqueKey.sort_key)
    best = shared[0]
    if best.nullable and not allow_nullable:
        return None, ("gh-ost will not migrate: unique key %s has nullable columns; "
                      "use --allow-nullable-unique-key to migrate with it" % sql.quote(best.name))
    return best, None


def check_alter_plan(plan: AlterPlan, approve_renamed: bool, skip_renamed: bool) -> str | None:
    """Refusals that need only the ALTER text."""
    if plan.renames_table:
        return ("alter statement seems to RENAME the table. This is not supported, and you "
                "should run your RENAME outside gh-ost.")
    if plan.renamed_columns and not (approve_renamed or skip_renamed):
        pairs = " ".join("%s:%s" % kv for kv in plan.renamed_columns.items())
        return ("gh-ost believes the ALTER statement renames columns, as follows: map[%s]; "
                "as precaution, you are asked to confirm gh-ost is correct, and provide with "
                "`--approve-renamed-columns`, and we're all happy. Or you can skip renamed "
                "columns via `--skip-renamed-columns`, in which case column data may be lost"
                % pairs)
    return None


def check_datetime_to_timestamp(orig_columns: Sequence[Column], ghost_columns: Sequence[Column],
                                key: UniqueKey, plan: AlterPlan) -> str | None:
    ghost = {c.name.lower(): c for c in ghost_columns}
    orig = {c.name: c for c in orig_columns}
    for name in key.columns:
        g = ghost.get(plan.mapped_name(name).lower())
        if orig[name].data_type == "datetime" and g is not None and g.data_type == "timestamp":
            return ("no support at this time for converting a column from DATETIME to TIMESTAMP "
                    "that is also part of the chosen unique key. Column: %s, key: %s"
                    % (name, key.name))
    return None


class Inspector:
    """Read-only checks on the inspected server (the replica, or the master with
    --allow-on-master). Each method raises MigrationError with gh-ost's text."""

    def __init__(self, conn: Connection, request: MigrationRequest, log: logging.Logger) -> None:
        self.conn = conn
        self.req = request
        self.log = log

    @property
    def address(self) -> str:
        """``host:port`` of the inspected server, as gh-ost's messages name it."""
        return "%s:%d" % (self.req.host, self.req.port)

    def q1(self, sql_text: str, args: Sequence[Any] | None = None) -> Any:
        return dbconn.query_one(self.conn, sql_text, args)

    def validate_grants(self) -> None:
        rows = [r[0] for r in dbconn.query_all(self.conn, "show grants for current_user()")]
        text = " ".join(rows).upper()
        if "ALL PRIVILEGES ON *.*" in text or "ALL PRIVILEGES ON `*`.*" in text:
            return
        has_repl = "REPLICATION SLAVE" in text
        has_client = any(p in text for p in ("REPLICATION CLIENT", "BINLOG MONITOR", "SUPER"))
        db_all = ("ALL PRIVILEGES ON `%s`.*" % self.req.database.upper()) in text
        if not (has_repl and has_client and db_all):
            raise MigrationError(
                "user has insufficient privileges for migration. Needed: SUPER|REPLICATION "
                "CLIENT, REPLICATION SLAVE and ALL on %s.*" % sql.quote(self.req.database))

    def validate_binlogs(self) -> None:
        log_bin, fmt, image = self.q1("select @@global.log_bin, @@global.binlog_format, "
                                      "@@global.binlog_row_image")
        where = self.address
        if not log_bin:
            raise MigrationError("%s must have binary logs enabled" % where)
        if fmt != "ROW" and not self.req.assume_rbr:
            if not self.req.switch_to_rbr:
                raise MigrationError("You must be using ROW binlog format. I can switch it for "
                                     "you, provided --switch-to-rbr and that %s doesn't have "
                                     "replicas" % where)
            if dbconn.query_all(self.conn, "show /* gh-ost */ slave hosts"):
                raise MigrationError("%s has %s binlog_format, but I'm too scared to change it "
                                     "to ROW because it has replicas. Bailing out" % (where, fmt))
            self.log.info("%s has %s binlog_format. I will change it to ROW, and will NOT "
                          "change it back, even in the event of failure.", where, fmt)
            dbconn.execute(self.conn, "set global binlog_format='ROW'")
            dbconn.execute(self.conn, "set session binlog_format='ROW'")
        if not self.req.assume_rbr:
            # the replication SQL thread keeps the format it started with
            self.restart_replication()
        if image != "FULL":
            raise MigrationError("%s has %s binlog_row_image, and only FULL is supported. "
                                 "This operation cannot proceed." % (where, image))

    def validate_table(self, db: str, table: str) -> int:
        row = self.q1("select engine, table_type, table_rows from information_schema.tables "
                      "where table_schema=%s and table_name=%s", (db, table))
        if row is None:
            raise MigrationError("Cannot find table %s!" % sql.qualified(db, table))
        engine, ttype, rows = row
        if ttype == "VIEW":
            raise MigrationError("%s is a VIEW, not a real table. Bailing out"
                                 % sql.qualified(db, table))
        if (engine or "").lower() not in ("innodb", "tokudb"):
            raise MigrationError("Table engine is %s; expecting InnoDB" % engine)
        return int(rows or 0)

    def validate_foreign_keys(self, db: str, table: str) -> None:
        if self.req.skip_foreign_key_checks:
            return
        child = self.q1("select count(*) from information_schema.referential_constraints "
                        "where constraint_schema=%s and table_name=%s", (db, table))[0]
        parent = self.q1("select count(*) from information_schema.referential_constraints "
                         "where unique_constraint_schema=%s and referenced_table_name=%s",
                         (db, table))[0]
        if parent:
            raise MigrationError("Found %d parent-side foreign keys on %s. Parent-side foreign "
                                 "keys are not supported. Bailing out"
                                 % (parent, sql.qualified(db, table)))
        if child and not self.req.discard_foreign_keys:
            raise MigrationError("Found %d child-side foreign keys on %s. Child-side foreign "
                                 "keys are not supported. Bailing out"
                                 % (child, sql.qualified(db, table)))

    def triggers(self, db: str, table: str) -> tuple[tuple[Any, ...], ...]:
        return dbconn.query_all(self.conn, (
            "select trigger_name, action_timing, event_manipulation, action_statement "
            "from information_schema.triggers where event_object_schema=%s "
            "and event_object_table=%s order by action_timing, event_manipulation, action_order"),
            (db, table))

    def validate_triggers(self, db: str, table: str) -> Sequence[tuple[Any, ...]]:
        found = self.triggers(db, table)
        if not found:
            return []
        if not self.req.include_triggers:
            raise MigrationError("Found triggers on %s. Tables with triggers are supported only "
                                 "when using \"include-triggers\" flag. Bailing out"
                                 % sql.qualified(db, table))
        if not self.req.trigger_suffix:
            raise MigrationError("When using --include-triggers, --trigger-suffix must be given")
        names = [ghost_trigger_name(t[0], self.req) for t in found]
        clash = [r[0] for r in dbconn.query_all(self.conn, (
            "select trigger_name from information_schema.triggers where trigger_schema=%s "
            "and trigger_name in (" + ", ".join(["%s"] * len(names)) + ")"), [db] + names)]
        if clash:
            raise MigrationError("found gh-ost triggers on %s: %s. Bailing out"
                                 % (sql.qualified(db, table), ", ".join(clash)))
        return found

    def estimate_rows(self, db: str, table: str, estimate: int) -> int:
        if self.req.exact_rowcount:
            return int(self.q1("select /* gh-ost */ count(*) from %s"
                               % sql.qualified(db, table))[0])
        return estimate

    def restart_replication(self, max_wait: float = 10.0) -> None:
        """Stop and start replication (if this server is a replica) so that its SQL
        thread logs with the current global binlog settings; wait until both
        threads run again."""
        if self.replica_status() is None:
            return
        self.log.info("Restarting replication on %s to make sure binlog settings apply to "
                      "replication thread", self.address)
        dbconn.execute(self.conn, "stop slave")
        dbconn.execute(self.conn, "start slave")
        deadline = time.monotonic() + max_wait
        while True:
            st = self.replica_status() or {}
            if st.get("Slave_IO_Running") == "Yes" and st.get("Slave_SQL_Running") == "Yes":
                self.log.debug("Replication restarted")
                return
            if time.monotonic() > deadline:
                raise MigrationError("Replication did not restart within the maximum wait time "
                                     "of %ds" % max_wait)
            time.sleep(0.25)

    def validate_log_slave_updates(self, purpose: str) -> None:
        """The streamer reads this replica's binlog: the master's writes must be in it.
        ``purpose`` completes gh-ost's refusal ("executing migration", "testing/...")."""
        if self.q1("select @@global.log_slave_updates")[0]:
            self.log.info("log_slave_updates validated on %s", self.address)
            return
        if self.req.tungsten:
            self.log.warning("log_slave_updates not found on %s, but --tungsten provided, so "
                             "I'm proceeding", self.address)
            return
        raise MigrationError("%s must have log_slave_updates enabled for %s"
                             % (self.address, purpose))

    def replica_status(self) -> dict[str, Any] | None:
        with self.conn.cursor() as cur:
            cur.execute("show slave status")
            row = cur.fetchone()
            if row is None:
                return None
            return dict(zip([d[0] for d in cur.description], row))


def ghost_trigger_name(name: str, req: MigrationRequest) -> str:
    suffix = req.trigger_suffix
    if req.remove_trigger_suffix_if_exists and suffix and name.endswith(suffix):
        return name[:-len(suffix)]
    return name + suffix
