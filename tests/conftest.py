import shutil
import tempfile

import pytest

from tests.support.net import free_loopback
from trove_lite.guestagent.datastore.mariadb.server import MariaDBServer

BINLOG_OPTIONS = {
    "server_id": 1,
    "log_bin": "mysql-bin",
    "binlog_format": "ROW",
    "binlog_row_image": "FULL",
    "binlog_row_metadata": "FULL",
    "log_slave_updates": "ON",
    "innodb_buffer_pool_size": "128M",
    "innodb_log_file_size": "32M",
    "innodb_flush_log_at_trx_commit": 2,
    "sync_binlog": 0,
    "performance_schema": "OFF",
    "event_scheduler": "ON",
}


@pytest.fixture
def tmp_state_dir():
    d = tempfile.mkdtemp(prefix="trove-lite-test-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def mariadb_factory():
    """Start private mariadbd servers with binlogs on; all stopped at teardown.

    ``factory(area=202, **options)`` returns a started MariaDBServer bound to its
    own loopback address at port 3306.
    """
    started = []

    def factory(area=202, **options):
        base = tempfile.mkdtemp(prefix="trove-lite-mdb-")
        opts = dict(BINLOG_OPTIONS)
        opts.update(options)
        server = MariaDBServer(base, bind_address=free_loopback(area), port=3306,
                               options=opts)
        server.initialize()
        server.start()
        started.append(server)
        return server

    yield factory
    for server in started:
        server.destroy()
