"""Instance events, the console's files and the DB-read metrics (issue 20), on the
API stack of ``api_env`` (the taskmanager is a recorder: rows are written as the
flows and the conductor write them)."""

import datetime
import json
import uuid

import requests
from sqlalchemy import select

from tests.functional.api.test_metrics_health import samples
from trove_lite.db import models
from trove_lite.instance import events
from trove_lite.rpc.context import bind_request_id


def _create(api_env, tenant, name):
    client = api_env.client(tenant)
    return client.instances.create(name, "1", volume={"size": 1}, datastore="mariadb",
                                   datastore_version="10.11")


def test_events_newest_first_paged_and_tenant_isolated(api_env, tenant):
    inst = _create(api_env, tenant, "ev-" + uuid.uuid4().hex[:6])
    bind_request_id("req-from-the-api")
    try:
        for i in range(5):
            events.record(api_env.db, inst.id, "restart", "restart %d" % i)
    finally:
        bind_request_id(None)
    events.record(api_env.db, "no-such-instance", "restart")  # logged, never raises

    resp = api_env.http("GET", tenant, "/instances/%s/events?limit=3" % inst.id)
    assert resp.status_code == 200, resp.text
    page = resp.json()
    assert [e["detail"] for e in page["events"]] == ["restart 4", "restart 3", "restart 2"]
    assert {e["kind"] for e in page["events"]} == {"restart"}
    assert page["events"][0]["request_id"] == "req-from-the-api"
    nxt = page["links"][0]["href"]
    rest = requests.get(nxt, timeout=10).json()
    assert [e["detail"] for e in rest["events"]] == ["restart 1", "restart 0"]
    assert rest["links"] == []

    other = "t" + uuid.uuid4().hex[:12]
    resp = api_env.http("GET", other, "/instances/%s/events" % inst.id)
    assert resp.status_code == 404 and "itemNotFound" in resp.json()
    bad = api_env.http("GET", tenant, "/instances/%s/events?marker=abc" % inst.id)
    assert bad.status_code == 400 and "marker" in bad.json()["badRequest"]["message"]


def test_console_files_are_served_with_a_strict_policy(api_env):
    page = requests.get(api_env.url + "/console", timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "/console/console.js" in page.text and "http" not in page.text.split("<body>")[1]
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    js = requests.get(api_env.url + "/console/console.js", timeout=10)
    assert js.status_code == 200 and "text/javascript" in js.headers["Content-Type"]
    assert requests.get(api_env.url + "/console/../setup.cfg", timeout=10).status_code == 404
    assert requests.get(api_env.url + "/console/nothing.js", timeout=10).status_code == 404
    assert requests.post(api_env.url + "/console/", timeout=10).status_code == 405


def test_metrics_backup_throughput_and_failovers(api_env, tenant):
    inst = _create(api_env, tenant, "m-" + uuid.uuid4().hex[:6])
    start = datetime.datetime(2026, 1, 1, 12, 0, 0)
    with api_env.db.session() as s:
        s.add(models.Backup(name="b", tenant_id=tenant, instance_id=inst.id,
                            status="COMPLETED", created=start,
                            updated=start + datetime.timedelta(seconds=4),
                            meta=json.dumps({"size_bytes": 40 * 1024 * 1024})))
    before = samples(requests.get(api_env.url + "/metrics", timeout=10).text)
    failovers = before["trove_lite_failovers_total"][0][1]
    events.record(api_env.db, inst.id, "failover", "from x: dead")
    scrape = samples(requests.get(api_env.url + "/metrics", timeout=10).text)
    assert scrape["trove_lite_failovers_total"] == [({}, failovers + 1)]
    rates = dict((labels["instance_id"], v) for labels, v in
                 scrape["trove_lite_backup_throughput_bytes_per_second"])
    assert rates[inst.id] == 10 * 1024 * 1024

    # an instance restored from that backup, ACTIVE 8 s after its create request
    restored = _create(api_env, tenant, "r-" + uuid.uuid4().hex[:6])
    with api_env.db.session() as s:
        row = s.get(models.Instance, restored.id)
        row.restore_backup_id = s.execute(select(models.Backup.id).where(
            models.Backup.instance_id == inst.id)).scalar_one()
        row.created = start
        s.add(models.InstanceEvent(instance_id=restored.id, tenant_id=tenant, kind="create",
                                   created=start + datetime.timedelta(seconds=8)))
    scrape = samples(requests.get(api_env.url + "/metrics", timeout=10).text)
    restores = dict((labels["instance_id"], v) for labels, v in
                    scrape["trove_lite_restore_throughput_bytes_per_second"])
    assert restores == {restored.id: 5 * 1024 * 1024}
    assert tenant not in requests.get(api_env.url + "/metrics", timeout=10).text
