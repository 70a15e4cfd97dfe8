"""Configuration-parameter rules of a MySQL server, read from the server itself.

MySQL has no ``information_schema.SYSTEM_VARIABLES``; since 8.3 its
``performance_schema.variables_metadata`` gives each variable's scope, data type
and numeric range. What that table lacks is asked of the server directly (on a
throw-away server, at image build time):

* dynamic or not: ``SET GLOBAL x = @@GLOBAL.x`` succeeds or fails with
  ER_INCORRECT_GLOBAL_LOCAL_VAR (1238, read-only);
* the values of a dynamic ENUM: ``SET GLOBAL x = <index>`` for 0, 1, ... until the
  server refuses an index (a value it refuses at run time, like
  ``event_scheduler = DISABLED``, ends the list: it could not be applied anyway);
  of a dynamic SET, each bit ``1 << i`` (a refused or placeholder bit is skipped).
  The old value is put back.

Output rules have the format of templates/mariadb/validation-rules.json; the
deliberate narrowings of tools/gen_validation_rules.py (``overrides``) apply to
the names both servers share.
"""

from typing import Any

# Parameters users tune on a MySQL instance; left out on purpose as for MariaDB
# (tools/gen_validation_rules.py): replication and GTID settings, binlog format,
# paths, lower_case_table_names, and max_execution_time (as max_statement_time).
PARAMETERS = """
auto_increment_increment auto_increment_offset autocommit binlog_cache_size
binlog_expire_logs_seconds binlog_stmt_cache_size bulk_insert_buffer_size
character_set_server collation_server connect_timeout default_storage_engine
div_precision_increment event_scheduler explicit_defaults_for_timestamp ft_max_word_len
ft_min_word_len general_log group_concat_max_len init_connect innodb_adaptive_flushing
innodb_adaptive_hash_index innodb_autoinc_lock_mode innodb_buffer_pool_size
innodb_deadlock_detect innodb_default_row_format innodb_doublewrite innodb_file_per_table
innodb_flush_log_at_timeout innodb_flush_log_at_trx_commit innodb_flush_method
innodb_flush_neighbors innodb_io_capacity innodb_io_capacity_max innodb_lock_wait_timeout
innodb_log_buffer_size innodb_lru_scan_depth innodb_max_dirty_pages_pct
innodb_max_dirty_pages_pct_lwm innodb_old_blocks_time innodb_open_files
innodb_print_all_deadlocks innodb_purge_threads innodb_read_io_threads
innodb_redo_log_capacity innodb_rollback_on_timeout innodb_sort_buffer_size
innodb_stats_on_metadata innodb_stats_persistent innodb_strict_mode
innodb_write_io_threads interactive_timeout join_buffer_size key_buffer_size local_infile
lock_wait_timeout log_bin_trust_function_creators log_queries_not_using_indexes
log_slow_admin_statements long_query_time max_allowed_packet max_binlog_size
max_connect_errors max_connections max_error_count max_heap_table_size
max_prepared_stmt_count max_sp_recursion_depth max_user_connections min_examined_row_limit
myisam_sort_buffer_size net_buffer_length net_read_timeout net_retry_count
net_write_timeout open_files_limit optimizer_prune_level optimizer_search_depth
performance_schema read_buffer_size read_rnd_buffer_size slow_launch_time slow_query_log
sort_buffer_size sql_mode sync_binlog table_definition_cache table_open_cache
table_open_cache_instances thread_cache_size time_zone tmp_table_size
transaction_isolation wait_timeout
""".split()

TYPE_NAMES = {"Integer": "integer", "Numeric": "float", "Boolean": "boolean",
              "String": "string", "Enumeration": "string", "Set": "string"}
ER_READ_ONLY = 1238
_MAX_ENUM = 64

QUERY = ("SELECT LOWER(VARIABLE_NAME), VARIABLE_SCOPE, DATA_TYPE, MIN_VALUE, MAX_VALUE "
         "FROM performance_schema.variables_metadata WHERE LOWER(VARIABLE_NAME) IN (%s)")


def _number(text: str, kind: str) -> int | float:
    return float(text) if kind == "float" else int(text)


def rule_from_metadata(row: tuple, dynamic: bool, values: list[str] | None,
                       lists: dict[str, list[str]], overrides: dict) -> dict[str, Any]:
    """One rule from a variables_metadata row and the probed facts (pure)."""
    name, scope, data_type, vmin, vmax = row
    if scope == "SESSION_ONLY":
        raise ValueError("%s is session-only: it cannot be configured" % name)
    kind = TYPE_NAMES[data_type]
    rule: dict[str, Any] = {"name": name, "type": kind, "dynamic": dynamic,
                            "restart_required": not dynamic}
    if kind in ("integer", "float") and vmin not in (None, "") and vmax not in (None, ""):
        rule["min"] = _number(vmin, kind)
        rule["max"] = _number(vmax, kind)
    values = values or lists.get(name)
    if values:
        rule["allowed_values"] = values
    if data_type == "Set":
        rule["multiple"] = True
    for key, value in overrides.get(name, {}).items():
        if key in ("min", "max") and key in rule:
            value = max(value, rule[key]) if key == "min" else min(value, rule[key])
        rule[key] = value
    return rule


def _is_dynamic(cur: Any, name: str) -> bool:
    try:
        cur.execute("SET GLOBAL %s = @@GLOBAL.%s" % (name, name))
    except Exception as exc:   # pymysql's error, read by code
        if exc.args and exc.args[0] == ER_READ_ONLY:
            return False
        raise
    return True


def _probe_values(cur: Any, name: str, data_type: str) -> list[str]:
    """The values of a dynamic ENUM/SET, by setting each index (or bit) in turn."""
    cur.execute("SELECT @@GLOBAL.%s" % name)
    old = cur.fetchone()[0]
    found: list[str] = []
    try:
        for i in range(_MAX_ENUM):
            try:
                cur.execute("SET GLOBAL %s = %d" % (name, (1 << i) if data_type == "Set" else i))
            except Exception:
                if data_type == "Set":
                    continue     # a retired bit (e.g. POSTGRESQL in sql_mode)
                break
            cur.execute("SELECT @@GLOBAL.%s" % name)
            value = cur.fetchone()[0]
            value = value.decode() if isinstance(value, bytes) else str(value)
            if value and "," not in value and value != "NOT_USED":
                found.append(value)
    finally:
        cur.execute("SET GLOBAL %s = %%s" % name, (old,))
    return found


def read_rules(conn: Any, overrides: dict, names: list[str] | None = None
               ) -> tuple[str, list[dict]]:
    """(server version, rules) for ``names`` (those this server has) from a live server
    whose global values may be changed and put back (a throw-away one)."""
    names = list(names or PARAMETERS)
    with conn.cursor() as cur:
        cur.execute(QUERY % ",".join(["%s"] * len(names)), names)
        rows = {row[0]: row for row in cur.fetchall()}
        cur.execute("SELECT CHARACTER_SET_NAME FROM information_schema.CHARACTER_SETS "
                    "ORDER BY 1")
        charsets = [r[0] for r in cur.fetchall()]
        cur.execute("SELECT COLLATION_NAME FROM information_schema.COLLATIONS ORDER BY 1")
        collations = [r[0] for r in cur.fetchall()]
        cur.execute("SELECT ENGINE FROM information_schema.ENGINES WHERE SUPPORT IN "
                    "('YES', 'DEFAULT') AND ENGINE <> 'PERFORMANCE_SCHEMA' ORDER BY 1")
        engines = [r[0] for r in cur.fetchall()]
        lists = {"character_set_server": charsets, "collation_server": collations,
                 "default_storage_engine": engines}
        rules = []
        for name in sorted(rows):
            data_type = rows[name][2]
            dynamic = _is_dynamic(cur, name)
            values = (_probe_values(cur, name, data_type)
                      if dynamic and data_type in ("Enumeration", "Set")
                      and name not in lists else None)
            rules.append(rule_from_metadata(rows[name], dynamic, values, lists, overrides))
        cur.execute("SELECT VERSION()")
        version = cur.fetchone()[0]
    return version, rules
