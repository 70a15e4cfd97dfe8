"""Instance access and the mgmt instance actions, on a real all-in-one with a real
mariadbd, through python-troveclient.

One instance serves the whole module: it is created with allowed_cidrs, checked
from an allowed and a refused loopback source address, re-opened to another
source with PUT access, then stopped, rebooted and rebuilt by an admin.
"""

import os
import shutil
import subprocess
import tempfile
import time

import pymysql
import pytest
from troveclient import exceptions as tc_exc

from tests.functional.controlplane.conftest import destroy_everything
from tests.support.controlplane import ControlPlane, wait_for_status
from trove_lite.drivers.compute import firewall

pytestmark = pytest.mark.slow

PASSWORD = "Acc3ss-pw"
TENANT = "demo"  # the tenant whose leftovers destroy_everything deletes
ALLOWED, OTHER = "127.0.0.1", "127.0.0.2"  # both are this machine's (127/8 is loopback)


def can_connect(address, source):
    try:
        pymysql.connect(host=address, port=3306, user="app", password=PASSWORD,
                        database="shop", bind_address=source, connect_timeout=3).close()
        return True
    except pymysql.err.OperationalError:
        return False


def wait_until(predicate, timeout=20, what=""):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "not within %d s: %s" % (timeout, what)
        time.sleep(0.3)


def nft_tables():
    return subprocess.run(["nft", "list", "tables"], capture_output=True, text=True,
                          check=True).stdout


@pytest.fixture(scope="module")
def plane():
    if shutil.which("nft") is None:
        pytest.fail("nft is not installed (tools/bootstrap.sh installs nftables)")
    base = tempfile.mkdtemp(prefix="trove-lite-access-")
    cp = ControlPlane(base)
    try:
        cp.start_aio()  # its taskmanager listens before its API answers
        yield cp
    finally:
        destroy_everything(cp)
        subprocess.run(["nft", "delete", "table", "inet", table_of(cp)], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def instance(plane):
    client = plane.client(TENANT)
    inst = client.instances.create(
        "guarded", "1", volume={"size": 1}, datastore="mariadb",
        databases=[{"name": "shop"}],
        users=[{"name": "app", "password": PASSWORD, "databases": [{"name": "shop"}]}],
        access={"is_public": False, "allowed_cidrs": [ALLOWED + "/32"]})
    inst = wait_for_status(client, inst.id, ("ACTIVE", "ERROR"), timeout=180)
    assert inst.status == "ACTIVE", plane.diagnose()
    return inst


def table_of(plane):
    return firewall.table_name(os.path.abspath(plane.state_dir))


def test_allowed_cidrs_are_shown_and_enforced(plane, instance):
    client = plane.client(TENANT)
    shown = client.instances.get(instance.id)
    assert shown.access == {"is_public": False, "allowed_cidrs": ["127.0.0.1/32"]}
    address = shown.ip[0]
    assert can_connect(address, ALLOWED)
    assert not can_connect(address, OTHER)
    assert table_of(plane) in nft_tables()

    client.instances.update(instance.id, allowed_cidrs=[OTHER + "/32"])
    assert client.instances.get(instance.id).access["allowed_cidrs"] == ["127.0.0.2/32"]
    wait_until(lambda: can_connect(address, OTHER) and not can_connect(address, ALLOWED),
               what="the new allowed_cidrs applied")

    client.instances.update(instance.id, is_public=True, allowed_cidrs=[])
    assert client.instances.get(instance.id).access == {"is_public": True,
                                                        "allowed_cidrs": []}
    wait_until(lambda: can_connect(address, ALLOWED) and can_connect(address, OTHER),
               what="access open to every source again")
    with pytest.raises(tc_exc.BadRequest):
        client.instances.update(instance.id, allowed_cidrs=["10.0.0.300/8"])


def test_mgmt_actions_are_admin_only(plane, instance):
    user = plane.client(TENANT)
    for call in (lambda: user.mgmt_instances.stop(instance.id),
                 lambda: user.mgmt_instances.reboot(instance.id),
                 lambda: user.mgmt_instances.reset_task_status(instance.id),
                 lambda: user.mgmt_instances.rebuild(instance.id, "mariadb-10.11")):
        with pytest.raises(tc_exc.Forbidden):
            call()
    with pytest.raises(tc_exc.NotFound):
        plane.client("admin").mgmt_instances.stop("no-such-instance")


def test_mgmt_stop_reboot_reset_and_rebuild(plane, instance):
    admin, user = plane.client("admin"), plane.client(TENANT)
    address = user.instances.get(instance.id).ip[0]

    admin.mgmt_instances.stop(instance.id)
    wait_for_status(user, instance.id, ("SHUTDOWN",), timeout=30)
    assert not can_connect(address, ALLOWED)

    admin.mgmt_instances.reboot(instance.id)
    # the task is set before the answer: a stuck reboot is what reset-task-status clears
    assert admin.mgmt_instances.show(instance.id).task_description == "REBOOTING"
    admin.mgmt_instances.reset_task_status(instance.id)
    assert admin.mgmt_instances.show(instance.id).task_description == "NONE"
    wait_for_status(user, instance.id, ("ACTIVE",), timeout=120)
    assert can_connect(address, ALLOWED)

    with pytest.raises(tc_exc.BadRequest):
        admin.mgmt_instances.rebuild(instance.id, "no-such-image")
    admin.mgmt_instances.rebuild(instance.id, "mariadb-10.11")
    assert user.instances.get(instance.id).status == "REBOOT"
    wait_for_status(user, instance.id, ("ACTIVE",), timeout=120)
    wait_until(lambda: can_connect(address, ALLOWED), what="the rebuilt instance serves")


def test_delete_removes_the_access_rules(plane, instance):
    client = plane.client(TENANT)
    client.instances.update(instance.id, allowed_cidrs=[ALLOWED + "/32"])
    wait_until(lambda: table_of(plane) in nft_tables(), what="the table back")
    client.instances.delete(instance.id)
    wait_until(lambda: not client.instances.list(), timeout=60, what="the instance deleted")
    wait_until(lambda: table_of(plane) not in nft_tables(), what="the table removed")
