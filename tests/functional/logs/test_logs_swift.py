"""Datastore logs published to a real Swift (tempauth all-in-one): the same
publish, tail and discard as with the local store, objects encrypted in Swift."""

import shutil
import tempfile
import uuid

import pytest
import swiftclient

from tests.functional.controlplane.conftest import destroy_everything
from tests.functional.logs.test_logs import USER, PASSWORD, cli_run, run_query
from tests.support.controlplane import ControlPlane, wait_for_status
from tests.support.swift_aio import swift_aio  # noqa: F401  (fixture)


@pytest.fixture(scope="module")
def env(swift_aio):  # noqa: F811
    base = tempfile.mkdtemp(prefix="trove-lite-logs-swift-")
    cp = ControlPlane(base, heartbeat_interval=2, extra_conf=(
        "[backup_storage]\ndriver = swift\n\n[storage_swift]\nauth_url = %s\nuser = %s\n"
        "key = %s\nretries = 1\ntimeout = 10\n\n[logs]\ncontainer = logs_%s\n"
        % (swift_aio.auth_url, swift_aio.user, swift_aio.key, uuid.uuid4().hex[:8])))
    try:
        cp.start_aio()
        trove = cp.client("demo")
        inst = trove.instances.create(
            "logs-swift", "1", volume={"size": 1}, datastore="mariadb",
            datastore_version="10.11", databases=[{"name": "shop"}],
            users=[{"name": USER, "password": PASSWORD, "databases": [{"name": "shop"}]}])
        inst = wait_for_status(trove, inst.id, {"ACTIVE", "ERROR"}, timeout=180)
        assert inst.status == "ACTIVE", getattr(inst, "fault", None)
        swift = swiftclient.Connection(authurl=swift_aio.auth_url, user=swift_aio.user,
                                       key=swift_aio.key)
        yield type("Env", (), {"cp": cp, "trove": trove, "inst": inst, "swift": swift})
    finally:
        destroy_everything(cp)
        shutil.rmtree(base, ignore_errors=True)


def test_publish_tail_and_discard_through_swift(env, capsys):
    log = env.trove.instances.log_action(env.inst, "general", enable=True)
    marker = "swift_marker_%s" % uuid.uuid4().hex[:8]
    run_query(env, "SELECT '%s'" % marker)
    rc, out, err = cli_run(env, capsys, "log-tail", env.inst.id, "general", "--lines", "3")
    assert rc == 0, err
    assert marker in out
    _, listing = env.swift.get_container(log.container, prefix=log.prefix)
    assert listing, "nothing published under %s/%s" % (log.container, log.prefix)
    for obj in listing:
        _, data = env.swift.get_object(log.container, obj["name"])
        assert marker.encode() not in data  # encrypted at rest
    env.swift.head_object(log.container, log.metafile)
    shown = env.trove.instances.log_action(env.inst, "general", discard=True)
    assert shown.published == 0
    _, listing = env.swift.get_container(log.container, prefix=log.prefix)
    assert listing == []
