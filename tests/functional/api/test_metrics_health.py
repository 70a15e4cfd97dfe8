"""/healthz, /readyz and /metrics on a real API process."""

import json
import socket
import time
import uuid

import requests
import webob
from prometheus_client.parser import text_string_to_metric_families

from trove_lite.api import health, wsgi
from trove_lite.config import make_conf
from trove_lite.db import models
from trove_lite.db.session import Database


def samples(text):
    """{metric sample name: [(labels, value)]} of one scrape."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def test_healthz_and_readyz_answer_without_a_token(api_env):
    resp = requests.get(api_env.url + "/healthz", timeout=10)
    assert resp.status_code == 200 and resp.json() == {"status": "ok"}
    resp = requests.get(api_env.url + "/readyz", timeout=10)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"status": "ready"}
    resp = requests.post(api_env.url + "/readyz", timeout=10)
    assert resp.status_code == 405 and resp.headers["Allow"] == "GET, HEAD"


def _get(app, path):
    return webob.Request.blank(path).get_response(app)


def test_readyz_names_a_dead_control_database(api_env):
    """An app whose control DB URL points at a port nothing listens on."""
    dead = Database("mysql+pymysql://root@127.0.0.1:9/nothing")
    try:
        app = wsgi.make_app(api_env.conf, dead, None)
        assert _get(app, "/healthz").status_int == 200  # the process is still up
        resp = _get(app, "/readyz")
        assert resp.status_int == 503
        message = resp.json["serviceUnavailable"]["message"]
        assert resp.json["serviceUnavailable"]["code"] == 503
        assert "control database at 127.0.0.1:9 unreachable" in message
        assert "RabbitMQ" not in message  # the broker is up
        # the scrape still answers and says it could not read
        scrape = samples(_get(app, "/metrics").text)
        assert scrape["trove_lite_control_db_up"] == [({}, 0.0)]
    finally:
        dead.dispose()


def test_readyz_names_an_unreachable_rabbitmq(api_env):
    conf = make_conf(overrides={"transport_url": "rabbit://guest:s3cret@127.0.0.1:9/",
                                "state_dir": api_env.conf.state_dir})
    resp = _get(wsgi.make_app(conf, api_env.db, None), "/readyz")
    assert resp.status_int == 503
    message = resp.json["serviceUnavailable"]["message"]
    assert "RabbitMQ unreachable at 127.0.0.1:9" in message and "control database" not in message
    assert "s3cret" not in resp.text


def test_metrics_after_requests(api_env, tenant):
    client = api_env.client(tenant)
    inst = client.instances.create("secret-name-" + uuid.uuid4().hex[:6], "1",
                                   volume={"size": 1}, datastore="mariadb",
                                   datastore_version="10.11")
    client.instances.get(inst.id)
    client.instances.get(inst.id)
    assert requests.get(api_env.endpoint(tenant) + "/instances/nope-" + tenant,
                        timeout=10).status_code == 404
    assert requests.get(api_env.endpoint(tenant) + "/no-such-thing/" + inst.name,
                        timeout=10).status_code == 404
    replica_id = str(uuid.uuid4())
    with api_env.db.session() as s:
        # what the conductor stores from a replica's heartbeat
        s.add(models.Instance(id=replica_id, name="replica-of-" + inst.name, tenant_id=tenant,
                              flavor_id="1", datastore_version_id=api_env.ids["10.11"],
                              slave_of_id=inst.id))
        s.add(models.ServiceStatus(instance_id=replica_id, status="HEALTHY",
                                   replication=json.dumps({"role": "replica",
                                                           "source_id": inst.id,
                                                           "lag_seconds": 4.5})))
        s.add(models.Backup(name="b-" + tenant, tenant_id=tenant, instance_id=inst.id,
                            status="COMPLETED"))
    api_env.make_active(inst.id)

    resp = requests.get(api_env.url + "/metrics", timeout=10)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    scrape = samples(resp.text)

    def count(route, method, status):
        return sum(v for labels, v in scrape["trove_lite_api_request_duration_seconds_count"]
                   if labels == {"route": route, "method": method, "status": status})

    show = "/v1.0/{tenant_id}/instances/{instance_id}"
    assert count(show, "GET", "200") >= 2
    assert count(show, "GET", "404") >= 1
    assert count("/v1.0/{tenant_id}/instances", "POST", "200") >= 1
    assert count("unmatched", "GET", "404") >= 1  # an unknown path is not a label
    buckets = [lab for lab, _ in scrape["trove_lite_api_request_duration_seconds_bucket"]
               if lab["route"] == show]
    assert {"0.005", "+Inf"} <= {lab["le"] for lab in buckets}

    active = [v for lab, v in scrape["trove_lite_instances"]
              if lab == {"status": "ACTIVE", "task": "NONE"}]
    assert active and active[0] >= 2  # the instance and its replica
    ages = dict((lab["instance_id"], v)
                for lab, v in scrape["trove_lite_instance_heartbeat_age_seconds"])
    assert 0 <= ages[inst.id] < 300
    assert ({"instance_id": replica_id, "source_id": inst.id}, 4.5) in \
        scrape["trove_lite_replica_lag_seconds"]
    completed = [v for lab, v in scrape["trove_lite_backups"] if lab == {"status": "COMPLETED"}]
    assert completed and completed[0] >= 1
    assert scrape["trove_lite_control_db_up"] == [({}, 1.0)]
    # ids of instances may label per-instance series; tenants and names never
    assert tenant not in resp.text and inst.name not in resp.text


def test_readyz_gives_up_on_silent_dependencies_quickly(api_env):
    """A port that accepts and never answers (a hung host) for both the DB and the
    broker: 503 within the probe timeout, both probes run at once."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    port = silent.getsockname()[1]
    conf = make_conf(overrides={"transport_url": "rabbit://guest:guest@127.0.0.1:%d/" % port,
                                "state_dir": api_env.conf.state_dir})
    db = Database("mysql+pymysql://root@127.0.0.1:%d/x" % port)
    try:
        started = time.monotonic()
        resp = _get(wsgi.make_app(conf, db, None), "/readyz")
        elapsed = time.monotonic() - started
    finally:
        db.dispose()
        silent.close()
    assert resp.status_int == 503
    message = resp.json["serviceUnavailable"]["message"]
    assert "control database at 127.0.0.1:%d" % port in message
    assert "RabbitMQ unreachable at 127.0.0.1:%d" % port in message
    assert elapsed < 2 * health.PROBE_TIMEOUT, elapsed  # not the sum of retries
