"""MariaDBAdmin against a real server: each method checked the way a user would
notice it (SHOW DATABASES, SHOW GRANTS, logging in over TCP)."""

import pymysql
import pytest

from trove_lite.exceptions import BadRequest, Conflict, InvalidName, NotFound
from tests.functional.guestagent.conftest import tcp

pytestmark = pytest.mark.slow

BAD_NAMES = {
    "backtick": "a`b",
    "quote": "it's",
    "semicolon": "x;DROP DATABASE shop",
    "100 chars": "n" * 100,
    "unicode": "caf\u00e9",
}


def run(app, statement):
    conn = app.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
            return cur.fetchall()
    finally:
        conn.close()


def snapshot(app):
    """What exists on the server, read directly (not through the code under test)."""
    return (sorted(r[0] for r in run(app, "SHOW DATABASES")),
            sorted(run(app, "SELECT User, Host FROM mysql.user")),
            sorted(run(app, "SELECT User, Host, Db FROM mysql.db")))


def can_use(app, user, password, database):
    try:
        conn = tcp(app.server, user, password, database)
    except pymysql.err.OperationalError as exc:
        if exc.args[0] in (1044, 1045):  # no access to the db / bad login
            return False
        raise
    conn.close()
    return True


@pytest.fixture
def admin(module_app):
    """The admin of the shared instance, left clean after each test."""
    yield module_app.admin
    for db in module_app.admin.list_databases()[0]:
        run(module_app, "DROP DATABASE `%s`" % db["name"].replace("`", "``"))
    for user in module_app.admin.list_users()[0]:
        run(module_app, "DROP USER '%s'@'%s'" % (user["name"], user["host"]))
    module_app.admin.disable_root()


def test_databases_create_list_page_delete(module_app, admin):
    assert admin.create_databases([
        {"name": "shop"},
        {"name": "legacy", "character_set": "latin1", "collate": "latin1_bin"},
        {"name": "a_b", "character_set": "utf8"},
        {"name": "x.y"}]) == ["shop", "legacy", "a_b", "x.y"]
    shown = snapshot(module_app)[0]
    assert {"shop", "legacy", "a_b", "x.y"} <= set(shown)
    create = run(module_app, "SHOW CREATE DATABASE legacy")[0][1]
    assert "CHARACTER SET latin1 COLLATE latin1_bin" in create

    listed, marker = admin.list_databases()
    assert [d["name"] for d in listed] == ["a_b", "legacy", "shop", "x.y"]
    assert marker is None
    assert listed[1] == {"name": "legacy", "character_set": "latin1", "collate": "latin1_bin"}
    assert listed[0]["character_set"] == "utf8mb3"
    page1, marker = admin.list_databases(limit=3)
    assert [d["name"] for d in page1] == ["a_b", "legacy", "shop"] and marker == "shop"
    page2, marker = admin.list_databases(limit=3, marker=marker)
    assert [d["name"] for d in page2] == ["x.y"] and marker is None

    # the admin writes go to the binlog, so replicas will get them
    events = run(module_app, "SHOW BINLOG EVENTS")
    assert any("CREATE DATABASE `legacy`" in str(e[5]) for e in events)

    before = snapshot(module_app)
    with pytest.raises(Conflict):
        admin.create_databases([{"name": "fresh"}, {"name": "shop"}])
    with pytest.raises(BadRequest, match="unknown character set"):
        admin.create_databases([{"name": "fresh"}, {"name": "f2", "character_set": "nope"}])
    with pytest.raises(BadRequest, match="does not belong"):
        admin.create_databases([{"name": "fresh", "character_set": "latin1",
                                 "collate": "utf8mb4_bin"}])
    with pytest.raises(BadRequest, match="twice"):
        admin.create_databases([{"name": "fresh"}, {"name": "fresh"}])
    assert snapshot(module_app) == before

    admin.delete_database("shop")
    assert "shop" not in snapshot(module_app)[0]
    with pytest.raises(NotFound):
        admin.delete_database("shop")
    with pytest.raises(InvalidName):
        admin.delete_database("mysql")
    assert "mysql" in snapshot(module_app)[0]


def test_users_access_over_tcp_and_grants(module_app, admin):
    admin.create_databases([{"name": "a_b"}, {"name": "axb"}, {"name": "shop"}])
    password = "p'w\"d;\\%"
    assert admin.create_users([{"name": "alice", "password": password,
                                "databases": [{"name": "a_b"}]}]) == ["alice@%"]
    grants = [r[0] for r in run(module_app, "SHOW GRANTS FOR 'alice'@'%'")]
    assert "GRANT ALL PRIVILEGES ON `a\\_b`.* TO `alice`@`%`" in grants
    assert can_use(module_app, "alice", password, "a_b")
    assert not can_use(module_app, "alice", password, "axb")   # _ is not a wildcard here
    assert not can_use(module_app, "alice", password, "shop")
    assert not can_use(module_app, "alice", "wrong", "a_b")

    assert admin.get_user("alice") == {"name": "alice", "host": "%",
                                       "databases": [{"name": "a_b"}]}
    admin.grant_access("alice", "%", [{"name": "shop"}])
    assert can_use(module_app, "alice", password, "shop")
    assert admin.list_access("alice", "%") == [{"name": "a_b"}, {"name": "shop"}]

    admin.revoke_access("alice", "%", "a_b")
    assert not can_use(module_app, "alice", password, "a_b")
    assert admin.list_access("alice", "%") == [{"name": "shop"}]
    with pytest.raises(NotFound):
        admin.revoke_access("alice", "%", "a_b")

    before = snapshot(module_app)
    with pytest.raises(NotFound):
        admin.grant_access("alice", "%", ["shop", "missing"])
    with pytest.raises(NotFound):
        admin.grant_access("nobody", "%", ["shop"])
    with pytest.raises(NotFound):
        admin.get_user("alice", "10.%")
    with pytest.raises(Conflict):
        admin.create_users([{"name": "bob", "password": "pw"},
                            {"name": "alice", "password": "pw"}])
    with pytest.raises(NotFound):
        admin.create_users([{"name": "bob", "password": "pw", "databases": ["missing"]}])
    assert snapshot(module_app) == before


def test_update_user_rename_move_repassword(module_app, admin):
    admin.create_databases([{"name": "shop"}])
    admin.create_users([{"name": "alice", "password": "old", "databases": ["shop"]},
                        {"name": "dave", "password": "pw"}])
    assert admin.update_user("alice", "%", new_name="alicia", new_password="new") == \
        {"name": "alicia", "host": "%"}
    assert not can_use(module_app, "alice", "old", "shop")
    assert not can_use(module_app, "alicia", "old", "shop")
    assert can_use(module_app, "alicia", "new", "shop")   # the grant moved with the user

    admin.update_user("alicia", "%", new_host="127.%")
    assert admin.get_user("alicia", "127.%")["databases"] == [{"name": "shop"}]
    assert can_use(module_app, "alicia", "new", "shop")   # clients come from 127.x here

    before = snapshot(module_app)
    with pytest.raises(Conflict):
        admin.update_user("dave", "%", new_name="alicia", new_host="127.%")
    with pytest.raises(NotFound):
        admin.update_user("alicia", "%", new_password="x")
    with pytest.raises(BadRequest, match="nothing to update"):
        admin.update_user("dave", "%")
    with pytest.raises(InvalidName):
        admin.update_user("dave", "%", new_name="root")
    assert snapshot(module_app) == before


def test_change_passwords_list_and_delete_users(module_app, admin):
    admin.create_users([{"name": "u%d" % i, "password": "pw%d" % i} for i in range(5)]
                       + [{"name": "u0", "host": "10.1.%", "password": "x"}])
    admin.change_passwords([{"name": "u1", "password": "n1"},
                            {"name": "u2", "host": "%", "password": "n2"}])
    assert can_use(module_app, "u1", "n1", None) and can_use(module_app, "u2", "n2", None)
    assert not can_use(module_app, "u1", "pw1", None)

    with pytest.raises(NotFound):
        admin.change_passwords([{"name": "u3", "password": "n3"},
                                {"name": "ghost", "password": "x"}])
    assert can_use(module_app, "u3", "pw3", None)   # the batch changed nothing

    admin.enable_root()
    everyone, marker = admin.list_users()
    assert marker is None
    assert [(u["name"], u["host"]) for u in everyone] == [
        ("u0", "%"), ("u0", "10.1.%"), ("u1", "%"), ("u2", "%"), ("u3", "%"), ("u4", "%")]
    seen, marker, pages = [], None, 0
    while True:
        page, marker = admin.list_users(limit=4, marker=marker)
        seen += [u["name"] + "@" + u["host"] for u in page]
        pages += 1
        if marker is None:
            break
    assert pages == 2 and seen == [u["name"] + "@" + u["host"] for u in everyone]

    admin.delete_user("u4", "%")
    assert not can_use(module_app, "u4", "pw4", None)
    with pytest.raises(NotFound):
        admin.get_user("u4")
    with pytest.raises(NotFound):
        admin.delete_user("u4", "%")


def test_root_enable_with_and_without_password_then_disable(module_app, admin):
    assert admin.is_root_enabled() is False
    generated = admin.enable_root()
    assert len(generated) == 32
    assert admin.is_root_enabled() is True
    assert can_use(module_app, "root", generated, "mysql")
    grants = run(module_app, "SHOW GRANTS FOR 'root'@'%'")
    assert "GRANT ALL PRIVILEGES ON *.* TO `root`@`%`" in grants[0][0]
    assert "WITH GRANT OPTION" in grants[0][0]

    assert admin.enable_root("mine ' \" ;") == "mine ' \" ;"
    assert can_use(module_app, "root", "mine ' \" ;", None)
    assert not can_use(module_app, "root", generated, None)
    assert "root" not in [u["name"] for u in admin.list_users()[0]]

    assert admin.disable_root() is True
    assert not can_use(module_app, "root", "mine ' \" ;", None)
    assert admin.is_root_enabled() is False
    assert admin.disable_root() is False
    # the agent's own access (root over the socket) is untouched
    assert run(module_app, "SELECT 1") == ((1,),)


@pytest.mark.parametrize("bad", list(BAD_NAMES.values()), ids=list(BAD_NAMES))
def test_bad_name_is_refused_and_changes_nothing(module_app, admin, bad):
    admin.create_databases([{"name": "shop"}])
    admin.create_users([{"name": "alice", "password": "pw", "databases": ["shop"]}])
    before = snapshot(module_app)
    attempts = [
        lambda: admin.create_databases([{"name": "fresh"}, {"name": bad}]),
        lambda: admin.delete_database(bad),
        lambda: admin.create_users([{"name": "fresh", "password": "pw"},
                                    {"name": bad, "password": "pw"}]),
        lambda: admin.create_users([{"name": "fresh", "password": "pw", "host": bad}]),
        lambda: admin.create_users([{"name": "fresh", "password": "pw",
                                     "databases": [{"name": bad}]}]),
        lambda: admin.update_user("alice", "%", new_name=bad),
        lambda: admin.grant_access("alice", "%", ["shop", bad]),
        lambda: admin.revoke_access("alice", "%", bad),
        lambda: admin.delete_user(bad, "%"),
        lambda: admin.get_user(bad, "%"),
    ]
    for attempt in attempts:
        with pytest.raises(InvalidName):
            attempt()
    assert snapshot(module_app) == before
