"""Guest RPC sealed with each instance's own key, over the real RabbitMQ.

A guest (ConductorAPI with its injected ``[guest] rpc_key``) reports to a
conductor whose endpoint is wrapped in ``SealedEndpoint``; the control plane
(GuestAPI) calls a guest the same way. Anyone else on the bus (a raw
oslo.messaging client here) cannot forge, replay, or speak for another
instance, and a queue bound to the exchange sees no secret.
"""

import json
import logging
import threading
import time
import uuid

import kombu
import oslo_messaging as messaging
import pytest
from cryptography.fernet import Fernet

from trove_lite.common.master_key import load_master
from trove_lite.config import make_conf
from trove_lite.rpc import conductor as conductor_rpc
from trove_lite.rpc import guest as guest_rpc
from trove_lite.rpc import sealed, transport

SECRETS = ("Root-pass-%s" % uuid.uuid4().hex[:8], "Backup-key-%s" % uuid.uuid4().hex[:8],
           "User-pass-%s" % uuid.uuid4().hex[:8])
BROKER = "amqp://guest:guest@127.0.0.1:5672//"


class Recorder:
    """Conductor and guest manager stand-in: records what reached it."""

    target = messaging.Target(version="1.5")

    def __init__(self):
        self.got = []
        self.event = threading.Event()

    def _keep(self, method, kwargs):
        self.got.append((method, kwargs))
        self.event.set()

    def heartbeat(self, ctx, instance_id, payload, sent=None):
        self._keep("heartbeat", {"instance_id": instance_id, "payload": payload})

    def report_root(self, ctx, instance_id, user, sent=None):
        self._keep("report_root", {"instance_id": instance_id, "user": user})

    def ping(self, ctx):
        return "pong"

    def update_binlog_archive(self, ctx, instance_id, segments, status, sent=None):
        self._keep("update_binlog_archive", {"instance_id": instance_id,
                                             "segments": segments})

    def record_binlog_segments(self, ctx, instance_id, segments, status=None, sent=None):
        self._keep("record_binlog_segments", {"instance_id": instance_id,
                                              "segments": segments})
        return {"recorded": len(segments), "discarded": 0}

    def prepare(self, ctx, **kwargs):
        self._keep("prepare", kwargs)

    def wait(self, count, timeout=10.0):
        deadline = time.monotonic() + timeout
        while len(self.got) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return len(self.got) >= count


class OldConductor(Recorder):
    """A conductor of RPC 1.1: segments come only as the update_binlog_archive cast."""

    target = messaging.Target(version="1.1")
    record_binlog_segments = None


@pytest.fixture
def bus(tmp_path):
    tag = uuid.uuid4().hex[:10]
    control = make_conf(overrides={"state_dir": str(tmp_path), "control_exchange": "tl_seal_" + tag,
                                   "conductor.topic": "cond-seal-" + tag,
                                   "guest.rpc_message_window": 30})
    master = load_master(control)
    guests = {}

    def guest_conf(instance_id):
        conf = make_conf(overrides={
            "control_exchange": control.control_exchange,
            "conductor.topic": control.conductor.topic, "guest.instance_id": instance_id,
            "guest.rpc_key": sealed.instance_key(master, instance_id).decode(),
            "guest.rpc_message_window": 30})
        guests[instance_id] = conf
        return conf

    conductor = Recorder()
    endpoint = sealed.SealedEndpoint(conductor, sealed.control_key_for(control),
                                     sealed.TO_CONDUCTOR, 30, replies=conductor_rpc.CALLS)
    server = transport.make_server(control, control.conductor.topic, "test", [endpoint])
    # a queue bound to the exchange, receiving every message sent to any topic
    conn = kombu.Connection(BROKER)
    exchange = kombu.Exchange(control.control_exchange, type="topic", durable=False)
    sniffed = kombu.Queue("sniff-" + tag, exchange, routing_key="#", auto_delete=True,
                          durable=False)
    sniffed(conn.default_channel).declare()
    server.start()
    env = type("Bus", (), {})()
    env.control, env.guest_conf, env.conductor, env.endpoint = (control, guest_conf,
                                                                 conductor, endpoint)
    env.raw = messaging.get_rpc_client(transport.get_transport(control), messaging.Target(
        topic=control.conductor.topic))
    env.sniffed = lambda: _drain(conn, sniffed)
    try:
        yield env
    finally:
        server.stop()
        server.wait()
        sniffed(conn.default_channel).delete()
        conn.release()
        for conf in [control, *guests.values()]:
            transport.release(conf)


def _drain(conn, queue):
    bodies = []
    bound = queue(conn.default_channel)
    while True:
        message = bound.get(no_ack=True)
        if message is None:
            return bodies
        bodies.append(message.body if isinstance(message.body, str)
                      else message.body.decode("utf-8", "replace"))


def _refused_logged(caplog, before):
    return [r for r in caplog.records[before:] if "refused conductor message" in r.getMessage()]


def test_guest_reports_reach_the_conductor_sealed(bus):
    iid = str(uuid.uuid4())
    conductor_rpc.ConductorAPI(bus.guest_conf(iid)).heartbeat(iid, {"service_status": "HEALTHY"})
    assert bus.conductor.wait(1)
    assert bus.conductor.got == [("heartbeat", {"instance_id": iid,
                                                "payload": {"service_status": "HEALTHY"}})]
    wire = bus.sniffed()
    assert wire and "HEALTHY" not in "".join(wire)  # even the status is not in clear


def test_archived_segments_are_confirmed_by_the_conductor_or_cast_to_an_old_one(bus):
    """A guest knows its segment is recorded (issue 19); against a conductor older
    than 1.2 it falls back to the cast, as before, and says nothing is confirmed."""
    iid = str(uuid.uuid4())
    seg = {"kind": "data", "file": "mysql-bin.000001", "start": 0, "end": 99}
    api = conductor_rpc.ConductorAPI(bus.guest_conf(iid))
    assert api.record_binlog_segments(iid, [seg], {"state": "running"}) == {
        "recorded": 1, "discarded": 0}
    assert bus.conductor.got == [("record_binlog_segments",
                                  {"instance_id": iid, "segments": [seg]})]
    old = OldConductor()
    topic = bus.control.conductor.topic + "-old"
    server = transport.make_server(bus.control, topic, "old", [sealed.SealedEndpoint(
        old, sealed.control_key_for(bus.control), sealed.TO_CONDUCTOR, 30, replies=False)])
    server.start()
    try:
        conf = bus.guest_conf(iid)
        conf.set_override("topic", topic, group="conductor")
        api = conductor_rpc.ConductorAPI(conf)
        assert api.record_binlog_segments(iid, [seg], {"state": "running"}) is False
        assert old.wait(1) and old.got == [("update_binlog_archive",
                                            {"instance_id": iid, "segments": [seg]})]
        assert api.record_binlog_segments(iid, [seg], {}) is False   # no second try
        assert old.wait(2)
    finally:
        server.stop()
        server.wait()


def test_forged_and_clear_messages_are_refused_and_logged(bus, caplog):
    caplog.set_level(logging.WARNING, logger="trove_lite.rpc.sealed")
    iid = str(uuid.uuid4())
    forged = Fernet(Fernet.generate_key()).encrypt(json.dumps({
        "to": "conductor", "instance_id": iid, "method": "heartbeat", "ctxt": {},
        "args": {"instance_id": iid, "payload": {"service_status": "HEALTHY"}}}).encode())
    bus.raw.cast({}, "heartbeat", instance_id=iid, sealed=forged.decode())
    bus.raw.cast({}, "heartbeat", instance_id=iid, payload={"service_status": "HEALTHY"})
    deadline = time.monotonic() + 10
    while bus.endpoint.refused < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert bus.endpoint.refused == 2
    assert bus.conductor.got == []
    assert len(_refused_logged(caplog, 0)) == 2


def test_replayed_message_is_refused(bus):
    iid = str(uuid.uuid4())
    conductor_rpc.ConductorAPI(bus.guest_conf(iid)).report_root(iid, "root")
    assert bus.conductor.wait(1)
    (captured,) = [json.loads(b) for b in bus.sniffed()]
    args = json.loads(captured["oslo.message"])["args"]
    bus.raw.cast({}, "report_root", **args)  # the same bytes again, within the window
    deadline = time.monotonic() + 10
    while bus.endpoint.refused < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert bus.endpoint.refused == 1
    assert len(bus.conductor.got) == 1


def test_message_older_than_the_window_is_refused(bus):
    iid = str(uuid.uuid4())
    key = sealed.instance_key(load_master(bus.control), iid)
    old = Fernet(key).encrypt_at_time(json.dumps({
        "to": "conductor", "instance_id": iid, "method": "report_root", "ctxt": {},
        "args": {"instance_id": iid, "user": "root"}}).encode(), int(time.time()) - 60)
    bus.raw.cast({}, "report_root", instance_id=iid, sealed=old.decode())
    deadline = time.monotonic() + 10
    while bus.endpoint.refused < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert bus.endpoint.refused == 1 and bus.conductor.got == []


def test_a_guest_cannot_report_for_another_instance(bus):
    mine, other = str(uuid.uuid4()), str(uuid.uuid4())
    api = conductor_rpc.ConductorAPI(bus.guest_conf(mine))
    api.heartbeat(other, {"service_status": "SHUTDOWN"})  # sealed under its own key
    # and its own key presented as the other instance's
    token = sealed.seal(sealed.instance_key(load_master(bus.control), mine), "conductor",
                        other, "heartbeat", {"instance_id": other,
                                             "payload": {"service_status": "SHUTDOWN"}})
    bus.raw.cast({}, "heartbeat", instance_id=other, sealed=token)
    deadline = time.monotonic() + 10
    while bus.endpoint.refused < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert bus.endpoint.refused == 2
    assert bus.conductor.got == []


def test_control_plane_calls_the_guest_sealed_and_no_secret_crosses_the_bus(bus):
    iid = str(uuid.uuid4())
    gconf = bus.guest_conf(iid)
    manager = Recorder()
    endpoint = sealed.SealedEndpoint(manager, sealed.guest_key_for(gconf), sealed.TO_GUEST, 30)
    server = transport.make_server(gconf, guest_rpc.guest_topic(iid), "guest", [endpoint])
    server.start()
    try:
        guest = guest_rpc.GuestAPI(bus.control, iid)
        assert guest.ping() == "pong"
        root, backup_key, password = SECRETS
        guest.prepare({"ram": 512}, [], [{"name": "app", "password": password}],
                      root_password=root, backup={"key": backup_key})
        assert manager.wait(1)
        assert manager.got[0][1]["root_password"] == root
        # another instance's client (its key) cannot make this guest act
        stranger_key = sealed.instance_key(load_master(bus.control), str(uuid.uuid4()))
        raw = messaging.get_rpc_client(transport.get_transport(bus.control), messaging.Target(
            topic=guest_rpc.guest_topic(iid)), timeout=10)
        with pytest.raises(messaging.RemoteError, match="SealRefused"):
            raw.call({}, "ping", instance_id=iid,
                     sealed=sealed.seal(stranger_key, "guest", iid, "ping", {}))
        assert endpoint.refused == 1
    finally:
        server.stop()
        server.wait()
    wire = "".join(bus.sniffed())
    assert "prepare" in wire  # the sniffer did see the messages
    for secret in SECRETS:
        assert secret not in wire


def test_a_message_replayed_to_a_restarted_guest_is_refused(bus, tmp_path):
    """The guest's record of accepted messages outlives its process: a captured
    sealed message replayed to the freshly restarted agent, within the window,
    does not act twice."""
    iid = str(uuid.uuid4())
    gconf = bus.guest_conf(iid)
    seen = str(tmp_path / "guest-state" / "rpc_seen")

    def start_guest():
        manager = Recorder()
        endpoint = sealed.SealedEndpoint(manager, sealed.guest_key_for(gconf), sealed.TO_GUEST,
                                         30, seen_path=seen)
        server = transport.make_server(gconf, guest_rpc.guest_topic(iid), "guest", [endpoint])
        server.start()
        return manager, endpoint, server

    def stop(server):
        server.stop()
        server.wait()

    manager, endpoint, server = start_guest()
    try:
        guest_rpc.GuestAPI(bus.control, iid).prepare({"ram": 512}, [], [])
        assert manager.wait(1)
    finally:
        stop(server)
    (captured,) = [json.loads(b) for b in bus.sniffed() if "prepare" in b]
    args = json.loads(captured["oslo.message"])["args"]
    manager, endpoint, server = start_guest()     # the agent restarted
    try:
        raw = messaging.get_rpc_client(transport.get_transport(bus.control), messaging.Target(
            topic=guest_rpc.guest_topic(iid)))
        raw.cast({}, "prepare", **args)
        deadline = time.monotonic() + 10
        while endpoint.refused < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert endpoint.refused == 1
        assert manager.got == []
        # a new message still gets through
        guest_rpc.GuestAPI(bus.control, iid).prepare({"ram": 512}, [], [])
        assert manager.wait(1)
    finally:
        stop(server)
