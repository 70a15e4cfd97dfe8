import os

import pymysql


def test_server_listens_on_its_own_loopback_address_and_keeps_data(mariadb_factory):
    server = mariadb_factory()
    conn = server.connect()
    with conn.cursor() as cur:
        cur.execute("SELECT @@bind_address, @@port, @@log_bin")
        assert cur.fetchone() == (server.bind_address, 3306, 1)
        cur.execute("CREATE DATABASE kept")
        cur.execute("CREATE TABLE kept.t (id INT PRIMARY KEY)")
        cur.execute("INSERT INTO kept.t VALUES (1), (2)")
        cur.execute("CREATE USER 'u'@'%' IDENTIFIED BY 'pw'")
        cur.execute("GRANT ALL ON kept.* TO 'u'@'%'")
    conn.close()

    server.restart()
    tcp = pymysql.connect(host=server.bind_address, port=3306, user="u", password="pw",
                          database="kept")
    with tcp.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM t")
        assert cur.fetchone() == (2,)
    tcp.close()


def test_stop_leaves_no_process(mariadb_factory):
    server = mariadb_factory()
    pid = server.pid()
    assert pid and os.path.exists("/proc/%d" % pid)
    assert server.stop() is True
    assert server.pid() is None
    assert not os.path.exists("/proc/%d" % pid) or \
        open("/proc/%d/stat" % pid).read().split(")")[-1].split()[0] == "Z"
