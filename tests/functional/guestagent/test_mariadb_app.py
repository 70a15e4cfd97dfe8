"""The guest's MariaDB lifecycle against real mariadbd processes: prepare, status,
configuration groups."""

import os
import signal
import time

import pymysql
import pytest

from trove_lite.exceptions import BadRequest, InvalidConfigurationValue
from tests.functional.guestagent.conftest import SMALL_FLAVOR, tcp

pytestmark = pytest.mark.slow


def global_vars(app, *names):
    conn = app.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT " + ", ".join("@@GLOBAL.%s" % n for n in names))
            return cur.fetchone()
    finally:
        conn.close()


def test_prepare_on_empty_volume_creates_db_user_and_root(app_factory):
    app = app_factory()
    assert app.status() == "BUILDING"
    started = time.monotonic()
    result = app.prepare(
        SMALL_FLAVOR, server_id=1234,
        databases=[{"name": "shop", "character_set": "utf8mb4", "collate": "utf8mb4_bin"}],
        users=[{"name": "alice", "password": "s3cr'e\"t;\\x", "databases": [{"name": "shop"}]}],
        enable_root=True, config_overrides={"wait_timeout": 900})
    elapsed = time.monotonic() - started
    assert elapsed < 15, elapsed
    assert result["databases"] == ["shop"] and result["users"] == ["alice@%"]
    assert len(result["root_password"]) == 32 and result["root_enabled_at"]
    assert os.path.isdir(os.path.join(app.server.datadir, "mysql"))
    assert app.status() == "HEALTHY"

    # the user reaches the instance's own address over TCP and uses the database
    conn = tcp(app.server, "alice", "s3cr'e\"t;\\x", "shop")
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, s VARCHAR(10))")
        cur.execute("INSERT INTO t VALUES (1, 'x')")
        cur.execute("SELECT COUNT(*) FROM t")
        assert cur.fetchone() == (1,)
        cur.execute("SHOW DATABASES")
        assert {r[0] for r in cur.fetchall()} == {"information_schema", "shop"}
        cur.execute("SELECT DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA "
                    "WHERE SCHEMA_NAME = 'shop'")
        assert cur.fetchone() == ("utf8mb4_bin",)
    conn.close()

    root = tcp(app.server, "root", result["root_password"])
    with root.cursor() as cur:
        cur.execute("SELECT CURRENT_USER()")
        assert cur.fetchone() == ("root@%",)
    root.close()
    assert len(app.root_history()) == 1

    # the rendered config is what runs: 512 MB flavor sizing, binlog for later features
    assert global_vars(app, "innodb_buffer_pool_size", "max_connections", "server_id",
                       "log_bin", "binlog_format", "gtid_strict_mode", "skip_name_resolve",
                       "wait_timeout", "bind_address") == (
        128 << 20, 100, 1234, 1, "ROW", 1, 1, 900, app.server.bind_address)

    again = app.prepare(SMALL_FLAVOR, server_id=1234)
    assert again["already_prepared"] is True


def test_refused_prepare_touches_nothing(app_factory):
    app = app_factory()
    for kwargs in ({"databases": [{"name": "bad`name"}]},
                   {"users": [{"name": "bob", "password": "pw", "host": "x;y"}]},
                   {"users": [{"name": "bob", "password": "pw",
                               "databases": [{"name": "not_created"}]}]},
                   {"config_overrides": {"sql_mode": "a'b"}}):
        with pytest.raises(BadRequest):
            app.prepare(SMALL_FLAVOR, server_id=5, **kwargs)
    assert not os.path.exists(app.server.datadir)
    assert not app.server.is_running()
    assert app.status() == "BUILDING"


def test_status_follows_stop_crash_and_hang(app_factory):
    app = app_factory(ping_timeout=1)
    app.prepare(SMALL_FLAVOR, server_id=7)
    assert app.status() == "HEALTHY"

    app.stop()
    assert app.status() == "SHUTDOWN"
    app.start()
    assert app.status() == "HEALTHY"

    pid = app.server.pid()
    os.kill(pid, signal.SIGSTOP)  # running but not answering
    try:
        decision = app.status_decision()
        assert decision.status == "BLOCKED", decision
    finally:
        os.kill(pid, signal.SIGCONT)
    assert app.status() == "HEALTHY"

    app.server.kill()  # SIGKILL, as a crash or the OOM killer would
    decision = app.status_decision()
    assert decision.status == "CRASHED", decision
    app.start()
    assert app.status() == "HEALTHY"


def test_configuration_group_dynamic_now_static_after_restart_detach_restores(app_factory):
    app = app_factory()
    app.prepare(SMALL_FLAVOR, server_id=8)
    group = {"max_connections": 250, "wait_timeout": 1234, "innodb_log_buffer_size": "32M"}
    dynamic = ["max_connections", "wait_timeout"]
    names = ("max_connections", "wait_timeout", "innodb_log_buffer_size")

    assert app.attach_configuration(group, dynamic) is True  # the static one needs a restart
    assert global_vars(app, *names) == (250, 1234, 16 << 20)
    app.restart()
    assert global_vars(app, *names) == (250, 1234, 32 << 20)

    # a value the server refuses changes neither the server nor the file
    with pytest.raises(InvalidConfigurationValue):
        app.attach_configuration({"max_connections": 300, "wait_timeout": "soon"}, dynamic)
    assert global_vars(app, *names) == (250, 1234, 32 << 20)
    app.restart()
    assert global_vars(app, *names) == (250, 1234, 32 << 20)

    # detach: the template's max_connections (100) and the server default wait_timeout
    assert app.detach_configuration(dynamic) is True
    assert global_vars(app, *names) == (100, 28800, 32 << 20)
    app.restart()
    assert global_vars(app, *names) == (100, 28800, 16 << 20)

    assert app.attach_configuration({"max_connections": 120}, dynamic) is False
    assert global_vars(app, "max_connections") == (120,)


def test_user_without_grant_cannot_use_other_database(module_app):
    module_app.admin.create_databases([{"name": "private"}])
    module_app.admin.create_users([{"name": "carol", "password": "pw"}])
    conn = tcp(module_app.server, "carol", "pw")
    with pytest.raises(pymysql.err.OperationalError) as err:
        conn.select_db("private")
    assert err.value.args[0] == 1044  # access denied to database
    conn.close()
