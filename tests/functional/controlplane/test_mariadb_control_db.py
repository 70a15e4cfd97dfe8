"""The same control plane with its database on MariaDB instead of SQLite."""

import shutil
import tempfile
import time
import uuid

import pymysql
import pytest

from tests.functional.controlplane.conftest import destroy_everything
from tests.support.controlplane import ControlPlane, wait_for_status

pytestmark = pytest.mark.slow


def test_create_and_delete_with_the_control_plane_on_mariadb():
    schema = "trove_lite_cp_%s" % uuid.uuid4().hex[:10]
    admin = pymysql.connect(host="127.0.0.1", user="root", autocommit=True)
    admin.cursor().execute("CREATE DATABASE `%s` CHARACTER SET utf8mb4" % schema)
    base = tempfile.mkdtemp(prefix="trove-lite-cpmdb-")
    cp = ControlPlane(base, db_url="mysql+pymysql://root@127.0.0.1:3306/%s?charset=utf8mb4"
                      % schema)
    try:
        cp.start_aio()
        trove = cp.client("demo")
        inst = trove.instances.create("on-mariadb", "1", volume={"size": 1},
                                      datastore="mariadb", databases=[{"name": "d"}],
                                      users=[{"name": "u", "password": "Pw-on-mdb1",
                                              "databases": [{"name": "d"}]}])
        inst = wait_for_status(trove, inst.id, {"ACTIVE", "ERROR"}, timeout=120)
        assert inst.status == "ACTIVE"
        pymysql.connect(host=inst.ip[0], user="u", password="Pw-on-mdb1", database="d").close()
        with admin.cursor() as cur:
            cur.execute("SELECT task_status, deleted FROM `%s`.instances WHERE id=%%s" % schema,
                        (inst.id,))
            assert cur.fetchone() == ("NONE", 0)
            cur.execute("SELECT status FROM `%s`.service_statuses WHERE instance_id=%%s"
                        % schema, (inst.id,))
            assert cur.fetchone() == ("HEALTHY",)
        trove.instances.delete(inst.id)
        deadline = time.monotonic() + 60
        while trove.instances.list():
            assert time.monotonic() < deadline
            time.sleep(0.3)
    finally:
        destroy_everything(cp)
        shutil.rmtree(base, ignore_errors=True)
        admin.cursor().execute("DROP DATABASE `%s`" % schema)
        admin.close()
