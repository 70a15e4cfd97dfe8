"""The datastore-neutral package: hashes the API makes, rules read from MySQL's
metadata, and the SQL a MySQL guest sends (all without a server)."""

import pytest

from trove_lite import datastores
from trove_lite.datastores import passwords
from trove_lite.datastores.mysql import rules as mysql_rules
from trove_lite.datastores.mysql.passwords import caching_sha2_hash, is_caching_sha2_hash
from trove_lite.exceptions import BadRequest
from trove_lite.guestagent.datastore.mariadb import sql

# Made by MySQL 9.7.4 for CREATE USER ... IDENTIFIED BY 'secret pass' (its salt has
# bytes outside the crypt alphabet: the digest must still match).
SERVER_HASH = ("$A$00A$;:lVPl\x10\x063#RH-|\x11Gy]F\x17DG4ZLiRBT8W1AFmXk4TCRqmlbetOH/"
               "odTO8fBE6QX3C")


def test_caching_sha2_hash_matches_the_one_mysql_made():
    assert caching_sha2_hash("secret pass", SERVER_HASH[7:27], rounds=10000) == SERVER_HASH
    assert caching_sha2_hash("secret pass", SERVER_HASH[7:27], rounds=5000) != SERVER_HASH


def test_a_hash_is_salted_printable_and_recognised():
    one, two = caching_sha2_hash("pw"), caching_sha2_hash("pw")
    assert one != two and len(one) == 70 and one.isprintable() and "'" not in one
    assert is_caching_sha2_hash(one) and not is_caching_sha2_hash("*" + "A" * 40)
    assert passwords.plugin_of(one) == "caching_sha2_password"
    with pytest.raises(ValueError):
        caching_sha2_hash("pw", salt="short")


def test_the_api_hashes_with_the_instance_s_datastore():
    assert passwords.hash_for("mysql", "pw").startswith("$A$00A$")
    assert passwords.hash_for("mariadb", "pw") == sql.native_password_hash("pw")
    assert passwords.hash_for(None, "pw") == sql.native_password_hash("pw")


def test_account_statements_carry_the_hash_of_their_plugin():
    h = caching_sha2_hash("pw")
    assert sql.create_user("a", "%", password_hash=h) == (
        "CREATE USER 'a'@'%%' IDENTIFIED WITH caching_sha2_password AS '%s'" % h)
    assert "IDENTIFIED BY PASSWORD '*" in sql.set_password("a", "%", password="pw")
    with pytest.raises(ValueError):
        sql.create_user("a", "%", password_hash="plain text")
    assert "is_role" not in sql.list_accounts(has_roles_column=False)


def test_registry_knows_both_datastores_and_refuses_others():
    assert datastores.names() == ["mariadb", "mysql"]
    mysql = datastores.get("mysql")
    assert (mysql.server_section, mysql.backup_strategy, mysql.user_name_max) == (
        "mysqld", "mysqldump", 32)
    assert mysql.replication_strategies == ("gtid",) and not mysql.incremental_backups
    assert not mysql.semisync and not mysql.auto_failover
    assert datastores.get(None).name == "mariadb"
    with pytest.raises(BadRequest):
        datastores.get("postgresql")


def test_rule_from_metadata_keeps_the_server_s_range_and_narrows_by_overrides():
    rule = mysql_rules.rule_from_metadata(
        ("sort_buffer_size", "SESSION", "Integer", "32768", "18446744073709551615"),
        True, None, {}, {"sort_buffer_size": {"max": 2147483647}})
    assert rule == {"name": "sort_buffer_size", "type": "integer", "dynamic": True,
                    "restart_required": False, "min": 32768, "max": 2147483647}
    enum = mysql_rules.rule_from_metadata(
        ("transaction_isolation", "SESSION", "Enumeration", "", ""), True,
        ["READ-COMMITTED", "SERIALIZABLE"], {}, {})
    assert enum["allowed_values"] == ["READ-COMMITTED", "SERIALIZABLE"]
    static = mysql_rules.rule_from_metadata(
        ("performance_schema", "GLOBAL", "Boolean", "", ""), False, None, {}, {})
    assert (static["type"], static["restart_required"]) == ("boolean", True)
    with pytest.raises(ValueError):
        mysql_rules.rule_from_metadata(("timestamp", "SESSION_ONLY", "Numeric", "0", "1"),
                                       True, None, {}, {})


@pytest.mark.parametrize("strategy", ["mariabackup", "mysqldump"])
def test_every_backup_strategy_builds_the_runner_s_stages(strategy):
    """The runner passes the member's extra tool options to every strategy: a
    MySQL (mysqldump) backup failed with a TypeError once they were added."""
    from types import SimpleNamespace

    from trove_lite.datastores.base import SYSTEM_BINARIES
    from trove_lite.guestagent.backup import runner
    server = SimpleNamespace(config_file="/nonexistent/my.cnf")
    strat = runner.get_strategy(strategy, SYSTEM_BINARIES)
    stages = runner._backup_stages(strat, "zstd", None, server, "/tmp/lsn", None, "root",
                                   "pw", ("--extra-option",))
    argv = stages[0].argv
    assert "--defaults-file=/nonexistent/my.cnf" in argv and argv[-1] == "--extra-option"
    assert "pw" not in " ".join(argv)     # the password goes in the environment
