"""A real API process stack for the API tests.

``api_env`` (module scope, parametrized over SQLite and the machine's MariaDB)
gives: a migrated control-plane ``Database`` seeded with datastores and
flavors, the app served on a free 127.0.0.1 port, and a real oslo.messaging
RPC server on a unique taskmanager topic (RabbitMQ 127.0.0.1:5672) whose
``RecordingEndpoint`` records every cast the API sends.
"""

import json
import os
import shutil
import tempfile
import threading
import time
import uuid

import oslo_messaging as messaging
import pymysql
import pytest
import requests
from keystoneauth1 import noauth
from keystoneauth1 import session as ks_session
from sqlalchemy import func, select, update
from troveclient.v1 import client as trove_client

from trove_lite.api import server as api_server
from trove_lite.api import wsgi
from trove_lite.conductor.manager import ConductorManager
from trove_lite.config import make_conf
from trove_lite.db import models
from trove_lite.db.session import Database
from trove_lite.rpc import transport
from trove_lite.rpc.taskmanager import TaskManagerAPI

CAST_METHODS = ("create_instance", "delete_instance", "force_delete_instance",
                "restart_instance", "resize_flavor", "resize_volume", "reset_status",
                "update_access")


class RecordingEndpoint:
    """Taskmanager stand-in on the bus: records (method, kwargs) of each cast."""

    target = messaging.Target(version="1.3")

    def __init__(self):
        self.casts = []
        self.request_ids = []  # (method, instance_id, the cast's ctxt request_id)
        self._cond = threading.Condition()

    def _record(self, method, kwargs):
        with self._cond:
            self.casts.append((method, kwargs))
            self._cond.notify_all()

    def wait_for(self, method, instance_id, timeout=10.0):
        """The kwargs of the first ``method`` cast for ``instance_id`` (fails after timeout)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for name, kwargs in self.casts:
                    if name == method and kwargs.get("instance_id") == instance_id:
                        return kwargs
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("no %s cast for %s within %.0f s; got %r"
                                         % (method, instance_id, timeout, self.casts))
                self._cond.wait(left)

    def methods_for(self, instance_id):
        with self._cond:
            return [m for m, kw in self.casts if kw.get("instance_id") == instance_id]


def _make_cast_method(name):
    def method(self, ctxt, **kwargs):
        self.request_ids.append((name, kwargs.get("instance_id"), (ctxt or {}).get("request_id")))
        self._record(name, kwargs)
    method.__name__ = name
    return method


for _name in CAST_METHODS:
    setattr(RecordingEndpoint, _name, _make_cast_method(_name))


def seed(db):
    """Datastores and flavors, as trove-lite-manage would register them."""
    with db.session() as s:
        maria = models.Datastore(name="mariadb")
        mysql = models.Datastore(name="mysql")
        s.add_all([maria, mysql])
        s.flush()
        v1011 = models.DatastoreVersion(datastore_id=maria.id, name="10.11", image_id="img-1011",
                                        version="10.11.6", manager="mariadb")
        v105 = models.DatastoreVersion(datastore_id=maria.id, name="10.5", image_id="img-105",
                                       version="10.5.23", manager="mariadb", active=False)
        v80 = models.DatastoreVersion(datastore_id=mysql.id, name="8.0", image_id="img-80",
                                      version="8.0.36", manager="mysql")
        s.add_all([v1011, v105, v80])
        s.flush()
        maria.default_version_id = v1011.id
        mysql.default_version_id = v80.id
        s.add_all([
            models.Flavor(id="1", name="m1.small", ram=512, vcpus=1, disk=5),
            models.Flavor(id="2", name="m1.medium", ram=1024, vcpus=2, disk=10),
            models.Flavor(id="tiny-x", name="m1.tiny", ram=256, vcpus=1, disk=1),
            # mysql 8.0 only takes m1.medium
            models.DatastoreVersionFlavor(datastore_version_id=v80.id, flavor_id="2"),
        ])
        return {"mariadb": maria.id, "mysql": mysql.id, "10.11": v1011.id, "10.5": v105.id,
                "8.0": v80.id}


class _MariaDBSchema:
    def __init__(self):
        self.name = "tl_api_" + uuid.uuid4().hex[:10]
        self._sql("CREATE DATABASE `%s` CHARACTER SET utf8mb4" % self.name)
        self.url = "mysql+pymysql://root@127.0.0.1:3306/%s?charset=utf8mb4" % self.name

    @staticmethod
    def _sql(statement):
        conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="")
        try:
            with conn.cursor() as cur:
                cur.execute(statement)
        finally:
            conn.close()

    def drop(self):
        self._sql("DROP DATABASE IF EXISTS `%s`" % self.name)


class ApiEnv:
    def __init__(self, backend, db, ids, conf, endpoint, server):
        self.backend = backend
        self.db = db
        self.ids = ids
        self.conf = conf
        self.recorder = endpoint
        self.server = server
        self.url = server.url

    def endpoint(self, tenant):
        return "%s/v1.0/%s" % (self.url, tenant)

    def create_request(self, instance_id):
        """The users and databases the API stored (encrypted) for the taskmanager."""
        from trove_lite.db.create_requests import CreateRequests
        return CreateRequests(self.conf, self.db).load(instance_id)

    def client(self, tenant):
        auth = noauth.NoAuth(endpoint=self.endpoint(tenant))
        return trove_client.Client(session=ks_session.Session(auth=auth, timeout=30))

    def http(self, method, tenant, path, body=None, raw=None, headers=None):
        """A raw request (for bodies troveclient would never send)."""
        hdrs = {"Content-Type": "application/json"}
        hdrs.update(headers or {})
        data = raw if raw is not None else (None if body is None else json.dumps(body))
        return requests.request(method, self.endpoint(tenant) + path, data=data,
                                headers=hdrs, timeout=30)

    def count_instances(self, tenant):
        with self.db.session() as s:
            return s.execute(select(func.count()).select_from(models.Instance).where(
                models.Instance.tenant_id == tenant)).scalar_one()

    def make_active(self, instance_id, volume_used=None):
        """What the taskmanager and conductor do when a build finishes."""
        with self.db.session() as s:
            s.execute(update(models.Instance).where(models.Instance.id == instance_id).values(
                task_status="NONE", task_started_at=None, address="127.77.1.2",
                task_seq=models.Instance.claim_seq))   # the create claim, adopted
        # the guest's heartbeat, through the conductor (the only writer of the status)
        payload = {"service_status": "HEALTHY"}
        if volume_used is not None:
            payload["volume_used"] = volume_used
        ConductorManager(self.db).heartbeat({}, instance_id, payload, sent=time.time())


@pytest.fixture(scope="module", params=["sqlite", "mariadb"])
def api_env(request):
    backend = request.param
    tmp = tempfile.mkdtemp(prefix="trove-lite-api-")
    schema = None
    if backend == "sqlite":
        url = "sqlite:///" + os.path.join(tmp, "control.sqlite")
    else:
        schema = _MariaDBSchema()
        url = schema.url
    db = Database(url)
    db.sync()
    ids = seed(db)
    conf = make_conf(overrides={"taskmanager.topic": "tm-test-" + uuid.uuid4().hex,
                                "state_dir": tmp})
    recorder = RecordingEndpoint()
    rpc_server = transport.make_server(conf, conf.taskmanager.topic, "test", [recorder])
    rpc_server.start()
    app = wsgi.make_app(conf, db, TaskManagerAPI(conf))
    server = api_server.serve(conf, app, "127.0.0.1", 0)
    try:
        yield ApiEnv(backend, db, ids, conf, recorder, server)
    finally:
        server.shutdown()
        rpc_server.stop()
        rpc_server.wait()
        # only this conf's transport: others may be in use by other fixtures
        transport.release(conf)
        db.dispose()
        if schema is not None:
            schema.drop()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def tenant():
    """A fresh tenant per test, so row counts and listings are the test's own."""
    return "t" + uuid.uuid4().hex[:12]
