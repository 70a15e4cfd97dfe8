
from __future__ import annotations
from collections.abc import Sequence
from typing import Any
"""Pure SQL builders for the migration engine; no connection, no I/O.

Every identifier goes through ``quote``. Values are never inlined: builders
return ``(sql, args)`` for pymysql's ``%s`` placeholders. Keys are tuples of
column names; key values are tuples in the same order.
"""

CHANGELOG_STATE_ID = 2
CHANGELOG_HEARTBEAT_ID = 1


def quote(name: object) -> str:
    """Quote one identifier with backticks (a backtick inside is doubled)."""
    return "`%s`" % str(name).replace("`", "``")


def qualified(db: str, table: object) -> str:
    return "%s.%s" % (quote(db), quote(table))


def columns_list(cols: Sequence[str]) -> str:
    return ", ".join(quote(c) for c in cols)


def ghost_name(table: str) -> str:
    return "_%s_gho" % table


def changelog_name(table: str) -> str:
    return "_%s_ghc" % table


def old_name(table: str, timestamp: str | None = None) -> str:
    return "_%s_%s_del" % (table, timestamp) if timestamp else "_%s_del" % table


def checkpoint_name(table: str) -> str:
    return "_%s_ghk" % table


# -- DDL ---------------------------------------------------------------------

def create_ghost(db: str, table: str, ghost: str) -> str:
    return "create /* gh-ost */ table %s like %s" % (qualified(db, ghost), qualified(db, table))


def alter_table(db: str, table: str, alter: str) -> str:
    return "alter /* gh-ost */ table %s %s" % (qualified(db, table), alter)


def drop_table(db: str, table: str) -> str:
    return "drop /* gh-ost */ table if exists %s" % qualified(db, table)


def create_changelog(db: str, ghc: str) -> str:
    return ("create /* gh-ost */ table %s (\n"
            " id bigint unsigned auto_increment,\n"
            " last_update timestamp not null"
            " DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,\n"
            " hint varchar(64) charset ascii not null,\n"
            " value varchar(4096) charset ascii not null,\n"
            " primary key(id),\n"
            " unique key hint_uidx(hint)\n"
            ") auto_increment=256 comment='gh-ost changelog'" % qualified(db, ghc))


def create_sentry(db: str, old: str) -> str:
    """The cut-over's sentry. Its engine does not matter to the protocol (only its
    name does), and it is dropped while the original table is locked: a MEMORY
    table drops without the file and redo work of an InnoDB one."""
    return ("create /* gh-ost */ table %s (id int auto_increment primary key) "
            "engine=MEMORY comment='ghost-cut-over-sentry'" % qualified(db, old))


def lock_tables_write(db: str, *tables: str) -> str:
    return "lock /* gh-ost */ tables %s" % ", ".join(
        "%s write" % qualified(db, t) for t in tables)


def rename_atomic(db: str, table: str, old: str, ghost: str) -> str:
    return "rename /* gh-ost */ table %s to %s, %s to %s" % (
        qualified(db, table), qualified(db, old), qualified(db, ghost), qualified(db, table))


def rename_one(db: str, src: str, dst: str) -> str:
    return "rename /* gh-ost */ table %s to %s" % (qualified(db, src), qualified(db, dst))


def create_checkpoint_table(db: str, ghk: str) -> str:
    return ("create /* gh-ost */ table %s (\n"
            " gh_ost_chk_id bigint auto_increment primary key,\n"
            " gh_ost_chk_timestamp bigint,\n"
            " gh_ost_chk_coords varchar(4096),\n"
            " gh_ost_chk_iteration bigint,\n"
            " gh_ost_rows_copied bigint,\n"
            " gh_ost_dml_applied bigint,\n"
            " gh_ost_chunk_end json,\n"
            " gh_ost_range_max json\n"
            ") comment='gh-ost checkpoint'" % qualified(db, ghk))


def insert_checkpoint(db: str, ghk: str) -> str:
    return ("insert /* gh-ost */ into %s (gh_ost_chk_timestamp, gh_ost_chk_coords, "
            "gh_ost_chk_iteration, gh_ost_rows_copied, gh_ost_dml_applied, gh_ost_chunk_end, "
            "gh_ost_range_max) values (%%s, %%s, %%s, %%s, %%s, %%s, %%s)" % qualified(db, ghk))


def latest_checkpoint(db: str, ghk: str) -> str:
    return ("select gh_ost_chk_coords, gh_ost_chk_iteration, gh_ost_rows_copied, "
            "gh_ost_dml_applied, gh_ost_chunk_end, gh_ost_range_max from %s "
            "order by gh_ost_chk_id desc limit 1" % qualified(db, ghk))


def create_trigger(db: str, name: str, timing: str, event: str, table: str, body: str) -> str:
    return "create /* gh-ost */ trigger %s %s %s on %s for each row %s" % (
        qualified(db, name), timing, event, qualified(db, table), body)


# -- changelog ---------------------------------------------------------------

def changelog_write(db: str, ghc: str) -> str:
    """Upsert one hint row; args: (id or 0 for a fresh id, hint, value)."""
    return ("insert /* gh-ost */ into %s (id, hint, value) values (NULLIF(%%s, 0), %%s, %%s) "
            "on duplicate key update last_update=NOW(), value=VALUES(value)" % qualified(db, ghc))


# -- key ranges --------------------------------------------------------------

def _cmp(key: Sequence[str], values: Sequence[Any], op: str) -> tuple[str, list[Any]]:
    """Lexicographic comparison of a (multi-column) key against values.

    ``(a, b) > (x, y)`` becomes ``(a > x) or (a = x and b > y)``; written out
    because MariaDB does not use an index for row-constructor comparisons.
    Returns (sql, args). ``op`` is one of '>', '>=', '<', '<='.
    """
    strict = op[0]
    parts, args = [], []
    for i in range(len(key)):
        eqs = ["%s = %%s" % quote(c) for c in key[:i]]
        last_op = op if i == len(key) - 1 else strict
        cond = eqs + ["%s %s %%s" % (quote(key[i]), last_op)]
        parts.append("(" + " and ".join(cond) + ")")
        args.extend(list(values[:i]) + [values[i]])
    return "(" + " or ".join(parts) + ")", args


def key_equals(key: Sequence[str], values: Sequence[Any],
               placeholders: Sequence[str] | None = None) -> tuple[str, list[Any]]:
    placeholders = placeholders or ["%s"] * len(key)
    return " and ".join("%s <=> %s" % (quote(c), p) for c, p in zip(key, placeholders)), \
        list(values)


def key_values_list(key: Sequence[str], numeric: Sequence[str] = ()) -> str:
    """The select list of a key's values. ENUM and SET columns (``numeric``) are read
    as the numbers they are stored and ordered by (``e + 0``): bound back as numbers,
    they compare in index order, where their text would compare alphabetically."""
    return ", ".join("%s + 0" % quote(c) if c in numeric else quote(c) for c in key)


def select_key_bound(db: str, table: str, key_name: str, key: Sequence[str], descending: bool,
                     numeric: Sequence[str] = ()) -> str:
    order = " desc" if descending else ""
    return "select /* gh-ost */ %s from %s force index (%s) order by %s limit 1" % (
        key_values_list(key, numeric), qualified(db, table), quote(key_name),
        ", ".join(quote(c) + order for c in key))


def chunk_end(db: str, table: str, key_name: str, key: Sequence[str], start: Sequence[Any],
              range_max: Sequence[Any], chunk_size: int, inclusive_start: bool,
              numeric: Sequence[str] = ()) -> tuple[str, list[Any]]:
    """The key of the last row of the next chunk, or nothing when fewer rows remain."""
    lo, lo_args = _cmp(key, start, ">=" if inclusive_start else ">")
    hi, hi_args = _cmp(key, range_max, "<=")
    sql = ("select /* gh-ost */ %s from %s force index (%s) where %s and %s order by %s "
           "limit 1 offset %d" % (key_values_list(key, numeric), qualified(db, table),
                                  quote(key_name), lo, hi,
                                  ", ".join(quote(c) for c in key), chunk_size - 1))
    return sql, lo_args + hi_args


def copy_chunk(db: str, table: str, ghost: str, key_name: str, key: Sequence[str],
               src_cols: Sequence[str], dst_cols: Sequence[str], start: Sequence[Any],
               end: Sequence[Any], inclusive_start: bool) -> tuple[str, list[Any]]:
    lo, lo_args = _cmp(key, start, ">=" if inclusive_start else ">")
    hi, hi_args = _cmp(key, end, "<=")
    sql = ("insert /* gh-ost */ ignore into %s (%s) (select %s from %s force index (%s) "
           "where %s and %s lock in share mode)" % (
               qualified(db, ghost), columns_list(dst_cols), columns_list(src_cols),
               qualified(db, table), quote(key_name), lo, hi))
    return sql, lo_args + hi_args


# -- DML from binlog rows -----------------------------------------------------

def delete_row(db: str, ghost: str, key: Sequence[str], key_values: Sequence[Any],
               placeholders: Sequence[str] | None = None) -> tuple[str, list[Any]]:
    cond, args = key_equals(key, key_values, placeholders)
    return "delete /* gh-ost */ from %s where %s" % (qualified(db, ghost), cond), args


def delete_rows(db: str, ghost: str, key: Sequence[str],
                keys: Sequence[Sequence[Any]]) -> tuple[str, list[Any]]:
    """One DELETE for many keys (integer keys: plain equality is the server's)."""
    if len(key) == 1:
        cond = "%s in (%s)" % (quote(key[0]), ", ".join(["%s"] * len(keys)))
    else:
        one = "(" + " and ".join("%s = %%s" % quote(c) for c in key) + ")"
        cond = " or ".join([one] * len(keys))
    return ("delete /* gh-ost */ from %s where %s" % (qualified(db, ghost), cond),
            [v for k in keys for v in k])


def replace_rows(db: str, ghost: str, dst_cols: Sequence[str], rows: Sequence[Sequence[Any]],
                 placeholders: Sequence[str] | None = None) -> tuple[str, list[Any]]:
    """Upsert full row images: the binlog's values win over whatever the ghost holds.

    REPLACE also evicts a ghost row that collides on another unique key; such a
    row is stale (the original cannot hold both), and its own later event
    re-creates it, which INSERT IGNORE would not do for the incoming row.
    ``placeholders`` (default ``%s`` each) may wrap a value, e.g. in convert_tz().
    """
    one = "(" + ", ".join(placeholders or ["%s"] * len(dst_cols)) + ")"
    sql = "replace /* gh-ost */ into %s (%s) values %s" % (
        qualified(db, ghost), columns_list(dst_cols), ", ".join([one] * len(rows)))
    return sql, [v for row in rows for v in row]


def insert_ignore_rows(db: str, ghost: str, dst_cols: Sequence[str], rows: Sequence[Sequence[Any]],
                       placeholders: Sequence[str] | None = None) -> tuple[str, list[Any]]:
    one = "(" + ", ".join(placeholders or ["%s"] * len(dst_cols)) + ")"
    sql = "insert /* gh-ost */ ignore into %s (%s) values %s" % (
        qualified(db, ghost), columns_list(dst_cols), ", ".join([one] * len(rows)))
    return sql, [v for row in rows for v in row]


def time_zone_placeholder(src_type: str, dst_type: str, tz_var: str = "@trove_osc_tz") -> str:
    """Placeholder for a binlog value applied with time_zone '+00:00'.

    The binlog carries TIMESTAMP as UTC and DATETIME as wall-clock; when the
    ALTER changes one into the other, convert the way the ALTER (and the row
    copy, in the server's time zone held in ``tz_var``) converts.
    """
    if src_type == "timestamp" and dst_type == "datetime":
        return "convert_tz(%%s, '+00:00', %s)" % tz_var
    if src_type == "datetime" and dst_type == "timestamp":
        return "convert_tz(%%s, %s, '+00:00')" % tz_var
    return "%s"


# -- checks ------------------------------------------------------------------

def table_checksum(db: str, table: str, cols: Sequence[str], key: Sequence[str]) -> str:
    """Order-independent content checksum: count plus bit_xor of per-row crc32."""
    concat = "concat_ws('#', %s)" % ", ".join(
        "ifnull(hex(%s), 'NULL')" % quote(c) for c in cols)
    return "select count(*), coalesce(bit_xor(crc32(%s)), 0) from %s" % (
        concat, qualified(db, table))
