import os
import shutil
import tempfile

import pymysql
import pytest

from tests.support.net import free_loopback
from trove_lite.guestagent.datastore.mariadb.app import MariaDBApp
from trove_lite.guestagent.datastore.mariadb.server import MariaDBServer

TEMPLATE = os.path.join(os.path.dirname(__file__), "..", "..", "..",
                        "templates", "mariadb", "config.template")
SMALL_FLAVOR = {"ram": 512, "vcpus": 1}


def new_app(ping_timeout=2):
    """An unprepared app: base dir + a datadir on a separate 'volume' directory."""
    root = tempfile.mkdtemp(prefix="trove-lite-guest-")
    server = MariaDBServer(os.path.join(root, "state"), bind_address=free_loopback(202),
                           port=3306, datadir=os.path.join(root, "mnt", "data"))
    os.makedirs(server.base_dir)
    return MariaDBApp(server, TEMPLATE, ping_timeout=ping_timeout), root


def tcp(server, user, password, database=None):
    """A client connection over TCP to the instance's own address, as a user would."""
    return pymysql.connect(host=server.bind_address, port=server.port, user=user,
                           password=password, database=database, connect_timeout=5,
                           autocommit=True)


@pytest.fixture
def app_factory():
    made = []

    def factory(**kw):
        app, root = new_app(**kw)
        made.append((app, root))
        return app

    yield factory
    for app, root in made:
        app.server.stop(timeout=10)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def module_app():
    """One prepared instance shared by a module's tests (saves a start per test)."""
    app, root = new_app()
    try:
        app.prepare(SMALL_FLAVOR, server_id=202)
        yield app
    finally:
        app.server.stop(timeout=10)
        shutil.rmtree(root, ignore_errors=True)
