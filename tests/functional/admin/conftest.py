"""Control planes for the admin tests (instances on 127.202.*), and the Keystone fixture."""

import shutil
import tempfile
import time

import pymysql

from tests.functional.controlplane.conftest import destroy_everything
from tests.support.controlplane import ControlPlane
from tests.support.keystone_aio import keystone_aio  # noqa: F401  (session fixture)

def start_control_plane(prefix, extra_conf=""):
    base = tempfile.mkdtemp(prefix=prefix)
    cp = ControlPlane(base, extra_conf=extra_conf, address_area=202)
    try:
        cp.start_aio()
    except BaseException:
        cp.stop()
        shutil.rmtree(base, ignore_errors=True)
        raise
    return cp


def stop_control_plane(cp, clients):
    """Delete every instance the ``clients`` see, wait (<= 60 s), then stop and clean."""
    try:
        for client in clients:
            for inst in client.instances.list():
                try:
                    client.instances.delete(inst.id)
                except Exception:
                    pass
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and any(c.instances.list() for c in clients):
            time.sleep(0.5)
    except Exception:
        pass
    destroy_everything(cp)
    shutil.rmtree(cp.base_dir, ignore_errors=True)


def connect(address, user, password, database=None):
    return pymysql.connect(host=address, port=3306, user=user, password=password,
                           database=database, autocommit=True, connect_timeout=5)


def can_login(address, user, password, database=None):
    try:
        connect(address, user, password, database).close()
        return True
    except pymysql.err.OperationalError:
        return False
