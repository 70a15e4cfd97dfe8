"""Two deployments with default settings on one machine and one broker never meet.

Each all-in-one is started as an operator would, with nothing but its own state
directory (and so its own SQLite control DB) and API port: no exchange, topic or
address range is configured. Both create an instance with a user at the same
time; both must end ACTIVE, and each user logs in to its own instance only.
"""

import os
import shutil
import sys
import tempfile
import threading

import pymysql
import pytest

from tests.functional.controlplane.conftest import destroy_everything
from tests.support.controlplane import ControlPlane, wait_for_status
from tests.support.net import free_port

pytestmark = pytest.mark.slow


class DefaultAio(ControlPlane):
    """An all-in-one started with default settings (``ControlPlane`` would give it
    a private exchange, topics and /24)."""

    def __init__(self, base_dir):
        self.base_dir = base_dir
        self.state_dir = os.path.join(base_dir, "state")
        self.port = free_port()
        self.procs = {}
        self.conf_file = os.path.join(base_dir, "empty.conf")  # for the cleanup only
        open(self.conf_file, "w").close()

    def start_aio(self):
        self._spawn("aio", [sys.executable, "-m", "trove_lite.cmd.aio", "--state-dir",
                            self.state_dir, "--port", str(self.port)])
        self.wait_api()
        return self


def test_two_default_all_in_ones_on_one_broker_keep_to_themselves():
    bases = [tempfile.mkdtemp(prefix="trove-lite-iso-%d-" % n) for n in (1, 2)]
    planes = [DefaultAio(b) for b in bases]
    try:
        for cp in planes:
            cp.start_aio()
        made = {}

        def create(n, cp):
            trove = cp.client("faults")
            made[n] = trove.instances.create(
                "iso-%d" % n, "1", volume={"size": 1}, datastore="mariadb",
                databases=[{"name": "shop%d" % n}],
                users=[{"name": "clerk", "password": "Iso-pass-%d" % n,
                        "databases": [{"name": "shop%d" % n}]}])

        threads = [threading.Thread(target=create, args=(n, cp))
                   for n, cp in enumerate(planes)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        addresses = []
        for n, cp in enumerate(planes):
            inst = wait_for_status(cp.client("faults"), made[n].id, {"ACTIVE", "ERROR"},
                                   timeout=150)
            assert inst.status == "ACTIVE", (getattr(inst, "fault", None), cp.diagnose())
            addresses.append(inst.ip[0])
        assert addresses[0] != addresses[1]
        for n, address in enumerate(addresses):
            conn = pymysql.connect(host=address, port=3306, user="clerk",
                                   password="Iso-pass-%d" % n, database="shop%d" % n,
                                   connect_timeout=5)
            conn.close()
            with pytest.raises(pymysql.MySQLError):   # the other one's user is not here
                pymysql.connect(host=address, port=3306, user="clerk",
                                password="Iso-pass-%d" % (1 - n), connect_timeout=5)
        for cp in planes:
            log = cp.log_tail("aio", 100000)
            assert "unknown instance" not in log, log[-3000:]
            assert "already has a flow running here" not in log, log[-3000:]
    finally:
        for cp, base in zip(planes, bases):
            try:
                destroy_everything(cp)
            finally:
                shutil.rmtree(base, ignore_errors=True)
