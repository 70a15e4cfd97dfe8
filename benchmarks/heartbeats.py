"""Heartbeat scale: N simulated guests through the real conductor, on one core.

    .venv/bin/python benchmarks/heartbeats.py [--guests 2000] [--interval 10]
        [--duration 30] [--burst 10000] [--db sqlite|mariadb]

Each simulated guest seals its heartbeats under its own instance key (the
real ``ConductorAPI`` path: ``rpc/sealed.py``) and casts them over RabbitMQ to
a conductor started as its own process, pinned to one core, writing the
control DB (SQLite in a temporary directory, or a schema in the machine's
MariaDB). Printed, each beside a baseline measured in the same run:

1. absorbed heartbeats/s: a burst of ``--burst`` heartbeats waits in the
   conductor's queue, then the conductor starts and is timed until every
   guest's last heartbeat is in the control DB; beside the same burst
   (unsealed, same process shape) taken by a no-op endpoint: what the bus and
   oslo.messaging alone cost;
2. status lag at the target rate (``--guests`` / ``--interval`` heartbeats/s for
   ``--duration`` s): the time from a heartbeat's ``sent`` to its status being
   readable in the control DB (polled every 0.1 s), p50/p99/max;
3. what one heartbeat costs the conductor's core, from the burst.

The goal of issue 19 is 10,000 guests at one heartbeat every 10 s (1,000/s) with
p99 lag <= 2 s: ``--guests 10000``.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)



def _conf(state_dir, db_url, exchange, topic, **extra):
    from trove_lite.config import make_conf
    return make_conf(overrides={"state_dir": state_dir, "control_exchange": exchange,
                                "conductor.topic": topic, "database.connection": db_url,
                                **extra})


class NoOp:
    """The baseline consumer: takes any heartbeat and only counts it; says "done"
    on stdout at the ``expect``-th."""

    def __init__(self, expect):
        import oslo_messaging as messaging
        self.target = messaging.Target(version="1.0")
        self.expect = expect
        self.count = 0
        self.lock = threading.Lock()

    def heartbeat(self, ctx, **kwargs):
        with self.lock:
            self.count += 1
            if self.count == self.expect:
                print("done", flush=True)


def serve(args):
    """Child process: the consumer, pinned to one core, until stdin closes."""
    os.sched_setaffinity(0, {args.core})
    from trove_lite.cmd import common
    common.prefer_threading_backend()
    from trove_lite.cmd import conductor as conductor_cmd
    from trove_lite.db.session import Database
    from trove_lite.rpc import transport
    conf = _conf(args.state_dir, args.db_url, args.exchange, args.topic,
                 **{"conductor.heartbeat_batch_ms": args.batch_ms})
    if args.serve == "conductor":
        server = conductor_cmd.start(conf, Database(args.db_url))
    else:
        server = transport.make_server(conf, args.topic, "bench", [NoOp(args.burst)])
        server.start()
    print("ready", flush=True)
    sys.stdin.read()
    server.stop()
    server.wait()


class Consumer:
    def __init__(self, kind, state_dir, db_url, exchange, topic, core, burst, batch_ms=0.0,
                 code=ROOT):
        self.topic = topic
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(code, "benchmarks", "heartbeats.py"), "--serve",
             kind, "--state-dir",
             state_dir, "--db-url", db_url, "--exchange", exchange, "--topic", topic,
             "--core", str(core), "--burst", str(burst), "--batch-ms", str(batch_ms)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=open(os.path.join(state_dir, "%s-%s.log" % (kind, topic)), "w"), text=True)
        assert self.proc.stdout.readline().strip() == "ready"
        self.ready_at = time.monotonic()

    def cpu_seconds(self):
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        self.proc.stdin.close()
        try:    # a loaded machine: the consumer may still drain its queue
            self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def declare_queue(conf, topic):
    """The topic's queue, made before its consumer starts (it outlives this server)."""
    from trove_lite.rpc import transport
    server = transport.make_server(conf, topic, "declare", [])
    server.start()
    server.stop()
    server.wait()


class Guests:
    """N simulated guests: each a sealed conductor client under its own key."""

    def __init__(self, conf, ids, sealed_=True):
        from trove_lite.common import master_key as keys
        from trove_lite.rpc import sealed, transport
        raw = transport.make_client(conf, conf.conductor.topic, "1.0")
        master = keys.load_master(conf)
        self.ids = ids
        self.clients = ({iid: sealed.SealedClient(raw, sealed.instance_key(master, iid), iid,
                                                  sealed.TO_CONDUCTOR, 300) for iid in ids}
                        if sealed_ else {iid: raw for iid in ids})

    def beat(self, iid, description):
        sent = time.time()
        self.clients[iid].cast({}, "heartbeat", instance_id=iid, sent=sent, payload={
            "service_status": "HEALTHY", "description": description})
        return sent


def burst(guests, count, threads=4):
    """Cast ``count`` heartbeats round-robin over the guests from ``threads`` threads;
    returns {guest: description of its last heartbeat}."""
    def run(part):
        for n in range(part, count, threads):
            guests.beat(guests.ids[n % len(guests.ids)], "burst-%d" % n)
    started = time.monotonic()
    workers = [threading.Thread(target=run, args=(p,)) for p in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return count / (time.monotonic() - started)


def applied_all(db, count, ids, timeout=300.0):
    """Wait until every guest's last heartbeat of the burst is in the control DB
    (later ones of a guest supersede earlier ones: older ``sent`` is dropped)."""
    from sqlalchemy import select

    from trove_lite.db import models
    last = {}
    for n in range(count):
        last[ids[n % len(ids)]] = "burst-%d" % n
    wanted = set(last.values())
    deadline = time.monotonic() + timeout
    while True:
        with db.session() as s:
            rows = s.execute(select(models.ServiceStatus.status_description).where(
                models.ServiceStatus.status_description.like("burst-%"))).scalars().all()
        if wanted <= set(rows):
            return time.monotonic(), 0
        if time.monotonic() > deadline:     # some were lost (the consumer's log says why)
            return time.monotonic(), len(wanted - set(rows))
        time.sleep(0.05)


def absorb(kind, guests_sealed, args, state_dir, db_url, exchange, db, batch_ms=0.0,
           code=ROOT):
    """Fill the queue with a burst, then start the consumer and time it through."""
    topic = "hb-bench-%s-%s" % (kind, uuid.uuid4().hex[:8])
    conf = _conf(state_dir, db_url, exchange, topic)
    declare_queue(conf, topic)
    guests = Guests(conf, guests_sealed[0], sealed_=guests_sealed[1])
    cast_per_s = burst(guests, args.burst)
    consumer = Consumer(kind, state_dir, db_url, exchange, topic, args.core, args.burst,
                        batch_ms, code)
    cpu0 = consumer.cpu_seconds()
    lost = 0
    if kind == "noop":
        assert consumer.proc.stdout.readline().strip() == "done"
        finished = time.monotonic()
    else:
        finished, lost = applied_all(db, args.burst, guests.ids)
    if lost:
        print("  %s (%s): %d guests' last heartbeat never reached the control DB" % (
            kind, code, lost))
    cpu = consumer.cpu_seconds() - cpu0
    return {"per_s": args.burst / (finished - consumer.ready_at), "cast_per_s": cast_per_s,
            "cpu_ms_each": 1000 * cpu / args.burst, "conf": conf, "guests": guests,
            "consumer": consumer, "topic": topic}


def lag_at_rate(run, db, args):
    """Send ``guests / interval`` heartbeats/s for ``duration`` s; lags from the DB."""
    from sqlalchemy import select

    from trove_lite.db import models
    guests = run["guests"]
    rate = len(guests.ids) / args.interval
    total = int(rate * args.duration)
    pending = {}
    lags = []
    stop = threading.Event()

    def poll():
        while not stop.is_set() or pending:
            with db.session() as s:
                rows = s.execute(select(models.ServiceStatus.status_description).where(
                    models.ServiceStatus.status_description.like("lag-%"))).scalars().all()
            now = time.time()
            for desc in rows:
                sent = pending.pop(desc, None)
                if sent is not None:
                    lags.append(now - sent)
            if stop.is_set() and time.time() > stop_at[0] + 30:
                break
            time.sleep(0.1)

    stop_at = [0.0]
    poller = threading.Thread(target=poll)
    poller.start()
    started = time.monotonic()

    def send(part, threads):
        for n in range(part, total, threads):
            delay = started + n / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            desc = "lag-%d" % n
            pending[desc] = time.time()
            guests.beat(guests.ids[n % len(guests.ids)], desc)

    senders = [threading.Thread(target=send, args=(p, 4)) for p in range(4)]
    for t in senders:
        t.start()
    for t in senders:
        t.join()
    achieved = total / (time.monotonic() - started)
    stop_at[0] = time.time()
    stop.set()
    poller.join()
    return {"rate": rate, "achieved": achieved, "sent": total, "seen": len(lags),
            "lost": len(pending), "lags": sorted(lags)}


def _reset(db, ids):
    """Between two measured conductors: statuses and last-seen as before the first."""
    from sqlalchemy import delete, update

    from trove_lite.db import models
    with db.session() as s:
        s.execute(delete(models.ConductorLastSeen))
        s.execute(update(models.ServiceStatus).values(status="NEW", status_description=None))


def _pct(values, p):
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--guests", type=int, default=2000)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--burst", type=int, default=10000)
    parser.add_argument("--db", choices=["sqlite", "mariadb"], default="sqlite")
    parser.add_argument("--core", type=int, default=os.cpu_count() - 1)
    parser.add_argument("--serve", choices=["conductor", "noop"])
    parser.add_argument("--state-dir")
    parser.add_argument("--db-url")
    parser.add_argument("--exchange")
    parser.add_argument("--topic")
    parser.add_argument("--batch-ms", type=float, default=5.0,
                        help="[conductor] heartbeat_batch_ms of the measured conductor; "
                             "it is also measured with 0 (one transaction each)")
    parser.add_argument("--baseline-code", default=None,
                        help="a checkout of an older trove-lite (e.g. a git worktree of "
                             "main): its conductor is measured instead of the one "
                             "transaction each, same batches, same run")
    args = parser.parse_args()
    if args.serve:
        return serve(args)

    from trove_lite.db import models
    from trove_lite.db.session import Database
    state_dir = tempfile.mkdtemp(prefix="trove-lite-hb-")
    schema = None
    if args.db == "sqlite":
        db_url = "sqlite:///%s/control.sqlite" % state_dir
    else:
        import pymysql
        schema = "tl_hb_" + uuid.uuid4().hex[:8]
        conn = pymysql.connect(host="127.0.0.1", user="root", autocommit=True)
        conn.cursor().execute("CREATE DATABASE `%s`" % schema)
        db_url = "mysql+pymysql://root@127.0.0.1:3306/%s?charset=utf8mb4" % schema
    db = Database(db_url)
    db.sync()
    ids = [str(uuid.uuid4()) for _ in range(args.guests)]
    with db.session() as s:
        s.add_all([models.ServiceStatus(instance_id=iid, status="NEW") for iid in ids])
    exchange = "tl_hb_bench_%s" % uuid.uuid4().hex[:8]
    print("heartbeats: %d guests, one every %.0f s (%.0f/s), control DB %s, consumer on core %d"
          % (args.guests, args.interval, args.guests / args.interval, args.db, args.core))
    base = absorb("noop", (ids, False), args, state_dir, db_url, exchange, db)
    base["consumer"].stop()
    if args.baseline_code:
        single = absorb("conductor", (ids, True), args, state_dir, db_url, exchange, db,
                        args.batch_ms, os.path.abspath(args.baseline_code))
    else:
        single = absorb("conductor", (ids, True), args, state_dir, db_url, exchange, db, 0.0)
    single["consumer"].stop()
    _reset(db, ids)
    real = absorb("conductor", (ids, True), args, state_dir, db_url, exchange, db,
                  args.batch_ms)
    try:
        lag = lag_at_rate(real, db, args)
    finally:
        real["consumer"].stop()
    other = ("conductor of %s" % args.baseline_code if args.baseline_code
             else "one transaction each")
    print("absorbed, burst of %d:   conductor (sealed, DB writes, batches of %g ms) %7.0f/s"
          "   %s %7.0f/s   baseline no-op endpoint (unsealed) %7.0f/s" % (
              args.burst, args.batch_ms, real["per_s"], other, single["per_s"],
              base["per_s"]))
    print("casting side:            sealed clients %7.0f/s   unsealed %7.0f/s" % (
        real["cast_per_s"], base["cast_per_s"]))
    print("consumer CPU per beat:   conductor %.2f ms (%s %.2f ms)   no-op %.2f ms" % (
        real["cpu_ms_each"], other, single["cpu_ms_each"], base["cpu_ms_each"]))
    lags = lag["lags"]
    if lags:
        print("status lag at %.0f/s (achieved %.0f/s, %d sent, %d seen, %d not seen): "
              "p50 %.3f s  p99 %.3f s  max %.3f s  (poll every 0.1 s)" % (
                  lag["rate"], lag["achieved"], lag["sent"], lag["seen"], lag["lost"],
                  statistics.median(lags), _pct(lags, 99), lags[-1]))
    print(json.dumps({"guests": args.guests, "absorbed_per_s": round(real["per_s"]),
                      ("baseline_code_per_s" if args.baseline_code else "unbatched_per_s"):
                          round(single["per_s"]),
                      "baseline_noop_per_s": round(base["per_s"]),
                      "p99_lag_s": round(_pct(lags, 99), 3) if lags else None}))
    db.dispose()
    if schema:
        conn.cursor().execute("DROP DATABASE `%s`" % schema)


if __name__ == "__main__":
    main()
