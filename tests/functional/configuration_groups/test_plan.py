"""The pure parts of the configuration-group service (no processes)."""

import json

from trove_lite.configuration import rules as R
from trove_lite.configuration import service as S
from trove_lite.db import models
from trove_lite.status import ServiceStatus, TaskStatus

RULES = R.load_rules_file()


def row(**rule):
    """A DatastoreConfigurationParameter as trove-lite-manage stores a rule."""
    extra = {k: rule.pop(k) for k in ("multiple", "pattern", "cnf_option") if k in rule}
    return models.DatastoreConfigurationParameter(
        name=rule["name"], data_type=rule["type"],
        min_size=None if rule.get("min") is None else str(rule["min"]),
        max_size=None if rule.get("max") is None else str(rule["max"]),
        restart_required=rule.get("restart_required", False),
        dynamic=rule.get("dynamic", True),
        allowed_values=json.dumps(rule["allowed_values"]) if rule.get("allowed_values")
        else None,
        cnf_extra=json.dumps(extra) if extra else None)


def test_rows_round_trip_to_the_file_rules():
    with open(R.DEFAULT_RULES_FILE) as f:
        dicts = json.load(f)["configuration-parameters"]
    from_rows = R.parse_rules(S.rule_dict(row(**dict(d))) for d in dicts)
    assert from_rows == RULES
    # the extras matter: sql_mode is a set, time_zone has a pattern
    assert R.validate_values(from_rows, {"sql_mode": "ansi_quotes,ansi_quotes"}) == {
        "sql_mode": "ANSI_QUOTES"}


def test_plan_lists_dynamic_names_of_both_groups_and_renamed_options():
    old = {"max_connections": 200, "tx_isolation": "READ-COMMITTED"}
    new = {"max_connections": 300, "innodb_log_buffer_size": 32 << 20}
    dynamic, options = S.apply_plan(RULES, old, new)
    # tx_isolation is dropped: still listed, so the guest sets it back live
    assert dynamic == ["max_connections", "tx_isolation"]
    assert options == {"tx_isolation": "transaction-isolation"}
    assert S.apply_plan(RULES, {}, {}) == ([], {})


def test_prepare_gets_option_file_names():
    values = {"time_zone": "+02:00", "tx_isolation": "SERIALIZABLE", "max_connections": 50}
    assert S.option_values(RULES, values) == {
        "default_time_zone": "+02:00", "transaction_isolation": "SERIALIZABLE",
        "max_connections": 50}


def test_changes_need_a_settled_serving_instance():
    assert S.refuse_apply(TaskStatus.NONE, ServiceStatus.HEALTHY) is None
    assert S.refuse_apply(TaskStatus.NONE, ServiceStatus.RESTART_REQUIRED) is None
    assert "REBOOTING" in S.refuse_apply(TaskStatus.REBOOTING, ServiceStatus.HEALTHY)
    assert "SHUTDOWN" in S.refuse_apply(TaskStatus.NONE, ServiceStatus.SHUTDOWN)
    assert "NEW" in S.refuse_apply(TaskStatus.NONE, ServiceStatus.NEW)


def test_template_parameter_names_are_read_from_the_template():
    names = S.template_parameter_names(None)
    assert {"max_connections", "innodb_log_buffer_size", "server_id"} <= names
    assert not any(n.startswith("set") or "{" in n for n in names)
