"""High availability of a replication set with real mariadbd and HAProxy:
semi-sync once a set has a replica, rw/ro endpoints, and both following a
promote under a writer connected through rw."""

import os
import signal
import time

import pymysql

from tests.functional.ha.conftest import connect_to
from tests.functional.replication.conftest import connect, server_socket
from tests.functional.replication.test_replication import wait_until
from tests.functional.replication.writer import Writer


def server_id(conn):
    with conn.cursor() as cur:
        cur.execute("SELECT @@server_id, @@read_only")
        return cur.fetchone()


def direct_id(inst):
    with connect(inst) as conn:
        return server_id(conn)[0]


def semisync(trove, instance_id, **want):
    """The semisync part of an instance's replication block once it shows ``want``."""
    def shown():
        block = (trove.instances.get(instance_id).replication or {}).get("semisync") or {}
        return block if all(block.get(k) == v for k, v in want.items()) else None
    return wait_until(shown, timeout=30, what="semisync %s on %s" % (want, instance_id))


def test_semisync_once_the_set_has_a_replica(cp, pair):
    trove = cp.client()
    src, rep = pair["source"], pair["replica"]
    before = semisync(trove, src.id, enabled=True, active=True, clients=2)
    assert before["durability"] == "semisync" and before["wait_point"] == "AFTER_SYNC"
    assert before["fell_back_to_async"] is False
    for replica in (rep, pair["sibling"]):
        semisync(trove, replica.id, enabled=True, active=True, side="replica")
    with connect(src) as conn, conn.cursor() as cur:
        cur.executemany("INSERT INTO orders VALUES (%s, 'acked')", [(i,) for i in range(1, 21)])
    # each of the 20 commits waited for the replica's ack
    after = wait_until(lambda: (lambda b: b if b["yes_tx"] >= before["yes_tx"] + 20 else None)(
        trove.instances.get(src.id).replication["semisync"]), what="20 more acked commits")
    assert after["no_tx"] == before["no_tx"]


def test_endpoints_reach_source_and_replica(cp, pair):
    trove = cp.client()
    src, rep = pair["source"], pair["replica"]
    eps = wait_until(lambda: getattr(trove.instances.get(rep.id), "replication_endpoints",
                                     None), what="endpoints shown on the replica")
    assert trove.instances.get(src.id).replication_endpoints == eps
    assert eps["rw"].split(":")[0] not in (src.ip[0], rep.ip[0])
    with connect_to(eps["rw"]) as conn:
        assert server_id(conn) == (direct_id(src), 0)
        with conn.cursor() as cur:
            cur.execute("INSERT INTO orders VALUES (100, 'through rw')")
    # ro reaches the replica once it reported a lag under the threshold
    replicas = {direct_id(rep), direct_id(pair["sibling"])}
    reached = set()
    for _ in range(4):
        with connect_to(eps["ro"]) as conn:
            sid, read_only = server_id(conn)
            assert sid in replicas and read_only == 1
            reached.add(sid)
            wait_until(lambda: _count(conn, 100), what="the rw write readable through ro")
    assert reached == replicas, "ro spreads over both replicas"
    pair["endpoints"] = eps


def _count(conn, row_id):
    with conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM orders WHERE id = %s", (row_id,))
        return cur.fetchone()[0]


def test_rw_follows_a_promote_under_a_writer(cp, pair):
    trove = cp.client()
    src, rep, eps = pair["source"], pair["replica"], pair["endpoints"]
    with Writer([eps["rw"]], lambda ep: connect_to(ep, connect_timeout=1),
                start_id=20000) as writer:
        time.sleep(1)
        trove.instances.promote_to_replica_source(rep.id)
        wait_until(lambda: trove.instances.get(rep.id).status == "ACTIVE"
                   and not getattr(trove.instances.get(rep.id), "replica_of", None),
                   timeout=60, what="promote finished")
        acked_at_promote = len(writer.acked)
        wait_until(lambda: len(writer.acked) > acked_at_promote + 20, timeout=30,
                   what="writes resumed through rw after the promote")
    assert not getattr(trove.instances.get(rep.id), "fault", None)
    assert trove.instances.get(rep.id).replication_endpoints == eps   # same addresses
    with connect_to(eps["rw"]) as conn:
        assert server_id(conn) == (direct_id(rep), 0)
    with connect(rep) as conn, conn.cursor() as cur:
        cur.execute("SELECT id FROM orders WHERE id >= 20000")
        have = {r[0] for r in cur.fetchall()}
    assert sorted(set(writer.acked) - have) == [], "acknowledged rows lost"
    # semi-sync followed the roles: the new source waits for the old one's acks
    semisync(trove, rep.id, side="source", enabled=True, active=True, clients=2)
    semisync(trove, src.id, side="replica", enabled=True, active=True)
    wait_until(lambda: _ro_reaches(eps, direct_id(src)), what="ro on the old source")
    pair["source"], pair["replica"] = rep, src


def _ro_reaches(eps, wanted):
    try:
        with connect_to(eps["ro"]) as conn:
            return server_id(conn) == (wanted, 1)
    except pymysql.MySQLError:
        return False


def test_failover_when_the_source_server_is_killed(cp, pair):
    """kill -9 of the source's whole server under a writer through rw: the most
    advanced replica becomes the source by itself, rw follows, nothing acked is lost."""
    trove = cp.client()
    dead, eps = pair["source"], pair["endpoints"]
    survivors = [pair["replica"], pair["sibling"]]
    with Writer([eps["rw"]], lambda ep: connect_to(ep, connect_timeout=1),
                start_id=40000) as writer:
        wait_until(lambda: len(writer.acked) > 50, what="the writer committing through rw")
        kill_server(cp, dead.id)
        killed = time.monotonic()
        acked_at_kill = len(writer.acked)
        new = wait_until(lambda: next((m for m in survivors if not getattr(
            trove.instances.get(m.id), "replica_of", None)), None), timeout=60,
            what="a replica promoted without anyone asking")
        wait_until(lambda: len(writer.acked) > acked_at_kill + 20, timeout=30,
                   what="writes resumed through rw after the failover")
        print("failover: writes resumed %.1f s after the kill" % (time.monotonic() - killed))
    other = next(m for m in survivors if m.id != new.id)
    assert trove.instances.get(other.id).replica_of["id"] == new.id
    assert trove.instances.get(new.id).replication_endpoints == eps
    with connect_to(eps["rw"]) as conn:
        assert server_id(conn) == (direct_id(new), 0)
    for member in (new, other):
        def have(member=member):
            with connect(member) as conn, conn.cursor() as cur:
                cur.execute("SELECT id FROM orders WHERE id >= 40000")
                ids = {r[0] for r in cur.fetchall()}
            return ids if set(writer.acked) <= ids else None
        wait_until(have, what="every acknowledged row on %s" % member.id)
    with connect_to(eps["ro"]) as conn:
        assert server_id(conn) == (direct_id(other), 1)


def kill_server(cp, instance_id):
    """SIGKILL the instance's whole server: its guest's process group and mariadbd."""
    _, sid = server_socket(cp, None, instance_id)
    sdir = os.path.join(cp.state_dir, "servers", sid)
    with open(os.path.join(sdir, "guest.pid")) as f:
        leader = int(f.read().split()[0])
    with open(os.path.join(sdir, "mysql", "mysqld.pid")) as f:
        mysqld = int(f.read().split()[0])
    os.killpg(leader, signal.SIGKILL)
    try:
        os.kill(mysqld, signal.SIGKILL)
    except ProcessLookupError:
        pass     # it was in the group
