import os
import shutil
import tempfile

import pymysql
import pytest

from tests.functional.controlplane.conftest import destroy_everything
from tests.functional.replication.conftest import create_source
from tests.support.controlplane import ControlPlane, wait_for_status
from trove_lite.drivers.endpoint.haproxy import remove_all


@pytest.fixture(scope="module")
def cp():
    base = tempfile.mkdtemp(prefix="trove-lite-ha-")
    plane = ControlPlane(base, heartbeat_interval=1, extra_conf=(
        "\n[replication]\nswitchover_timeout = 20\n\n[ha]\nendpoint_refresh_interval = 1\n"
        "source_fence_after = 3\n"
    )).start_aio()
    yield plane
    if os.environ.get("HA_DEBUG"):      # a copy of the logs to read after a failure
        for name in os.listdir(base):
            if name.endswith(".log"):
                shutil.copy(os.path.join(base, name), os.environ["HA_DEBUG"])
        servers = os.path.join(plane.state_dir, "servers")
        for sid in os.listdir(servers) if os.path.isdir(servers) else ():
            for name in ("guest.log", os.path.join("mysql", "error.log")):
                path = os.path.join(servers, sid, name)
                if os.path.exists(path):
                    shutil.copy(path, os.path.join(os.environ["HA_DEBUG"], "%s-%s" % (
                        sid[:8], os.path.basename(name))))
    destroy_everything(plane)
    remove_all(plane.state_dir)    # the sets' HAProxies outlive the control plane
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def pair(cp):
    """A source with two replicas (the set the tests share), and its orders table."""
    trove = cp.client()
    src = create_source(trove, "ha-src")
    rep = trove.instances.create("ha-rep", "1", volume={"size": 1}, replica_of=src.id,
                                 replica_count=2)
    reps = []
    for rid in [rep.id] + [r["id"] for r in trove.instances.get(src.id).replicas
                           if r["id"] != rep.id]:
        inst = wait_for_status(trove, rid, {"ACTIVE", "ERROR"}, timeout=120)
        assert inst.status == "ACTIVE", getattr(inst, "fault", None)
        reps.append(inst)
    assert len(reps) == 2
    return {"source": src, "replica": reps[0], "sibling": reps[1]}


def connect_to(endpoint, **kw):
    host, port = endpoint.rsplit(":", 1)
    kw.setdefault("connect_timeout", 2)
    return pymysql.connect(host=host, port=int(port), user="alice", password="s3cret-Pw",
                           database="shop", autocommit=True, **kw)
