"""Two APIs, two taskmanagers and two conductors on one RabbitMQ exchange and one
MariaDB control database: 20 creates sent at once through both APIs each end
ACTIVE exactly once (one server, one volume, its user and database there), with
one of each service SIGKILLed while they build."""

import collections
import concurrent.futures
import re
import shutil
import tempfile
import time
import uuid

import pymysql
import pytest
import requests

from tests.functional.controlplane.conftest import destroy_everything
from tests.support.controlplane import ControlPlane

pytestmark = pytest.mark.slow

COUNT = 20


def _wait_listening(cp, label, timeout=60):
    deadline = time.monotonic() + timeout
    while "taskmanager listening on topic" not in cp.log_tail(label, 100000):
        assert time.monotonic() < deadline, cp.log_tail(label)
        time.sleep(0.1)


def _wait_http(cp, label, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get("http://127.0.0.1:%d/" % cp.port_of(label),
                            timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, cp.log_tail(label)
        time.sleep(0.2)


def test_twenty_creates_on_two_of_every_service_survive_killing_one_of_each():
    schema = "trove_lite_two_of_each_%s" % uuid.uuid4().hex[:8]
    admin = pymysql.connect(host="127.0.0.1", user="root", autocommit=True)
    admin.cursor().execute("CREATE DATABASE `%s` CHARACTER SET utf8mb4" % schema)
    base = tempfile.mkdtemp(prefix="trove-lite-two-")
    cp = ControlPlane(base, usage_timeout=150,
                      db_url="mysql+pymysql://root@127.0.0.1:3306/%s?charset=utf8mb4" % schema,
                      extra_conf="\n[taskmanager]\nflow_lease_seconds = 4\n"
                                 "\n[quota]\nmax_instances_per_tenant = %d\n" % COUNT)
    try:
        cp.start_services()
        for name in ("api", "conductor", "taskmanager"):
            cp.start_service(name, copy=2)
        _wait_http(cp, "api2")
        _wait_listening(cp, "taskmanager")
        _wait_listening(cp, "taskmanager2")
        apis = [cp.client_of("api"), cp.client_of("api2")]

        def create(i):
            return apis[i % 2].instances.create(
                "two-%02d" % i, "1", volume={"size": 1}, datastore="mariadb",
                databases=[{"name": "d%d" % i}],
                users=[{"name": "u%d" % i, "password": "Two-pw-%d" % i,
                        "databases": [{"name": "d%d" % i}]}]).id

        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(COUNT) as pool:
            ids = list(pool.map(create, range(COUNT)))
        assert len(set(ids)) == COUNT

        # mid-way: once some have a server and none is ACTIVE yet, kill one of each
        def count(sql):
            with admin.cursor() as cur:
                cur.execute(sql.replace("{s}", "`%s`" % schema))
                return cur.fetchone()[0]
        deadline = time.monotonic() + 60
        while count("SELECT COUNT(*) FROM {s}.instances WHERE server_id IS NOT NULL") < 3:
            assert time.monotonic() < deadline, cp.log_tail("taskmanager")
            time.sleep(0.1)
        active_at_kill = count("SELECT COUNT(*) FROM {s}.instances WHERE task_status='NONE'")
        for name in ("api", "taskmanager", "conductor"):
            cp.kill(name)

        survivor = apis[1]
        deadline = time.monotonic() + 150
        while True:
            statuses = {i.id: i.status for i in survivor.instances.list(limit=100)}
            if all(statuses.get(i) in ("ACTIVE", "ERROR") for i in ids):
                break
            assert time.monotonic() < deadline, "still building: %s\n%s" % (
                statuses, cp.log_tail("taskmanager2"))
            time.sleep(1)
        elapsed = time.monotonic() - started
        print("20 creates through two of each, one of each killed with %d ACTIVE: "
              "%.1f s" % (active_at_kill, elapsed))
        assert sorted(statuses) == sorted(ids)
        assert set(statuses.values()) == {"ACTIVE"}, statuses

        # exactly once: one server and one volume per instance, nothing else
        from trove_lite.cmd import aio as aio_cmd
        from trove_lite.drivers import factory
        drivers = factory.build_drivers(aio_cmd.make_aio_conf(
            cp.state_dir, config_files=[cp.conf_file]))
        servers = collections.Counter(
            s.name.removeprefix("trove-") for s in drivers.compute.list_servers())
        assert servers == collections.Counter(ids)
        assert len(drivers.volume.list_volumes()) == COUNT
        logs = cp.log_tail("taskmanager", 10 ** 6) + cp.log_tail("taskmanager2", 10 ** 6)
        created = collections.Counter(re.findall(r"instance (\S+): server \S+ created", logs))
        assert set(created.values()) == {1}, created
        assert "please report it as a BUG" not in logs
        # the killed taskmanager's creates were finished by the other one
        assert "resume_create" in cp.log_tail("taskmanager2", 10 ** 6)
        assert count("SELECT COUNT(*) FROM {s}.flow_leases") == 0

        # nothing lost: each user reaches its database
        for i, inst_id in enumerate(ids):
            inst = survivor.instances.get(inst_id)
            pymysql.connect(host=inst.ip[0], user="u%d" % i, password="Two-pw-%d" % i,
                            database="d%d" % i, connect_timeout=5).close()
    finally:
        if "api" not in cp.procs and "api2" in cp.procs:
            cp.procs["api"] = cp.procs.pop("api2")  # the cleanup talks to it
            cp.port = cp.port_of("api2")
        destroy_everything(cp)
        shutil.rmtree(base, ignore_errors=True)
        admin.cursor().execute("DROP DATABASE `%s`" % schema)
        admin.close()
