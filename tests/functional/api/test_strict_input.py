"""Hostile and sloppy input: a clear 4xx in Trove's fault format, and nothing changes.

One case per class of defect found in the API's input handling. Raw HTTP, because troveclient
never sends most of these bodies.
"""

import json
import socket
import time

import pytest
import requests

from tests.functional.api.test_instances_api import create, fault
from trove_lite.api import server as api_server
from trove_lite.api import wsgi
from trove_lite.config import make_conf
from trove_lite.rpc.taskmanager import TaskManagerAPI

pytestmark = pytest.mark.slow


def instance_body(**extra):
    body = {"name": "x", "flavorRef": "1", "volume": {"size": 1},
            "datastore": {"type": "mariadb", "version": "10.11"}}
    body.update(extra)
    return {"instance": body}


def with_volume(**volume):
    return instance_body(volume=dict({"size": 1}, **volume))


BAD_CREATES = [
    ("unknown field", instance_body(colour="red"), "colour"),
    ("unknown top-level field", dict(instance_body(), extra=1), "extra"),
    ("unknown volume field", with_volume(iops=5), "iops"),
    ("unknown user field", instance_body(users=[{"name": "u", "password": "p", "admin": 1}]),
     "admin"),
    ("NUL in name", instance_body(name="db\x00one"), "instance/name"),
    ("control character in name", instance_body(name="db\x1bone"), "instance/name"),
    ("name longer than its column", instance_body(name="n" * 256), "instance/name"),
    ("NUL in database name", instance_body(databases=[{"name": "sh\x00p"}]), "databases/0/name"),
    ("NUL in user name", instance_body(users=[{"name": "a\x00b", "password": "p"}]),
     "users/0/name"),
    ("float volume size", with_volume(size=1.0), "instance/volume/size"),
    ("huge volume size", with_volume(size=10 ** 30), "instance/volume/size"),
    ("bad CIDR", instance_body(access={"allowed_cidrs": ["not-a-cidr"]}), "not-a-cidr"),
    ("unknown volume type", with_volume(type="gold"), "volume type"),
    ("unknown availability zone", instance_body(availability_zone="az-9"), "availability zone"),
    ("nics", instance_body(nics=[{"net-id": "n1"}]), "nics"),
    ("user granted a database not created",
     instance_body(databases=[{"name": "shop"}],
                   users=[{"name": "u", "password": "p", "databases": [{"name": "stock"}]}]),
     "stock"),
]


@pytest.mark.parametrize("case", BAD_CREATES, ids=lambda c: c[0])
def test_bad_create_body_is_400_and_creates_nothing(api_env, tenant, case):
    _, body, text = case
    resp = api_env.http("POST", tenant, "/instances", body)
    assert text in fault(resp, "badRequest", 400)
    assert api_env.count_instances(tenant) == 0


def test_what_osc_sends_for_unset_fields_is_accepted(api_env, tenant):
    body = instance_body(nics=[], availability_zone=None, access={"is_public": False})
    body["instance"]["volume"]["type"] = None
    resp = api_env.http("POST", tenant, "/instances", body)
    assert resp.status_code == 200, resp.text


RAW_BODIES = [
    ("lone surrogate in a name",
     '{"instance": {"name": "a\\ud800", "flavorRef": "1", "volume": {"size": 1}}}',
     "surrogate"),
    ("JSON nested 5000 deep", '{"instance": ' + "[" * 5000 + "]" * 5000 + "}", "deep"),
    ("NaN, which is not JSON",
     '{"instance": {"name": "x", "flavorRef": "1", "volume": {"size": NaN}}}', "NaN"),
]


@pytest.mark.parametrize("case", RAW_BODIES, ids=lambda c: c[0])
def test_unstorable_or_deep_json_is_400(api_env, tenant, case):
    _, raw, text = case
    resp = api_env.http("POST", tenant, "/instances", raw=raw)
    assert text in fault(resp, "badRequest", 400)
    assert api_env.count_instances(tenant) == 0


def test_other_bodies_reject_garbage(api_env, tenant):
    conf = {"configuration": {"name": "c\x00", "values": {},
                              "datastore": {"type": "mariadb", "version": "10.11"}}}
    assert "configuration/name" in fault(api_env.http("POST", tenant, "/configurations", conf),
                                         "badRequest", 400)
    conf["configuration"].update(name="c", description="d" * 100000)
    assert "description" in fault(api_env.http("POST", tenant, "/configurations", conf),
                                  "badRequest", 400)
    conf["configuration"].update(description="d", colour="red")
    assert "colour" in fault(api_env.http("POST", tenant, "/configurations", conf),
                             "badRequest", 400)
    assert api_env.client(tenant).configurations.list() == []

    backup = {"backup": {"name": "b", "instance": "i-1", "swift_container": "c\x00"}}
    assert "swift_container" in fault(api_env.http("POST", tenant, "/backups", backup),
                                      "badRequest", 400)
    strategy = {"backup_strategy": {"swift_container": "c\x00"}}
    assert "swift_container" in fault(api_env.http("POST", tenant, "/backup_strategies",
                                                   strategy), "badRequest", 400)

    quotas = {"quotas": {"instances": 10 ** 30}}
    assert "quotas/instances" in fault(api_env.http("PUT", tenant, "/mgmt/quotas/" + tenant,
                                                    quotas), "badRequest", 400)


def test_guest_admin_bodies_reject_garbage(api_env, tenant):
    inst = create(api_env, tenant)
    api_env.make_active(inst.id)
    path = "/instances/%s/" % inst.id
    for sub, body, text in [
        ("databases", {"databases": [{"name": "a\x00"}]}, "databases/0/name"),
        ("databases", {"databases": [{"name": "a", "owner": "me"}]}, "owner"),
        ("users", {"users": [{"name": "u" * 100, "password": "p"}]}, "users/0/name"),
        ("users", {"users": [{"name": "u", "password": "p", "host": "h\x00"}]}, "host"),
    ]:
        assert text in fault(api_env.http("POST", tenant, path + sub, body), "badRequest", 400)


def test_tenant_longer_than_its_column_is_400(api_env):
    resp = requests.get(api_env.url + "/v1.0/%s/instances" % ("t" * 300), timeout=10)
    assert "tenant" in fault(resp, "badRequest", 400)


def test_undecodable_path_bytes_are_a_fault_not_a_500(api_env, tenant):
    for path in ("/instances/%ff%fe", "/instances/%ed%a0%80"):
        resp = api_env.http("GET", tenant, path)
        assert "UTF-8" in fault(resp, "badRequest", 400)


def test_undecodable_query_string_is_a_fault_not_a_500(api_env, tenant):
    for query in ("?marker=%ff", "?lim%ff=1"):
        resp = api_env.http("GET", tenant, "/instances" + query)
        assert "UTF-8" in fault(resp, "badRequest", 400)


def test_raw_bytes_in_the_request_line_are_a_fault_too(api_env, tenant):
    head = b"GET /v1.0/%s/instances/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n" % tenant.encode()
    response, _ = raw_request(api_env.server.host, api_env.server.port, head)
    assert response.startswith(b"HTTP/1.1 400"), response[:200]
    assert json_of(response)["badRequest"]["code"] == 400


def test_patch_of_a_missing_or_foreign_instance_is_404(api_env, tenant):
    inst = create(api_env, tenant)
    body = {"instance": {"datastore_version": "10.11"}}
    fault(api_env.http("PATCH", tenant, "/instances/no-such-id", body), "itemNotFound", 404)
    fault(api_env.http("PATCH", tenant + "x", "/instances/" + inst.id, body),
          "itemNotFound", 404)


def raw_request(host, port, head, payload=b"", timeout=10):
    """Send ``head`` and ``payload``; return (status line, headers+body bytes, seconds)."""
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        started = time.monotonic()
        s.sendall(head + payload)
        data = b""
        while b"\r\n\r\n" not in data or not _complete(data):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        return data, time.monotonic() - started
    finally:
        s.close()


def _complete(data):
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False


def json_of(response):
    return json.loads(response.partition(b"\r\n\r\n")[2])


def test_a_10_mb_body_is_refused_413_without_being_read(api_env, tenant):
    head = ("POST /v1.0/%s/instances HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
            "\r\nContent-Length: %d\r\n\r\n" % (tenant, 10 * 1024 * 1024)).encode()
    # 4 KB of the promised 10 MB: the answer comes without the rest
    response, took = raw_request(api_env.server.host, api_env.server.port, head, b" " * 4096)
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
    body = json_of(response)
    assert body["overLimit"]["code"] == 413 and "1048576" in body["overLimit"]["message"]
    assert took < 2.0
    assert api_env.count_instances(tenant) == 0


def test_a_chunked_body_over_the_limit_is_413(api_env, tenant):
    head = ("POST /v1.0/%s/instances HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
            "\r\nTransfer-Encoding: chunked\r\n\r\n" % tenant).encode()
    chunk = b"100000\r\n" + b" " * 0x100000 + b"\r\n"  # 1 MiB a chunk
    response, _ = raw_request(api_env.server.host, api_env.server.port, head,
                              chunk * 2 + b"0\r\n\r\n")
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
    assert json_of(response)["overLimit"]["code"] == 413
    assert api_env.count_instances(tenant) == 0


@pytest.fixture
def short_timeout_server(api_env):
    """The same app served with a 1 s client read timeout."""
    conf = make_conf(overrides={"taskmanager.topic": api_env.conf.taskmanager.topic,
                                "api.client_socket_timeout": 1.0})
    server = api_server.serve(conf, wsgi.make_app(conf, api_env.db, TaskManagerAPI(conf)),
                              "127.0.0.1", 0)
    yield server
    server.shutdown()


def test_a_body_that_stops_coming_is_400_after_the_read_timeout(api_env, tenant,
                                                                short_timeout_server):
    server = short_timeout_server
    head = ("POST /v1.0/%s/instances HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
            "\r\nContent-Length: 1000\r\n\r\n" % tenant).encode()
    stalled = [socket.create_connection((server.host, server.port)) for _ in range(8)]
    try:
        for s in stalled:
            s.sendall(head + b'{"')
        response, took = raw_request(server.host, server.port, head, b'{"')
        assert response.startswith(b"HTTP/1.1 400"), response[:200]
        assert "not received" in json_of(response)["badRequest"]["message"]
        assert took < 5.0, "the ninth client waited %.1f s" % took
        # and the API answers a normal request at once
        assert requests.get(server.url + "/", timeout=5).status_code == 200
    finally:
        for s in stalled:
            s.close()
    assert api_env.count_instances(tenant) == 0
