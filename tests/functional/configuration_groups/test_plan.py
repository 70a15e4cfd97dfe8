"""The pure parts of the configuration-group service (no processes)."""

from trove_lite.cmd import manage
from trove_lite.configuration import rules as R
from trove_lite.configuration import service as S
from trove_lite.db.session import Database
from trove_lite.status import ServiceStatus, TaskStatus

RULES = R.load_rules_file()


def test_rules_loaded_by_manage_are_the_file_rules(tmp_path):
    """trove-lite-manage db_load_datastore_config_parameters keeps every rule key
    (multiple, pattern, cnf_option in cnf_extra), so validation from the table is
    the validation from the file."""
    db = Database("sqlite:///%s" % (tmp_path / "cp.sqlite"))
    db.sync()
    manage.datastore_update(db, "mariadb", "")
    manage.datastore_version_update(db, "mariadb", "10.11", "mariadb", "img", "", "1")
    manage.load_config_parameters(db, "mariadb", "10.11", R.DEFAULT_RULES_FILE)
    service = S.ConfigurationService(None, db, guest_factory=lambda i: None)
    _, loaded = service.parameters(datastore="mariadb", version="10.11")
    db.dispose()
    assert {r.name: r for r in loaded} == RULES
    from_rows = {r.name: r for r in loaded}
    assert R.validate_values(from_rows, {"sql_mode": "ansi_quotes,ansi_quotes"}) == {
        "sql_mode": "ANSI_QUOTES"}
    assert from_rows["tx_isolation"].option_name == "transaction-isolation"


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
