"""The SQL builders, without a database: exact statements and grant parsing."""

import decimal

import pytest

from trove_lite.guestagent.datastore.mariadb import sql


@pytest.mark.parametrize("name, quoted", [
    ("plain", "`plain`"),
    ("a`b", "`a``b`"),
    ("``", "``````"),
    ("x; DROP DATABASE mysql; --", "`x; DROP DATABASE mysql; --`"),
    ("it's", "`it's`"),
])
def test_quote_identifier_doubles_backticks(name, quoted):
    assert sql.quote_identifier(name) == quoted


def test_quote_identifier_refuses_nul():
    with pytest.raises(ValueError):
        sql.quote_identifier("a\0b")


@pytest.mark.parametrize("value, quoted", [
    ("pw", "'pw'"),
    ("it's", "'it\\'s'"),
    ("back\\slash", "'back\\\\slash'"),
    ("a\nb\0c\x1a", "'a\\nb\\0c\\Z'"),
    ('semi;"colon', "'semi;\"colon'"),
])
def test_quote_string_escapes(value, quoted):
    assert sql.quote_string(value) == quoted


def test_account_and_user_statements():
    assert sql.account("bob", "%") == "'bob'@'%'"
    # the statement holds only the hash: it goes to the binary log as sent
    assert sql.create_user("bob", "10.0.%", "pw") == \
        "CREATE USER 'bob'@'10.0.%' IDENTIFIED BY PASSWORD " \
        "'*D821809F681A40A6E379B50D0463EFAE20BDD122'"
    assert "p'w" not in sql.create_user("bob", "%", "p'w")
    assert sql.set_password("bob", "%", password_hash="*" + "A" * 40) == \
        "ALTER USER 'bob'@'%' IDENTIFIED BY PASSWORD '*" + "A" * 40 + "'"
    with pytest.raises(ValueError):
        sql.set_password("bob", "%", password_hash="' OR 1 -- ")
    assert sql.rename_user("bob", "%", "rob", "10.%") == \
        "RENAME USER 'bob'@'%' TO 'rob'@'10.%'"
    assert sql.drop_user("o'neil", "%") == "DROP USER 'o\\'neil'@'%'"
    assert sql.show_grants("bob", "%") == "SHOW GRANTS FOR 'bob'@'%'"


def test_database_statements_with_charset_and_collation():
    assert sql.create_database("shop") == "CREATE DATABASE `shop`"
    assert sql.create_database("sh`op", "utf8mb4", "utf8mb4_bin") == \
        "CREATE DATABASE `sh``op` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
    assert sql.create_database("x", collate="latin1_swedish_ci") == \
        "CREATE DATABASE `x` COLLATE latin1_swedish_ci"
    assert sql.drop_database("a`b") == "DROP DATABASE `a``b`"
    with pytest.raises(ValueError):
        sql.create_database("x", character_set="utf8; DROP")


def test_grants_escape_wildcards_so_a_b_does_not_cover_axb():
    assert sql.grant_all_on_database("a_b%c", "u", "%") == \
        "GRANT ALL PRIVILEGES ON `a\\_b\\%c`.* TO 'u'@'%'"
    assert sql.revoke_all_on_database("a_b", "u", "%") == \
        "REVOKE ALL PRIVILEGES ON `a\\_b`.* FROM 'u'@'%'"
    assert sql.grant_all_global("root", "%") == \
        "GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION"


def test_parse_grant_databases_as_mariadb_prints_them():
    # lines copied from SHOW GRANTS on MariaDB 10.11
    lines = [
        ("GRANT USAGE ON *.* TO `g`@`%` IDENTIFIED BY PASSWORD "
         "'*EE13F1D51CD4A80BA573F7E88DEA356926435EEB'",),
        ("GRANT ALL PRIVILEGES ON `a\\_b`.* TO `g`@`%`",),
        ("GRANT SELECT ON `x``y`.* TO `g`@`%`",),
        ("GRANT SELECT ON `shop`.`orders` TO `g`@`%`",),
        "GRANT ALL PRIVILEGES ON `a\\_b`.* TO `g`@`%` WITH GRANT OPTION",
    ]
    assert sql.parse_grant_databases(lines) == ["a_b", "x`y"]


def test_parse_grant_databases_round_trips_the_builder():
    for name in ["plain", "a_b", "100%", "we`ird", "dots.and-dashes"]:
        line = sql.grant_all_on_database(name, "u", "%").replace("'u'@'%'", "`u`@`%`")
        assert sql.parse_grant_databases([line]) == [name]


def test_set_global_literals():
    assert sql.set_global("max_connections", 77) == "SET GLOBAL `max_connections` = 77"
    assert sql.set_global("event_scheduler", False) == "SET GLOBAL `event_scheduler` = OFF"
    assert sql.set_global("long_query_time", 2.5) == "SET GLOBAL `long_query_time` = 2.5"
    assert sql.set_global("long_query_time", decimal.Decimal("10.000000")) == \
        "SET GLOBAL `long_query_time` = 10.000000"
    assert sql.set_global("binlog_format", "ROW") == "SET GLOBAL `binlog_format` = 'ROW'"
    assert sql.set_global("wait_timeout", None) == "SET GLOBAL `wait_timeout` = DEFAULT"
    assert sql.select_global("wait_timeout") == "SELECT @@GLOBAL.`wait_timeout`"
