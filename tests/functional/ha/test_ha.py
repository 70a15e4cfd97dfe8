"""High availability of a replication set with real mariadbd and HAProxy:
semi-sync once a set has a replica, rw/ro endpoints, and both following a
promote under a writer connected through rw."""

import time

import pymysql

from tests.functional.ha.conftest import connect_to
from tests.functional.replication.conftest import connect
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
    before = semisync(trove, src.id, enabled=True, active=True, clients=1)
    assert before["durability"] == "semisync" and before["wait_point"] == "AFTER_SYNC"
    assert before["fell_back_to_async"] is False
    semisync(trove, rep.id, enabled=True, active=True, side="replica")
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
    with connect_to(eps["ro"]) as conn:
        assert server_id(conn) == (direct_id(rep), 1)
        wait_until(lambda: _count(conn, 100), what="the rw write readable through ro")
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
    semisync(trove, rep.id, side="source", enabled=True, active=True, clients=1)
    semisync(trove, src.id, side="replica", enabled=True, active=True)
    wait_until(lambda: _ro_reaches(eps, direct_id(src)), what="ro on the old source")


def _ro_reaches(eps, wanted):
    try:
        with connect_to(eps["ro"]) as conn:
            return server_id(conn) == (wanted, 1)
    except pymysql.MySQLError:
        return False
