import os
import tempfile
import uuid

import pytest
import swiftclient

from tests.conftest import BINLOG_OPTIONS
from tests.support.net import free_loopback
from tests.support.swift_aio import swift_aio  # noqa: F401  (fixture)
from trove_lite.drivers.storage.local import LocalStorage
from trove_lite.drivers.storage.swift import SwiftStorage
from trove_lite.guestagent.datastore.mariadb.server import MariaDBServer

AREA = 203
SEGMENT = 256 * 1024


def swift_storage(aio, segment_size=SEGMENT):
    def factory():
        return swiftclient.Connection(authurl=aio.auth_url, user=aio.user, key=aio.key,
                                      retries=1, starting_backoff=0.2, max_backoff=0.5,
                                      timeout=10)
    return SwiftStorage(factory, segment_size=segment_size)


@pytest.fixture(params=["local", "swift"])
def store(request, tmp_state_dir):
    """(driver, container) for each store; the container is new for each test."""
    if request.param == "local":
        return LocalStorage(os.path.join(tmp_state_dir, "store")), "backups"
    aio = request.getfixturevalue("swift_aio")
    return swift_storage(aio), "b-" + uuid.uuid4().hex[:10]


def stored_names(storage, container):
    """Every object name the store holds under ``container`` (segments included)."""
    if isinstance(storage, LocalStorage):
        root = os.path.join(storage.root, container)
        return sorted(os.path.relpath(os.path.join(d, f), root)
                      for d, _, files in os.walk(root) for f in files)
    names = []
    for c in (container, container + "_segments"):
        try:
            names += [c + "/" + o["name"] for o in
                      storage.conn.get_container(c, full_listing=True)[1]]
        except swiftclient.ClientException as exc:
            if exc.http_status != 404:
                raise
    return sorted(names)


@pytest.fixture
def restored_server():
    """``start(datadir)`` runs mariadbd on a restored datadir; stopped at teardown."""
    started = []

    def start(datadir):
        base = tempfile.mkdtemp(prefix="trove-lite-restored-")
        server = MariaDBServer(base, bind_address=free_loopback(AREA), datadir=datadir,
                               options=BINLOG_OPTIONS)
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.destroy()


def load_shop(server, rows=20000):
    """A few MB of data, a user with grants, on ``server``."""
    with server.connect() as conn, conn.cursor() as cur:
        cur.execute("CREATE DATABASE shop")
        cur.execute("CREATE TABLE shop.orders (id INT PRIMARY KEY, customer VARCHAR(40), "
                    "amount DECIMAL(10,2), note TEXT)")
        cur.execute("INSERT INTO shop.orders SELECT seq, CONCAT('customer-', seq MOD 977), "
                    "seq * 1.25, REPEAT(MD5(seq), 3) FROM shop.seq_1_to_%d" % rows)
        cur.execute("CREATE USER 'app'@'%' IDENTIFIED BY 'app-pw'")
        cur.execute("GRANT SELECT, INSERT ON shop.* TO 'app'@'%'")


def snapshot(server):
    """What a user would compare: table checksums, row counts, users."""
    with server.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT table_schema, table_name FROM information_schema.tables "
                    "WHERE table_schema = 'shop' ORDER BY 1, 2")
        tables = ["`%s`.`%s`" % row for row in cur.fetchall()]
        cur.execute("CHECKSUM TABLE " + ", ".join(tables))
        checksums = dict(cur.fetchall())
        cur.execute("SELECT COUNT(*) FROM shop.orders")
        count = cur.fetchone()[0]
        cur.execute("SELECT CONCAT(user, '@', host) FROM mysql.user WHERE user = 'app'")
        users = [r[0] for r in cur.fetchall()]
    return {"checksums": checksums, "orders": count, "users": users}
