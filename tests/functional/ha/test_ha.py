"""High availability of a replication set with real mariadbd and HAProxy:
semi-sync once a set has a replica, rw/ro endpoints, and both following a
promote under a writer connected through rw."""

import contextlib
import os
import signal
import subprocess
import time

import pymysql
import pytest
from troveclient import exceptions as trove_exc

from tests.functional.ha.conftest import connect_to
from tests.functional.replication.conftest import connect, server_socket
from tests.functional.replication.test_replication import cli, wait_until
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


def test_durability_is_chosen_per_set(cp, pair):
    """``durability`` on any member's update sets it for the whole set; the
    replication block of every member shows it, and the servers follow."""
    trove = cp.client()
    src, rep = pair["source"], pair["replica"]
    assert trove.instances.get(rep.id).replication["durability"] == "semisync"
    with pytest.raises(trove_exc.BadRequest, match="semisync, async"):
        trove.client.put("/instances/%s" % rep.id,
                         body={"instance": {"durability": "eventually"}})
    trove.client.put("/instances/%s" % rep.id, body={"instance": {"durability": "async"}})
    for member in (src, rep, pair["sibling"]):
        assert trove.instances.get(member.id).replication["durability"] == "async"
    semisync(trove, src.id, enabled=False, durability="async")
    semisync(trove, rep.id, enabled=False)
    trove.client.patch("/instances/%s" % src.id, body={"instance": {"durability": "semisync"}})
    semisync(trove, src.id, enabled=True, active=True, clients=2)
    cli(cp, "set-durability", src.name, "async")
    assert cli(cp, "show", pair["sibling"].id)["replication_durability"] == "async"
    cli(cp, "set-durability", rep.id, "semisync")
    semisync(trove, src.id, enabled=True, active=True, clients=2, durability="semisync")
    assert cli(cp, "show", src.id)["replication_durability"] == "semisync"


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


def test_restarted_source_boots_fenced_and_reopens_for_its_replicas(cp, pair):
    """A semi-sync source's mariadbd restarts read_only (it could have been left
    behind by a failover); its replicas connect again and it takes writes."""
    trove = cp.client()
    src, eps = pair["source"], pair["endpoints"]
    def uptime():
        with connect(src) as conn, conn.cursor() as cur:
            cur.execute("SHOW GLOBAL STATUS LIKE 'Uptime'")
            return int(cur.fetchone()[1])
    before = uptime()
    trove.instances.restart(src.id)
    wait_until(lambda: uptime() < before, timeout=60, what="mariadbd restarted")

    def writes():
        try:
            with connect_to(eps["rw"]) as conn, conn.cursor() as cur:
                cur.execute("INSERT INTO orders VALUES (30000, 'after the restart')")
            return True
        except pymysql.MySQLError:
            return False
    wait_until(writes, timeout=30, what="a write through rw after the restart")
    wait_until(lambda: trove.instances.get(src.id).status == "ACTIVE", timeout=30,
               what="the source ACTIVE")


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
    pair.update(dead=dead, source=new, replica=other, acked=set(writer.acked))


def test_old_source_rejoins_as_a_replica(cp, pair):
    """The killed source's server starts again: it boots fenced (read_only, its
    commits no replica acknowledged possibly kept by crash recovery), the control
    plane checks it for errant transactions (re-seeding it if any) and makes it
    follow the new source."""
    trove = cp.client()
    old, new, eps = pair["dead"], pair["source"], pair["endpoints"]
    reboot_server(cp, old.id)
    rejoined = wait_until(lambda: (lambda i: i if (getattr(i, "replica_of", None) or {}).get(
        "id") == new.id else None)(trove.instances.get(old.id)), timeout=90,
        what="the old source following the new one")
    assert rejoined.status == "ACTIVE" or wait_until(
        lambda: trove.instances.get(old.id).status == "ACTIVE", what="the old source ACTIVE")
    # crash recovery may have committed a transaction no replica acknowledged (the
    # client never saw it): then it was re-seeded, and says so
    rejoin = trove.instances.get(old.id).replication["rejoin"]
    assert rejoin["state"] == "rejoined" and rejoin["source_id"] == new.id
    print("rejoin: %s" % (rejoin["reason"] or "followed the new source, nothing errant"))
    assert {r["id"] for r in trove.instances.get(new.id).replicas} >= {old.id}
    with connect_to(eps["rw"]) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO orders VALUES (60000, 'after the rejoin')")

    def have_all():
        with connect(old) as conn, conn.cursor() as cur:
            cur.execute("SELECT id FROM orders WHERE id >= 40000")
            ids = {r[0] for r in cur.fetchall()}
        return ids if pair["acked"] | {60000} <= ids else None
    wait_until(have_all, what="every acknowledged row and a new one on the old source")
    assert server_id(connect(old))[1] == 1, "the old source is read_only"
    repl = wait_until(lambda: (lambda b: b if b.get("role") == "replica" and b.get(
        "sql_thread") == "Yes" else None)(trove.instances.get(old.id).replication or {}),
        what="the old source reporting as a healthy replica")
    assert repl["source_id"] == new.id and not repl.get("last_error")
    wait_until(lambda: _ro_reaches(eps, direct_id(old)), what="ro on the old source")


def reboot_server(cp, instance_id):
    from trove_lite.cmd import aio as aio_cmd
    from trove_lite.drivers import factory
    _, sid = server_socket(cp, None, instance_id)
    compute = factory.build_drivers(aio_cmd.make_aio_conf(
        cp.state_dir, config_files=[cp.conf_file])).compute
    compute.reboot_server(sid)


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


@contextlib.contextmanager
def partition(address):
    """Cut ``address`` off from every other address (nftables on loopback): the
    server there and clients bound to it still talk to each other, nobody else
    reaches them (its agent's RabbitMQ connection leaves from 127.0.0.1, so the
    control plane still hears it, as over a management network)."""
    table = "trove_lite_ha_%d" % os.getpid()
    rules = ("table ip %s {\n chain input {\n  type filter hook input priority -10; "
             "policy accept;\n  ip saddr %s ip daddr != %s drop\n  ip daddr %s ip saddr != %s "
             "drop\n }\n}\n" % (table, address, address, address, address))
    subprocess.run(["nft", "-f", "-"], input=rules, text=True, check=True)
    try:
        yield
    finally:
        subprocess.run(["nft", "delete", "table", "ip", table], check=True)


def test_partitioned_source_fences_itself_and_no_acknowledged_write_is_lost(cp, pair):
    """The source is cut off from the control plane's probes, the endpoints and its
    replicas, with a client on its side of the cut. Its commits wait for an ack
    that never comes; after [ha] source_fence_after it cuts them and turns
    read_only (so none is acknowledged after falling back to async), reports
    itself fenced, and the control plane fails over; after the cut heals it
    rejoins. Every acknowledged row, on either side, is on the new source."""
    trove = cp.client()
    src, eps = pair["source"], pair["endpoints"]
    followers = [pair["replica"], pair["dead"]]
    addr = src.ip[0]

    def isolated_connect(_inst):
        return pymysql.connect(host=addr, port=3306, bind_address=addr, user="alice",
                               password="s3cret-Pw", database="shop", autocommit=True,
                               connect_timeout=2)
    with Writer([eps["rw"]], lambda ep: connect_to(ep, connect_timeout=1),
                start_id=70000) as writer, \
            Writer([src], isolated_connect, start_id=80000) as isolated:
        wait_until(lambda: len(writer.acked) > 20 and len(isolated.acked) > 20,
                   what="both writers committing")
        with partition(addr):
            cut = time.monotonic()
            new = wait_until(lambda: next((m for m in followers if not getattr(
                trove.instances.get(m.id), "replica_of", None)), None), timeout=60,
                what="a replica promoted while the source is cut off")
            acked_at_failover = len(writer.acked)
            wait_until(lambda: len(writer.acked) > acked_at_failover + 20, timeout=30,
                       what="writes resumed through rw")
            print("partition: failover %.1f s after the cut" % (time.monotonic() - cut))
            # the cut-off side: nothing acknowledged after the lease, read_only now
            late = [t - cut for t in isolated.acked_at if t > cut]
            assert not late or max(late) < 3.0 + 1.5, late
            with isolated_connect(None) as conn, conn.cursor() as cur:
                cur.execute("SELECT @@read_only")
                assert cur.fetchone()[0] == 1
                with pytest.raises(pymysql.MySQLError):
                    cur.execute("INSERT INTO orders VALUES (89999, 'split brain')")
            isolated.stop.set()
    acked = set(writer.acked) | set(isolated.acked)
    other = next(m for m in followers if m.id != new.id)
    # healed: the old source comes back as a replica of the new one
    wait_until(lambda: (getattr(trove.instances.get(src.id), "replica_of", None) or {}).get(
        "id") == new.id, timeout=90, what="the cut-off source rejoining")
    print("partition rejoin: %s" % trove.instances.get(src.id).replication["rejoin"])
    for member in (new, other, src):
        def have(member=member):
            with connect(member) as conn, conn.cursor() as cur:
                cur.execute("SELECT id FROM orders WHERE id >= 70000")
                ids = {r[0] for r in cur.fetchall()}
            return ids if acked <= ids else None
        wait_until(have, what="every acknowledged row on %s" % member.id)
    with connect(src) as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM orders WHERE id = 89999")
        assert cur.fetchone()[0] == 0


def _lease_holder(cp, set_id):
    import sqlite3
    db = sqlite3.connect(os.path.join(cp.state_dir, "trove-lite.sqlite"))
    try:
        row = db.execute("SELECT lease_holder FROM ha_sets WHERE set_id = ?",
                         (set_id,)).fetchone()
    finally:
        db.close()
    return row[0] if row else None


def test_two_taskmanagers_one_watches_the_set_and_the_other_takes_over(cp, pair):
    """A second taskmanager leaves the set to the one holding its lease; when the
    holder stops renewing (frozen), the other takes the set within the lease
    (6 s) and the first, thawed, sees it lost it; killed, it hands it back."""
    trove = cp.client()
    aio = cp.procs["aio"].pid
    set_id = _lease_set(cp)
    assert ":%d:" % aio in _lease_holder(cp, set_id)
    cp.start_service("taskmanager")
    cp.wait_taskmanager()
    time.sleep(3)                                  # a few refreshes of the second one
    assert ":%d:" % aio in _lease_holder(cp, set_id)
    assert "holds its lease" not in cp.log_tail("taskmanager", 100000)
    second = cp.procs["taskmanager"].pid
    os.kill(aio, signal.SIGSTOP)
    frozen = time.monotonic()
    try:
        wait_until(lambda: ":%d:" % second in (_lease_holder(cp, set_id) or ""), timeout=15,
                   what="the second taskmanager taking the set over")
        took = time.monotonic() - frozen
    finally:
        os.kill(aio, signal.SIGCONT)
    print("lease: taken over %.1f s after the holder froze" % took)
    assert took < 6.0 + 2.5
    wait_until(lambda: "lease lost to another taskmanager" in cp.log_tail("aio", 100000),
               what="the first taskmanager noticing it lost the set")
    cp.kill("taskmanager")
    wait_until(lambda: ":%d:" % aio in (_lease_holder(cp, set_id) or ""), timeout=15,
               what="the set back with the first taskmanager")
    assert trove.instances.get(pair["source"].id).status == "ACTIVE"


def _lease_set(cp):
    import sqlite3
    db = sqlite3.connect(os.path.join(cp.state_dir, "trove-lite.sqlite"))
    try:
        return db.execute("SELECT set_id FROM replication_endpoints LIMIT 1").fetchone()[0]
    finally:
        db.close()
