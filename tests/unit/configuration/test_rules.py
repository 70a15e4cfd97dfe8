"""Validation of configuration-group values against the MariaDB 10.11 rules."""

import json
import os
import sys

import pytest

from trove_lite.configuration import rules as R
from trove_lite.exceptions import InvalidConfigurationValue, fault_body

RULES = R.load_rules_file()
TOOLS = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, os.pardir, "tools")


def invalid(values, rules=RULES):
    with pytest.raises(InvalidConfigurationValue) as info:
        R.validate_values(rules, values)
    return info.value


# -- the rules file ---------------------------------------------------------------
def test_rules_file_has_at_least_60_parameters_users_tune():
    assert len(RULES) >= 60
    for name in ("innodb_buffer_pool_size", "innodb_log_file_size", "max_connections",
                 "wait_timeout", "character_set_server", "collation_server", "sql_mode",
                 "sync_binlog", "binlog_expire_logs_seconds", "slow_query_log", "long_query_time",
                 "innodb_flush_log_at_trx_commit", "innodb_io_capacity",
                 "table_open_cache", "tmp_table_size", "max_allowed_packet"):
        assert name in RULES, name


def test_rules_file_is_trove_format_with_our_extra_keys():
    with open(R.DEFAULT_RULES_FILE) as f:
        data = json.load(f)
    for item in data["configuration-parameters"]:
        assert item["type"] in ("integer", "float", "string", "boolean")
        assert isinstance(item["restart_required"], bool)
        assert item["dynamic"] is not item["restart_required"]
        if item["type"] in ("integer", "float"):
            assert item["min"] <= item["max"]
        # round trip: what GET .../parameters would show
        assert R.Rule.from_dict(item).to_dict() == item


def test_restrictions_that_protect_the_instance_are_in_the_file():
    assert RULES["sort_buffer_size"].max == 2147483647
    assert RULES["max_user_connections"].min == 0
    assert "DISABLED" not in RULES["event_scheduler"].allowed_values
    assert "no-threads" not in RULES["thread_handling"].allowed_values
    # platform-managed: backups, replication and online schema changes need them
    for name in ("binlog_format", "binlog_row_image", "log_bin", "server_id",
                 "read_only", "lower_case_table_names"):
        assert name not in RULES
    assert RULES["tx_isolation"].option_name == "transaction-isolation"
    assert RULES["time_zone"].option_name == "default-time-zone"


def test_generator_turns_server_rows_into_rules():
    sys.path.insert(0, TOOLS)
    try:
        import gen_validation_rules as gen
    finally:
        sys.path.remove(TOOLS)
    row = ("join_buffer_size", "BIGINT UNSIGNED", "128", "18446744073709551615", None,
           "NO", "SESSION")
    assert gen.rule_from_row(row, [], [], []) == {
        "name": "join_buffer_size", "type": "integer", "dynamic": True,
        "restart_required": False, "min": 128, "max": 2147483647}
    row = ("innodb_flush_method", "ENUM", None, None, "fsync,O_DIRECT", "YES", "GLOBAL")
    assert gen.rule_from_row(row, [], [], [])["allowed_values"] == ["fsync", "O_DIRECT"]
    with pytest.raises(ValueError):
        gen.rule_from_row(("timestamp", "DOUBLE", "0", "1", None, "NO", "SESSION ONLY"),
                          [], [], [])


# -- values that pass, normalised --------------------------------------------------
@pytest.mark.parametrize("given,expected", [
    ({"max_connections": 200}, {"max_connections": 200}),
    ({"max_connections": "200"}, {"max_connections": 200}),
    ({"Max-Connections": 300}, {"max_connections": 300}),
    ({"innodb_buffer_pool_size": "1G"}, {"innodb_buffer_pool_size": 1 << 30}),
    ({"innodb_log_file_size": "64m"}, {"innodb_log_file_size": 64 << 20}),
    ({"long_query_time": 2}, {"long_query_time": 2.0}),
    ({"long_query_time": "0.25"}, {"long_query_time": 0.25}),
    ({"query_cache_type": "demand"}, {"query_cache_type": "DEMAND"}),
    ({"innodb_flush_method": "o_direct"}, {"innodb_flush_method": "O_DIRECT"}),
    ({"sql_mode": "strict_trans_tables, NO_ENGINE_SUBSTITUTION,strict_trans_tables"},
     {"sql_mode": "STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION"}),
    ({"sql_mode": ""}, {"sql_mode": ""}),
    ({"character_set_server": "utf8mb4", "collation_server": "utf8mb4_unicode_ci"},
     {"character_set_server": "utf8mb4", "collation_server": "utf8mb4_unicode_ci"}),
    ({"time_zone": "+02:00"}, {"time_zone": "+02:00"}),
    ({"init_connect": "SET NAMES utf8mb4"}, {"init_connect": "SET NAMES utf8mb4"}),
    ({}, {}),
])
def test_valid_values_are_normalised(given, expected):
    assert R.validate_values(RULES, given) == expected


@pytest.mark.parametrize("given,expected", [
    (True, True), (False, False), (1, True), (0, False), ("ON", True), ("off", False),
    ("true", True), ("FALSE", False), ("1", True), ("0", False),
])
def test_booleans_accept_what_mariadb_accepts(given, expected):
    assert R.validate_values(RULES, {"slow_query_log": given}) == {
        "slow_query_log": expected}


def test_boundaries_are_inclusive():
    rule = RULES["max_connections"]
    assert R.validate_values(RULES, {"max_connections": rule.min})
    assert R.validate_values(RULES, {"max_connections": rule.max})


# -- values that are refused, with messages a user can act on ----------------------
def test_out_of_range_names_parameter_and_range():
    exc = invalid({"max_connections": 0})
    assert exc.message == "The value 0 for max_connections is out of range: min 10, max 100000."
    assert exc.http_status == 400
    status, body = fault_body(exc)
    assert status == 400 and "max_connections" in body["badRequest"]["message"]


def test_out_of_range_above_max_and_size_suffix():
    exc = invalid({"max_allowed_packet": "2G"})
    assert "The value 2G for max_allowed_packet is out of range" in exc.message
    assert "max 1073741824" in exc.message


def test_wrong_type_names_parameter_and_type():
    assert invalid({"max_connections": "abc"}).message == \
        "max_connections must be an integer, not 'abc'."
    assert "must be an integer, not boolean true" in invalid({"max_connections": True}).message
    assert "must be an integer, not number 2.5" in invalid({"max_connections": 2.5}).message
    assert "must be an integer, not array" in invalid({"max_connections": [200]}).message
    assert "must be a number" in invalid({"long_query_time": "fast"}).message
    assert "must be a number" in invalid({"long_query_time": "nan"}).message
    assert "must be a string, not number 5" in invalid({"tx_isolation": 5}).message
    assert "needs a value, not null" in invalid({"wait_timeout": None}).message


def test_boolean_refuses_other_words_and_numbers():
    for bad in ("yes", 2, "", 1.0):
        assert "slow_query_log must be a boolean" in invalid({"slow_query_log": bad}).message


def test_unknown_parameter():
    assert invalid({"foo_bar": 1}).message == "Unknown configuration parameter: foo_bar."


def test_enum_and_set_values_are_checked():
    assert "must be one of NEVER, AUTO, ALWAYS" in invalid({"concurrent_insert": "x"}).message
    assert "'NOPE' is not one of" in invalid({"sql_mode": "ANSI,NOPE"}).message
    assert "... (%d values)" % len(RULES["collation_server"].allowed_values) in \
        invalid({"collation_server": "klingon_ci"}).message
    assert "is not valid" in invalid({"event_scheduler": "DISABLED"}).message


def test_time_zone_names_are_refused_because_tz_tables_are_empty():
    assert "must match" in invalid({"time_zone": "Europe/Berlin"}).message


@pytest.mark.parametrize("bad", ["SET NAMES utf8\nmax_connections=1", "a\rb", "x\x00",
                                 "SELECT '1'", 'say "hi"', "back\\slash", "a # comment",
                                 "caf\u00e9"])
def test_strings_refuse_characters_that_break_a_mycnf_line(bad):
    assert "contains characters that are not allowed" in invalid({"init_connect": bad}).message


def test_charset_and_collation_must_belong_together():
    exc = invalid({"character_set_server": "latin1", "collation_server": "utf8mb4_bin"})
    assert "does not belong to character_set_server latin1" in exc.message
    for alone in ({"character_set_server": "latin1"},
                  {"collation_server": "latin1_swedish_ci"}):
        assert "must be set together" in invalid(alone).message


def test_all_errors_reported_at_once_and_nothing_returned():
    exc = invalid({"max_connections": 0, "foo": 1, "wait_timeout": 60})
    assert len(exc.kwargs["errors"]) == 2
    assert "max_connections" in exc.message and "foo" in exc.message


def test_same_parameter_twice_under_two_spellings():
    assert "given twice" in invalid({"max_connections": 20, "max-connections": 30}).message


def test_values_must_be_an_object():
    assert "must be an object" in invalid(["max_connections", 1]).message


# -- rules from database rows, dynamic split, formatting ---------------------------
ROWS = [
    {"name": "max_connections", "type": "integer", "min": 1, "max": 100000,
     "restart_required": False},
    {"name": "innodb_log_buffer_size", "type": "integer", "min": 2097152,
     "max": 2147479552, "restart_required": True},
    {"name": "slow_query_log", "type": "boolean", "restart_required": False,
     "dynamic": True},
]


def test_rules_from_plain_trove_rows_without_our_extras():
    assert R.validate_values(ROWS, {"max_connections": 1}) == {"max_connections": 1}
    assert invalid({"max_connections": 0}, ROWS).message == \
        "The value 0 for max_connections is out of range: min 1, max 100000."


def test_rules_from_database_rows_with_string_limits():
    rows = [{"name": "max_connections", "data_type": "integer", "min_size": "10",
             "max_size": "100000", "restart_required": False, "dynamic": True,
             "allowed_values": None},
            {"name": "tmp_disk_table_size", "data_type": "integer", "min_size": "1024",
             "max_size": "18446744073709551615", "restart_required": False},
            {"name": "binlog_format", "data_type": "string", "min_size": None,
             "max_size": None, "restart_required": False,
             "allowed_values": '["MIXED", "STATEMENT", "ROW"]'},
            {"name": "query_cache_type", "data_type": "string", "restart_required": False,
             "allowed_values": "OFF,ON,DEMAND"}]
    assert R.validate_values(rows, {"max_connections": "20", "binlog_format": "row",
                                    "tmp_disk_table_size": 18446744073709551615,
                                    "query_cache_type": "demand"}) == {
        "max_connections": 20, "binlog_format": "ROW",
        "tmp_disk_table_size": 18446744073709551615, "query_cache_type": "DEMAND"}
    assert "out of range: min 10, max 100000" in invalid({"max_connections": 5}, rows).message


def test_split_dynamic():
    values = R.validate_values(ROWS, {"max_connections": 50, "slow_query_log": "ON",
                                      "innodb_log_buffer_size": "4M"})
    dynamic, restart = R.split_dynamic(ROWS, values)
    assert dynamic == {"max_connections": 50, "slow_query_log": True}
    assert restart == {"innodb_log_buffer_size": 4 << 20}


def test_split_dynamic_with_the_real_rules():
    dynamic, restart = R.split_dynamic(RULES, {"wait_timeout": 60,
                                               "performance_schema": True})
    assert dynamic == {"wait_timeout": 60} and restart == {"performance_schema": True}
    with pytest.raises(InvalidConfigurationValue):
        R.split_dynamic(RULES, {"nope": 1})


@pytest.mark.parametrize("bad", [
    [{"name": "x", "type": "int", "restart_required": False}],
    [{"name": "Bad Name", "type": "integer"}],
    [{"name": "x", "type": "integer", "min": 5, "max": 1}],
    [{"name": "x", "type": "integer", "min": "five", "max": 1}],
    [{"name": "x", "type": "boolean"}, {"name": "x", "type": "boolean"}],
])
def test_malformed_rules_are_refused_when_loaded(bad):
    with pytest.raises(ValueError):
        R.parse_rules(bad)


def test_format_value_as_mariadb_reads_it():
    assert R.format_value(RULES["slow_query_log"], True) == "ON"
    assert R.format_value(RULES["slow_query_log"], False) == "OFF"
    assert R.format_value(RULES["long_query_time"], 0.00001) == "0.00001"
    assert R.format_value(RULES["long_query_time"], 10.0) == "10"
    assert R.format_value(RULES["max_connections"], 200) == "200"
