"""Datastore logs behind a real Keystone with a real Swift (authtoken +
keystoneauth, keymaster + encryption in its proxy): ``[logs] store = auto``
publishes into the tenant's own Swift account with the user's token, as Trove
does, so python-troveclient's ``log_generator`` and ``log_save`` (what
``openstack database log tail/save`` run) read the log from Swift unchanged,
another project cannot read it, and the object servers' files hold no clear text.
"""

import os
import shutil
import tempfile
import uuid

import pymysql
import pytest
import swiftclient
from swiftclient import exceptions as swift_exc
from troveclient import exceptions as trove_exceptions

from tests.functional.admin.conftest import stop_control_plane
from tests.functional.admin.test_keystone_e2e import client, password_session
from tests.support.controlplane import ControlPlane, wait_for_status
from tests.support.keystone_aio import PASSWORD, keystone_aio  # noqa: F401  (fixture)
from tests.support.swift_aio import SwiftAIO

USER, DB_PASSWORD = "app", "app-Pw-1"


def user_swift(keystone, user, project):
    """The user's own swiftclient connection (Keystone v3, as a user configures it)."""
    return swiftclient.Connection(
        authurl=keystone.auth_url, user=user, key=PASSWORD, auth_version="3",
        os_options={"project_name": project, "user_domain_id": "default",
                    "project_domain_id": "default"})


@pytest.fixture(scope="module")
def env(keystone_aio):  # noqa: F811
    swift = SwiftAIO(area=203, keystone=keystone_aio)
    base = tempfile.mkdtemp(prefix="trove-lite-logs-ks-")
    cp = None
    try:
        swift.start()
        keystone_aio.add_endpoint("object-store", swift.url + "AUTH_$(project_id)s", "swift")
        cp = ControlPlane(base, heartbeat_interval=2, extra_conf=(
            "[api]\nauth_strategy = keystone\n" + keystone_aio.authtoken_config()
            + "\n[backup_storage]\ndriver = swift\n\n[storage_swift]\nauth_url = %s\n"
            "auth_version = 3\nuser = admin\nkey = %s\nproject_name = admin\n\n"
            "[logs]\nobject_size = 4096\n" % (keystone_aio.auth_url, PASSWORD)))
        cp.start_aio()
        projects = keystone_aio.projects
        trove = {name: client(cp, password_session(keystone_aio, user, name),
                              projects[name])
                 for name, user in (("alpha", "alpha-user"), ("beta", "beta-user"))}
        inst = trove["alpha"].instances.create(
            "logs-ks", "1", volume={"size": 1}, datastore="mariadb",
            datastore_version="10.11", databases=[{"name": "shop"}],
            users=[{"name": USER, "password": DB_PASSWORD,
                    "databases": [{"name": "shop"}]}])
        inst = wait_for_status(trove["alpha"], inst.id, {"ACTIVE", "ERROR"}, timeout=180)
        assert inst.status == "ACTIVE", getattr(inst, "fault", None)
        yield type("Env", (), {"cp": cp, "trove": trove, "inst": inst, "swift": swift,
                               "keystone": keystone_aio, "projects": projects})
    finally:
        if cp is not None:
            stop_control_plane(cp, [c for c in locals().get("trove", {}).values()])
        swift.shutdown()
        shutil.rmtree(base, ignore_errors=True)


def run_query(env, sql):
    conn = pymysql.connect(host=env.inst.ip[0], port=3306, user=USER, password=DB_PASSWORD,
                           database="shop", autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


def disk_bytes(devices):
    """Every object file's bytes on the Swift disk, and how many there are."""
    found = []
    for root, _, files in os.walk(os.path.join(devices, "sdb1", "objects")):
        for name in files:
            if name.endswith(".data"):
                with open(os.path.join(root, name), "rb") as f:
                    found.append(f.read())
    return found


def test_troveclient_log_tail_and_save_read_the_tenants_own_swift(env, tmp_path):
    alpha, inst = env.trove["alpha"], env.inst
    alpha.instances.log_action(inst, "general", enable=True)
    marker = "ks_marker_%s" % uuid.uuid4().hex[:10]
    run_query(env, "SELECT '%s'" % marker)
    log = alpha.instances.log_action(inst, "general", publish=True)
    assert log.published > 0 and log.container == "database_logs"

    # what `openstack database log tail` runs, with the user's own Swift connection
    own = user_swift(env.keystone, "alpha-user", "alpha")
    own_url, _ = own.get_auth()
    assert own_url == env.swift.url + "AUTH_" + env.projects["alpha"]
    tail = "".join(alpha.instances.log_generator(inst, "general", lines=5, swift=own)())
    assert marker in tail
    assert len(tail.splitlines()) <= 5

    # `log save`: troveclient's log_save (its own Swift connection is the user's)
    alpha.instances._get_swift_client = lambda: own
    path = alpha.instances.log_save(inst, "general", filename=str(tmp_path / "g.log"))
    saved = open(path, "rb").read()
    assert marker.encode() in saved
    assert len(saved) == log.published  # the whole published log

    # the same bytes through our own CLI path (objects read back by the API)
    numbers = [o["number"] for o in alpha.instances.api.client.get(
        "/instances/%s/log/general/objects" % inst.id)[1]["objects"]]
    assert numbers == list(range(1, len(numbers) + 1))

    # another project: no log view, no read of alpha's account
    beta = env.trove["beta"]
    with pytest.raises(trove_exceptions.NotFound):
        beta.instances.log_show(inst, "general")
    theirs = user_swift(env.keystone, "beta-user", "beta")
    _, token = theirs.get_auth()
    for call in (lambda: swiftclient.get_container(own_url, token, "database_logs"),
                 lambda: swiftclient.get_object(own_url, token, "database_logs",
                                                log.metafile)):
        with pytest.raises(swift_exc.ClientException) as err:
            call()
        assert err.value.http_status in (401, 403)

    # at rest: Swift's encryption middleware; the object files hold no clear text
    files = disk_bytes(env.swift.devices)
    assert files, "no object files under %s" % env.swift.devices
    assert not [f for f in files if marker.encode() in f]


def test_discard_empties_the_tenants_container(env):
    alpha, inst = env.trove["alpha"], env.inst
    alpha.instances.log_action(inst, "general", enable=True)
    run_query(env, "SELECT 'discard me'")
    alpha.instances.log_action(inst, "general", publish=True)
    log = alpha.instances.log_action(inst, "general", discard=True)
    assert log.published == 0
    own = user_swift(env.keystone, "alpha-user", "alpha")
    _, listing = own.get_container(log.container, prefix=log.prefix)
    assert listing == []
