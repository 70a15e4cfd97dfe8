"""The event history of a replication set: a promote the owner asked for carries
the request id; an automatic failover carries none and is counted in /metrics."""

import time

import pytest
import requests

from tests.functional.api.test_metrics_health import samples
from tests.functional.ha.test_ha import kill_server
from tests.functional.replication.test_replication import wait_until
from trove_lite import exceptions
from trove_lite.cmd import aio
from trove_lite.rpc import guest as guest_rpc

pytestmark = pytest.mark.slow


def _events(cp, instance_id):
    return requests.get(cp.endpoint() + "/instances/%s/events" % instance_id,
                        timeout=10).json()["events"]


def _kinds(cp, instance_id):
    return [e["kind"] for e in _events(cp, instance_id)]


def test_promote_and_failover_are_in_the_event_history(cp, pair):
    trove = cp.client()
    src, rep, sib = pair["source"], pair["replica"], pair["sibling"]
    assert _kinds(cp, rep.id) == ["create"]
    resp = requests.post(cp.endpoint() + "/instances/%s/action" % rep.id, timeout=30,
                         json={"promote_to_replica_source": {}})
    assert resp.status_code == 202, resp.text
    wait_until(lambda: "promote" in _kinds(cp, rep.id), timeout=60, what="promote event")
    promote = next(e for e in _events(cp, rep.id) if e["kind"] == "promote")
    assert promote["request_id"] == resp.headers["X-OpenStack-Request-ID"]
    wait_until(lambda: trove.instances.get(rep.id).status == "ACTIVE", timeout=30,
               what="the promote to finish")
    # its phases are in the event: the write path moved before the rest
    assert "rw moved" in promote["detail"] and "demote" in promote["detail"]
    # the promote began term 1 or later: a command of term 0 (a taskmanager that
    # lost its lease) is refused by the new source's own agent, which stays the source
    conf = aio.make_aio_conf(cp.state_dir, cp.port, config_files=[cp.conf_file])
    with pytest.raises(exceptions.GuestError, match="Refused follow_source|term 0"):
        guest_rpc.GuestAPI(conf, rep.id).follow_source("refused.invalid", 3306, None,
                                                       "gtid", sib.id, term=0)
    assert not getattr(trove.instances.get(rep.id), "replica_of", None)

    kill_server(cp, rep.id)
    killed = time.monotonic()
    new = wait_until(lambda: next((m for m in (src, sib) if "failover" in _kinds(cp, m.id)),
                                  None), timeout=60, what="a failover event")
    failover = next(e for e in _events(cp, new.id) if e["kind"] == "failover")
    assert failover["request_id"] is None and rep.id in failover["detail"]
    assert "eject" in _kinds(cp, new.id)
    print("failover event %.1f s after the kill" % (time.monotonic() - killed))
    scrape = samples(requests.get(cp.endpoint_root + "/metrics", timeout=10).text)
    assert scrape["trove_lite_failovers_total"] == [({}, 1.0)]
    # the other tenant sees none of it
    assert requests.get(cp.endpoint("intruder") + "/instances/%s/events" % new.id,
                        timeout=10).status_code == 404
