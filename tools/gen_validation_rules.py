#!/usr/bin/env python3
"""Generate templates/mariadb/validation-rules.json from a running MariaDB server.

The numbers come from the server's own ``information_schema.SYSTEM_VARIABLES``
(type, NUMERIC_MIN_VALUE / NUMERIC_MAX_VALUE, ENUM_VALUE_LIST, READ_ONLY) for the
curated list of parameters in ``PARAMETERS``; only the deliberate restrictions in
``OVERRIDES`` (each with its reason) differ from what the server accepts.

    .venv/bin/python tools/gen_validation_rules.py                # 127.0.0.1:3306, root
    .venv/bin/python tools/gen_validation_rules.py --check        # exit 1 if the file differs

Output format is Trove's (``{"configuration-parameters": [{name, type, min, max,
restart_required}]}``) with our extra keys: ``dynamic`` (SET GLOBAL works at
runtime), ``allowed_values`` (enum and set variables), ``multiple`` (a SET: a
comma-separated subset of ``allowed_values``), ``pattern`` (a regex a string must
match) and ``cnf_option`` (the my.cnf option name where it is not the variable
name).
"""

import argparse
import json
import os
import sys

import pymysql

DEFAULT_OUTPUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir,
                              "templates", "mariadb", "validation-rules.json")

# Parameters users tune on a MariaDB 10.11 instance. Left out on purpose, because
# the platform manages them or a value cannot be taken back: read_only and
# server_id, log_bin, gtid_* (replication), *_file paths (the guest's layout),
# log_output (the guest publishes logs from files), lower_case_table_names and
# innodb_page_size (fixed at datadir creation: a change makes tables unreadable),
# max_statement_time (a tiny value makes every statement of the guest agent time
# out, and "0 = off, else >= N" cannot be expressed as one min/max range),
# binlog_format and binlog_row_image (backups, replication and online schema
# changes read the binlog and need ROW with FULL images; the template sets them).
PARAMETERS = """
aria_pagecache_buffer_size auto_increment_increment auto_increment_offset autocommit
binlog_annotate_row_events binlog_cache_size binlog_checksum binlog_expire_logs_seconds
binlog_stmt_cache_size bulk_insert_buffer_size
character_set_server collation_server concurrent_insert connect_timeout
default_storage_engine div_precision_increment event_scheduler
explicit_defaults_for_timestamp ft_max_word_len ft_min_word_len general_log
group_concat_max_len histogram_size init_connect innodb_adaptive_flushing
innodb_adaptive_hash_index innodb_autoinc_lock_mode innodb_buffer_pool_dump_at_shutdown
innodb_buffer_pool_load_at_startup innodb_buffer_pool_size innodb_change_buffering
innodb_compression_algorithm innodb_deadlock_detect innodb_default_row_format
innodb_doublewrite innodb_file_per_table innodb_flush_log_at_timeout
innodb_flush_log_at_trx_commit innodb_flush_method innodb_flush_neighbors
innodb_ft_max_token_size innodb_ft_min_token_size innodb_io_capacity
innodb_io_capacity_max innodb_lock_wait_timeout innodb_log_buffer_size
innodb_log_file_size innodb_lru_scan_depth innodb_max_dirty_pages_pct
innodb_max_dirty_pages_pct_lwm innodb_max_purge_lag innodb_old_blocks_time
innodb_open_files innodb_print_all_deadlocks innodb_purge_threads
innodb_read_io_threads innodb_rollback_on_timeout innodb_sort_buffer_size
innodb_stats_on_metadata innodb_stats_persistent innodb_stats_persistent_sample_pages
innodb_strict_mode innodb_undo_log_truncate innodb_write_io_threads interactive_timeout
join_buffer_size key_buffer_size local_infile lock_wait_timeout
log_bin_trust_function_creators log_queries_not_using_indexes log_slow_admin_statements
log_slow_rate_limit log_slow_verbosity log_warnings long_query_time max_allowed_packet
max_binlog_size max_connect_errors max_connections max_error_count max_heap_table_size
max_prepared_stmt_count max_sp_recursion_depth max_user_connections
min_examined_row_limit myisam_sort_buffer_size net_buffer_length net_read_timeout
net_retry_count net_write_timeout open_files_limit optimizer_prune_level
optimizer_search_depth performance_schema query_cache_limit query_cache_size
query_cache_type read_buffer_size read_rnd_buffer_size skip_name_resolve
slave_net_timeout slave_parallel_max_queued slave_parallel_mode slave_parallel_threads
slow_launch_time slow_query_log sort_buffer_size sql_mode sync_binlog
table_definition_cache table_open_cache table_open_cache_instances thread_cache_size
thread_handling thread_pool_size time_zone tmp_disk_table_size tmp_table_size
tx_isolation wait_timeout
""".split()

# Variables whose my.cnf option has another name (checked by the functional test,
# which starts mariadbd with every rule in its my.cnf).
CNF_OPTION_NAMES = {
    "tx_isolation": "transaction-isolation",
    "time_zone": "default-time-zone",
}

# Limits are kept as the server reports them, up to 2^64-1 (some defaults are that
# value, e.g. tmp_disk_table_size = unlimited): whoever stores rules in SQL needs
# an unsigned 64-bit or decimal column, not a signed BIGINT.
# Per-connection buffers: each connection may allocate the full size, so with the
# server's own limit (up to 2^64) one large query makes mariadbd die of OOM. We
# use the limit the server itself puts on its sibling buffers read_buffer_size and
# read_rnd_buffer_size (2 GiB - 1). Global buffers (buffer pool, key buffer, query
# cache, redo log) are checked by the API against the flavor's RAM and the volume.
PER_CONNECTION_MAX = 2147483647

OVERRIDES = {
    **{name: {"max": PER_CONNECTION_MAX} for name in (
        "sort_buffer_size", "join_buffer_size", "bulk_insert_buffer_size",
        "binlog_cache_size", "binlog_stmt_cache_size", "tmp_table_size",
        "max_heap_table_size", "myisam_sort_buffer_size")},
    # -1 locks out every account without its own limit and can only be set at
    # startup; 0 means "no limit". SYSTEM_VARIABLES says dynamic, but a server
    # started with 0 (the default) refuses SET GLOBAL (error 1290): restart-only.
    "max_user_connections": {"min": 0, "dynamic": False, "restart_required": True},
    # DISABLED can only be set at startup (SET GLOBAL refuses it) and makes the
    # scheduler unusable until the next restart; ORIGINAL is a SET keyword.
    "event_scheduler": {"allowed_values": ["OFF", "ON"]},
    # no-threads serves one connection at a time: the guest agent could no longer
    # connect while an application is connected.
    "thread_handling": {"allowed_values": ["one-thread-per-connection",
                                           "pool-of-threads"]},
    # Named zones need the time zone tables, which a new instance does not have:
    # mariadbd refuses to start with an unknown default-time-zone.
    "time_zone": {"pattern": r"^(SYSTEM|[+-](0?[0-9]|1[0-3]):[0-5][0-9])$"},
}

TYPE_NAMES = {
    "BOOLEAN": "boolean", "DOUBLE": "float", "ENUM": "string", "SET": "string",
    "VARCHAR": "string", "INT": "integer", "INT UNSIGNED": "integer",
    "BIGINT": "integer", "BIGINT UNSIGNED": "integer",
}

QUERY = """SELECT LOWER(VARIABLE_NAME), VARIABLE_TYPE, NUMERIC_MIN_VALUE,
    NUMERIC_MAX_VALUE, ENUM_VALUE_LIST, READ_ONLY, VARIABLE_SCOPE
    FROM information_schema.SYSTEM_VARIABLES WHERE LOWER(VARIABLE_NAME) IN (%s)"""


def _number(text, kind):
    return float(text) if kind == "float" else int(text)


def rule_from_row(row, charsets, collations, engines):
    """One rule dict from a SYSTEM_VARIABLES row (pure: no server access)."""
    name, vtype, vmin, vmax, enum_list, read_only, scope = row
    if scope == "SESSION ONLY":
        raise ValueError("%s is session-only: it cannot be configured" % name)
    kind = TYPE_NAMES[vtype]
    rule = {"name": name, "type": kind, "dynamic": read_only != "YES",
            "restart_required": read_only == "YES"}
    if kind in ("integer", "float"):
        rule["min"] = _number(vmin, kind)
        rule["max"] = _number(vmax, kind)
    if vtype in ("ENUM", "SET"):
        values = enum_list.split(",") if enum_list else None
        # character sets and collations are ENUMs without a list in this table
        values = values or {"character_set_server": charsets,
                            "collation_server": collations}.get(name)
        if values:
            rule["allowed_values"] = values
        if vtype == "SET":
            rule["multiple"] = True
    if name == "default_storage_engine":
        rule["allowed_values"] = engines
    if name in CNF_OPTION_NAMES:
        rule["cnf_option"] = CNF_OPTION_NAMES[name]
    override = OVERRIDES.get(name, {})
    for key, value in override.items():
        if key in ("min", "max") and key in rule:
            # an override only ever narrows the server's range
            value = max(value, rule[key]) if key == "min" else min(value, rule[key])
        rule[key] = value
    return rule


def read_rules(conn, names=PARAMETERS):
    with conn.cursor() as cur:
        cur.execute(QUERY % ",".join(["%s"] * len(names)), list(names))
        rows = {row[0]: row for row in cur.fetchall()}
        cur.execute("SELECT CHARACTER_SET_NAME FROM information_schema.CHARACTER_SETS "
                    "ORDER BY 1")
        charsets = [r[0] for r in cur.fetchall()]
        # full names: since 10.10 COLLATIONS also lists charset-less uca1400_*
        # names that SET collation_server refuses
        try:
            cur.execute("SELECT FULL_COLLATION_NAME FROM "
                        "information_schema.COLLATION_CHARACTER_SET_APPLICABILITY ORDER BY 1")
        except pymysql.err.OperationalError:   # before 10.10 every name has a charset
            cur.execute("SELECT COLLATION_NAME FROM information_schema.COLLATIONS ORDER BY 1")
        collations = [r[0] for r in cur.fetchall()]
        # compression algorithms other than zlib need a provider plugin (Debian:
        # mariadb-plugin-provider-*); without it SET GLOBAL refuses them
        cur.execute("SELECT SUBSTRING(PLUGIN_NAME, 10) FROM information_schema.PLUGINS "
                    "WHERE PLUGIN_NAME LIKE 'provider\\_%%' AND PLUGIN_STATUS = 'ACTIVE'")
        providers = {r[0] for r in cur.fetchall()}
        # PERFORMANCE_SCHEMA cannot hold user tables
        cur.execute("SELECT ENGINE FROM information_schema.ENGINES WHERE SUPPORT IN "
                    "('YES', 'DEFAULT') AND ENGINE <> 'PERFORMANCE_SCHEMA' ORDER BY 1")
        engines = [r[0] for r in cur.fetchall()]
        cur.execute("SELECT VERSION()")
        version = cur.fetchone()[0]
    missing = sorted(set(names) - set(rows))
    if missing:
        raise SystemExit("server %s has no variables %s" % (version, ", ".join(missing)))
    rules = [rule_from_row(rows[n], charsets, collations, engines) for n in sorted(names)]
    for rule in rules:
        if rule["name"] == "innodb_compression_algorithm":
            rule["allowed_values"] = [v for v in rule["allowed_values"]
                                      if v in ("none", "zlib") or v in providers]
    return version, rules


def render(rules):
    """One rule per line: readable, and a diff shows which parameter changed."""
    lines = ["  " + json.dumps(rule) for rule in rules]
    return '{"configuration-parameters": [\n' + ",\n".join(lines) + "\n]}\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3306)
    parser.add_argument("--socket")
    parser.add_argument("--user", default="root")
    parser.add_argument("--password", default="")
    parser.add_argument("--output", default=DEFAULT_OUTPUT)
    parser.add_argument("--check", action="store_true",
                        help="compare with --output instead of writing it")
    args = parser.parse_args(argv)
    conn = pymysql.connect(host=args.host, port=args.port, unix_socket=args.socket,
                           user=args.user, password=args.password)
    try:
        version, rules = read_rules(conn)
    finally:
        conn.close()
    text = render(rules)
    if args.check:
        with open(args.output) as f:
            same = f.read() == text
        print("%s: %s (server %s)" % (args.output, "current" if same else "DIFFERS",
                                       version))
        return 0 if same else 1
    with open(args.output, "w") as f:
        f.write(text)
    print("wrote %d rules from MariaDB %s to %s" % (len(rules), version, args.output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
