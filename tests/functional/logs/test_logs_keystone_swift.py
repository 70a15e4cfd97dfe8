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
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import generic
import swiftclient
from swiftclient import exceptions as swift_exc
from troveclient import exceptions as trove_exceptions
from troveclient.v1 import client as trove_client

from tests.functional.admin.conftest import stop_control_plane
from tests.support.controlplane import ControlPlane, wait_for_status
from tests.support.keystone_aio import PASSWORD, KeystoneAIO
from tests.support.swift_aio import SwiftAIO

USER, DB_PASSWORD = "app", "app-Pw-1"


def password_session(keystone, user, project):
    """A password login as the OpenStack client makes it (keystoneauth's generic
    Password plugin, which troveclient's log_save takes the Swift login from)."""
    return ks_session.Session(auth=generic.Password(
        auth_url=keystone.auth_url, username=user, password=PASSWORD,
        project_name=project, user_domain_id="default", project_domain_id="default"))


def user_swift(keystone, user, project):
    """The user's own swiftclient connection (Keystone v3, as a user configures it)."""
    return swiftclient.Connection(
        authurl=keystone.auth_url, user=user, key=PASSWORD, auth_version="3",
        os_options={"project_name": project, "user_domain_id": "default",
                    "project_domain_id": "default"})


@pytest.fixture(scope="module")
def env():
    base = tempfile.mkdtemp(prefix="trove-lite-logs-ks-")
    # a Keystone of our own: its catalog gets object-store and database endpoints
    keystone_aio = KeystoneAIO(os.path.join(base, "keystone"))
    swift = SwiftAIO(area=203, keystone=keystone_aio, encryption=True)
    cp = None
    try:
        keystone_aio.start()
        swift.start()
        keystone_aio.add_endpoint("object-store", swift.url + "AUTH_$(project_id)s", "swift")
        cp = ControlPlane(base, heartbeat_interval=2, extra_conf=(
            "[api]\nauth_strategy = keystone\n" + keystone_aio.authtoken_config()
            + "\n[backup_storage]\ndriver = swift\n\n[storage_swift]\nauth_url = %s\n"
            "auth_version = 3\nuser = admin\nkey = %s\nproject_name = admin\n\n"
            "[logs]\nobject_size = 4096\nmax_size = 65536\n" % (keystone_aio.auth_url, PASSWORD)))
        cp.start_aio()
        keystone_aio.add_endpoint("database", cp.endpoint("$(project_id)s"), "trove")
        projects = keystone_aio.projects
        # as the OpenStack client builds it: auth plugin + session, endpoint from
        # the catalog
        sessions = {name: password_session(keystone_aio, user, name)
                    for name, user in (("alpha", "alpha-user"), ("beta", "beta-user"))}
        trove = {name: trove_client.Client(auth=sess.auth, session=sess)
                 for name, sess in sessions.items()}
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
        keystone_aio.stop()
        shutil.rmtree(base, ignore_errors=True)


def run_query(env, *sqls):
    conn = pymysql.connect(host=env.inst.ip[0], port=3306, user=USER, password=DB_PASSWORD,
                           database="shop", autocommit=True)
    try:
        with conn.cursor() as cur:
            for sql in sqls:
                cur.execute(sql)
            return cur.fetchall()
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
    # (the guest's health probe logs 4 lines every 2 s: 12 lines hold the query)
    tail = "".join(alpha.instances.log_generator(inst, "general", lines=12, swift=own)())
    assert marker in tail
    assert len(tail.splitlines()) <= 12

    # `log save`: troveclient's log_save, which logs in to Swift itself
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


def test_a_filled_general_log_rotates_and_all_of_it_reaches_swift(env, tmp_path):
    """max_size 64 KiB: each round writes ~130 KiB; the volume keeps at most the
    current file and ``keep`` (2) rotated ones, and log_save has every round."""
    alpha, inst = env.trove["alpha"], env.inst
    alpha.instances.log_action(inst, "general", enable=True)
    alpha.instances.log_action(inst, "general", publish=True)
    log_dir = os.path.dirname(run_query(env, "SELECT @@general_log_file")[0][0])
    for round_ in range(2):
        run_query(env, "SELECT 1", *["SELECT 'ksrot_%d_%04d', '%s'" % (round_, i, "z" * 100)
                                     for i in range(600)])
        alpha.instances.log_action(inst, "general", publish=True)
        log = alpha.instances.log_action(inst, "general", publish=True)
        names = [n for n in os.listdir(log_dir) if n.startswith("general.log")]
        assert len(names) <= 3, names  # the current file and keep = 2 rotated ones
        assert sum(os.path.getsize(os.path.join(log_dir, n)) for n in names) < 3 * 150000
    # (Partial: the guest's probe may log a line between the last read and the view)
    assert log.status in ("Published", "Partial", "Rotated") and log.pending < 65536
    path = alpha.instances.log_save(inst, "general", filename=str(tmp_path / "rot.log"))
    saved = open(path).read()
    for round_ in range(2):
        for i in (0, 599):
            assert "ksrot_%d_%04d" % (round_, i) in saved


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


def test_openstack_database_log_tail_and_save_unchanged(env, tmp_path):
    """``openstack database log tail`` with a password login, endpoints from the
    catalog, nothing but the stock clients."""
    import contextlib
    import io

    from openstackclient import shell
    from osc_lib.clientmanager import ClientCache, ClientManager
    for attr in vars(ClientManager).values():
        if isinstance(attr, ClientCache):
            attr._handle = None
    marker = "osc_marker_%s" % uuid.uuid4().hex[:10]
    env.trove["alpha"].instances.log_action(env.inst, "general", enable=True)
    run_query(env, "SELECT '%s'" % marker)
    env.trove["alpha"].instances.log_action(env.inst, "general", publish=True)

    def osc(*args):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = shell.main(["--os-auth-url", env.keystone.auth_url, "--os-username",
                             "alpha-user", "--os-password", PASSWORD, "--os-project-name",
                             "alpha", "--os-user-domain-id", "default",
                             "--os-project-domain-id", "default",
                             "--os-identity-api-version", "3", "database", "log", *args])
        assert rc == 0, err.getvalue()
        return out.getvalue()

    assert marker in osc("tail", env.inst.id, "general", "--lines", "12")
    out = osc("save", env.inst.id, "general", "--file", str(tmp_path / "all.log"))
    assert "written to" in out, out
    assert marker in (tmp_path / "all.log").read_text()
