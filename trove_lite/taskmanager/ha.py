"""High availability of replication sets: durability and endpoints.

A set (a source and its replicas) gets two stable addresses from the endpoint
driver (drivers/endpoint): ``rw`` reaches the current source, ``ro`` the
replicas that are healthy and less than ``[ha] ro_max_lag`` seconds behind,
else the source. The taskmanager is the only writer of the endpoints and of
their ``replication_endpoints`` rows, which the API shows on every member.

Decide, then act: ``decide_layout`` is pure (a snapshot of the set in, the
layout and one sentence per excluded replica out); ``HA.sync`` reads the
snapshot, asks it, and applies the result through the driver. It runs when a
flow changed the set (replica created or deleted, promote, eject, detach) and
every ``[ha] endpoint_refresh_interval`` seconds, so ``ro`` follows lag.

Failover: ``decide_failover`` (pure, Patroni style) reads a ``SetHealth``
snapshot and returns an action and one sentence, which is logged. The source
is declared dead only on two signals together: ``PROBES_TO_DEAD`` consecutive
failed direct probes of its mariadbd AND its agent silent for ``[ha]
failover_window`` seconds or reporting the database down (an agent can
outlive its database). Then rw is taken off it (fencing: nothing reaches it
through rw any more), the eject flow promotes the replica that received the
most (it applies all it received first) and repoints the others, and rw
follows the new source. Under semisync no acknowledged commit is lost: each
was received by at least one replica before the client saw it.

Durability: with ``[replication] durability = semisync`` (the default) a
source with at least one replica waits, at AFTER_SYNC, for one replica to
acknowledge each commit (MariaDB's semi-synchronous replication), so a commit
acknowledged to a client survives the loss of the source. A source whose
replicas all stop acknowledging waits ``semisync_timeout_ms`` once, then
continues asynchronously (shown as ``fell_back_to_async``) until a replica
catches up: a source cut off from its replicas does not block forever, and
writes it takes meanwhile are not protected.
"""

import json
import logging
import os
import socket
import threading
import time
from typing import NamedTuple

from oslo_config import cfg
from sqlalchemy import delete, select

from trove_lite import exceptions
from trove_lite.db import models
from trove_lite.drivers.endpoint import base as endpoint_base
from trove_lite.instance import events
from trove_lite.guestagent.datastore.mariadb.replication import domain0_seq
from trove_lite.status import ServiceStatus, TaskStatus

LOG = logging.getLogger(__name__)

HA_OPTS = [
    cfg.StrOpt("endpoint_driver", default="local", choices=["local", "none"],
               help="Endpoints of replication sets: local (an HAProxy per set on a "
                    "loopback address of the local compute driver's range; only with "
                    "the local compute driver) or none."),
    cfg.FloatOpt("ro_max_lag", default=10.0, min=0,
                 help="A replica further behind its source than this many seconds "
                      "leaves the ro endpoint until it catches up."),
    cfg.FloatOpt("endpoint_refresh_interval", default=2.0, min=0.2,
                 help="Seconds between two checks of every set's ro membership and "
                      "of its source's health."),
    cfg.BoolOpt("auto_failover", default=True,
                help="Promote the most advanced replica when a set's source is dead."),
    cfg.FloatOpt("failover_window", default=3.0, min=0.5,
                 help="Seconds without a heartbeat from a source (with its mariadbd "
                      "failing direct probes too) before it is declared dead."),
]

PORT = 3306
PROBES_TO_DEAD = 2
NOTHING, WAIT, FAILOVER = "nothing", "wait", "failover"


def list_opts():
    return [("ha", list(HA_OPTS))]


def register(conf):
    for group, opts in list_opts():
        conf.register_opts(opts, group=group)


class MemberSnapshot(NamedTuple):
    id: str
    address: str | None
    service_status: str | None
    report: dict | None        # the replication block the guest last reported


# -- pure decision --------------------------------------------------------------------
def decide_layout(source, replicas, max_lag):
    """(Layout, [reason...]): rw to the source, ro to the replicas fit to serve
    reads (pure). A replica is left out, with a reason, when it is not serving,
    has not reported, is broken, or lags more than ``max_lag`` seconds."""
    reasons, ro = [], []
    for m in sorted(replicas, key=lambda m: m.id):
        report = m.report or {}
        lag = report.get("lag_seconds")
        if not m.address or m.service_status not in ServiceStatus.SERVING:
            reasons.append("%s left out of ro: it is %s" % (m.id, m.service_status))
        elif report.get("role") != "replica":
            reasons.append("%s left out of ro: it has not reported as a replica" % m.id)
        elif report.get("broken") or report.get("sql_thread") != "Yes":
            reasons.append("%s left out of ro: replication stopped (%s)" % (
                m.id, report.get("broken_reason") or report.get("last_error") or "SQL thread "
                "not running"))
        elif lag is None or lag > max_lag:
            reasons.append("%s left out of ro: lag %s s over %s s" % (m.id, lag, max_lag))
        else:
            ro.append(endpoint_base.Member(m.id, m.address, PORT))
    rw = endpoint_base.Member(source.id, source.address, PORT) if source.address else None
    return endpoint_base.Layout(rw=rw, ro=tuple(ro)), reasons


class SetHealth(NamedTuple):
    source_id: str
    heartbeat_age: float | None     # seconds since the source's guest last reported
    reported_serving: bool          # its last report said the database serves
    probe_failures: int             # consecutive failed direct probes of its mariadbd
    replicas: tuple                 # (id, answers a probe?, received GTID seq of domain 0)
    busy: str | None                # a task running on a member, if any
    window: float


def decide_failover(h):
    """(action, target replica id or None, reason) for one set (pure)."""
    if h.busy:
        return NOTHING, None, "a flow (%s) is changing the set of %s" % (h.busy, h.source_id)
    # the agent may outlive its database: a report that it does not serve counts
    # as much as no report at all
    silent = (h.heartbeat_age is None or h.heartbeat_age >= h.window
              or not h.reported_serving)
    unreachable = h.probe_failures >= PROBES_TO_DEAD
    if not silent and not unreachable:
        return NOTHING, None, "source %s is alive" % h.source_id
    if not silent:
        return WAIT, None, ("source %s fails direct probes (%d) but its agent still "
                            "reports: not failing over on one signal" % (
                                h.source_id, h.probe_failures))
    if not unreachable:
        return WAIT, None, ("source %s is silent or reports its database down, but the "
                            "database answers: not failing over on one signal"
                            % h.source_id)
    alive = [r for r in h.replicas if r[1]]
    if not alive:
        return NOTHING, None, ("source %s is dead but no replica answers: nothing to "
                               "promote" % h.source_id)
    winner = max(sorted(alive), key=lambda r: r[2])
    age = "ever" if h.heartbeat_age is None else "%.1f s" % h.heartbeat_age
    return FAILOVER, winner[0], (
        "source %s is dead (last report %s ago%s, %d failed probes): failing over to "
        "%s, the replica that received the most (GTID seq %d)" % (
            h.source_id, age, "" if h.reported_serving else " said it is down",
            h.probe_failures, winner[0], winner[2]))


def probe(address, port=PORT, timeout=1.0):
    """True if a mariadbd answers at ``address`` with its greeting."""
    try:
        with socket.create_connection((address, port), timeout=timeout) as s:
            s.settimeout(timeout)
            return len(s.recv(64)) > 0
    except OSError:
        return False


def build_endpoints(conf, compute):
    """The endpoint driver ``[ha] endpoint_driver`` names, or None."""
    register(conf)
    if conf.ha.endpoint_driver == "none" or not hasattr(compute, "subnet"):
        return None
    from trove_lite import config
    from trove_lite.drivers.endpoint.haproxy import LocalHAProxy
    return LocalHAProxy(os.path.dirname(compute.servers_dir), compute.subnet,
                        os.path.join(config.templates_dir(conf), "haproxy"))


class HA:
    def __init__(self, flows, endpoints):
        """``flows``: the InstanceFlows; ``endpoints``: an EndpointDriver or None."""
        self.flows, self.db, self.conf = flows, flows.db, flows.conf
        register(self.conf)
        self.endpoints = endpoints
        self._lock = threading.Lock()
        self._applied = {}      # set id -> the last Layout applied
        self._probe_failures = {}   # source id -> consecutive failed probes
        self._stop = threading.Event()

    def set_changed(self, source_id, keep=False):
        """After a flow changed the set of ``source_id``: endpoints first (the
        shortest write outage), then every member's semi-sync side."""
        try:
            self.sync(source_id, keep=keep)
        except Exception as e:
            LOG.warning("endpoints of the set of %s not updated: %s", source_id, _msg(e))
        if source_id and self._alive(source_id):
            self.flows.replication.apply_durability(source_id)

    # -- snapshot ------------------------------------------------------------------------
    def _alive(self, instance_id):
        with self.db.session() as s:
            inst = s.get(models.Instance, instance_id)
            return inst is not None and not inst.deleted

    def snapshot(self, source_id):
        """(source MemberSnapshot, [replica MemberSnapshot], set id or None)."""
        with self.db.session() as s:
            source = s.get(models.Instance, source_id)
            rows = s.execute(select(models.Instance).where(
                models.Instance.slave_of_id == source_id,
                models.Instance.deleted.is_(False))).scalars().all()
            ids = [source_id] + [r.id for r in rows]
            services = {st.instance_id: st for st in s.execute(
                select(models.ServiceStatus).where(
                    models.ServiceStatus.instance_id.in_(ids))).scalars()}
            set_ids = [e.set_id for e in s.execute(select(models.ReplicationEndpoint).where(
                models.ReplicationEndpoint.instance_id.in_(ids))).scalars()]

            def member(inst):
                st = services.get(inst.id)
                report = None
                if st is not None and st.replication:
                    try:
                        report = json.loads(st.replication)
                    except ValueError:
                        report = None
                return MemberSnapshot(inst.id, inst.address, st.status if st else None,
                                      report)
            src = member(source) if source is not None and not source.deleted else None
            set_id = max(set(set_ids), key=set_ids.count) if set_ids else None
            return src, [member(r) for r in rows], set_id

    # -- act -----------------------------------------------------------------------------
    def sync(self, source_id, keep=False, fence=False):
        """Apply the set's layout; ``keep``: a source left without replicas by a
        failover keeps its endpoints (its clients use them); ``fence``: rw off
        the source."""
        if self.endpoints is None:
            return
        with self._lock:
            source, replicas, set_id = self.snapshot(source_id)
            if source is None or not (replicas or (keep and set_id)):
                self._remove(source_id)
                return
            set_id = set_id or source_id
            layout, reasons = decide_layout(source, replicas, self.conf.ha.ro_max_lag)
            if fence:
                layout = layout._replace(rw=None)
            if self._applied.get(set_id) == layout:
                return
            for reason in reasons:
                LOG.info("set %s: %s", set_id, reason)
            eps = self.endpoints.ensure(set_id, layout)
            members = [source.id] + [r.id for r in replicas]
            with self.db.session() as s:
                s.execute(delete(models.ReplicationEndpoint).where(
                    models.ReplicationEndpoint.set_id == set_id,
                    models.ReplicationEndpoint.instance_id.not_in(members)))
                for mid in members:
                    row = s.get(models.ReplicationEndpoint, mid)
                    if row is None:
                        s.add(models.ReplicationEndpoint(instance_id=mid, set_id=set_id,
                                                         rw=eps.rw, ro=eps.ro))
                    else:
                        row.set_id, row.rw, row.ro = set_id, eps.rw, eps.ro
            self._applied[set_id] = layout

    def _remove(self, source_id):
        """Endpoints go with the set whose source ``source_id`` was deleted or left
        alone; a member that left a set has no row any more, so removing by it
        never touches the set it left."""
        with self.db.session() as s:
            own = s.get(models.ReplicationEndpoint, source_id)
            if own is None:
                return
            set_id = own.set_id
            s.execute(delete(models.ReplicationEndpoint).where(
                models.ReplicationEndpoint.set_id == set_id))
        self.endpoints.remove(set_id)
        self._applied.pop(set_id, None)
        LOG.info("set %s (source %s) has no replica left: endpoints removed", set_id,
                 source_id)

    def refresh_all(self):
        with self.db.session() as s:
            sources = set(s.execute(select(models.Instance.slave_of_id).where(
                models.Instance.slave_of_id.is_not(None),
                models.Instance.deleted.is_(False))).scalars())
        for source_id in sorted(sources):
            try:
                self.sync(source_id)
            except (exceptions.TroveLiteError, OSError) as e:
                LOG.warning("endpoints of the set of %s not refreshed: %s", source_id,
                            _msg(e))
            if self.conf.ha.auto_failover:
                self.check_source(source_id)

    # -- failover ---------------------------------------------------------------------
    def health(self, source_id):
        """The SetHealth snapshot of a set (reads the control DB, probes the source)."""
        now = models.utcnow()
        with self.db.session() as s:
            source = s.get(models.Instance, source_id)
            st = s.execute(select(models.ServiceStatus).where(
                models.ServiceStatus.instance_id == source_id)).scalar_one_or_none()
            rows = s.execute(select(models.Instance).where(
                models.Instance.slave_of_id == source_id,
                models.Instance.deleted.is_(False))).scalars().all()
            busy = next((m.task_status for m in [source] + list(rows)
                         if m.task_status != TaskStatus.NONE), None)
            members = [(r.id, r.address) for r in rows]
            address = source.address
            age = (now - st.updated_at).total_seconds() if st and st.updated_at else None
            serving = bool(st) and st.status in ServiceStatus.SERVING
        ok = probe(address) if address else False
        failures = 0 if ok else self._probe_failures.get(source_id, 0) + 1
        self._probe_failures[source_id] = failures
        _src, reports, _set = self.snapshot(source_id)
        seqs = {m.id: domain0_seq(((m.report or {}).get("received_coords") or {}).get("gtid"))
                for m in reports}
        replicas = tuple((mid, bool(addr) and probe(addr), seqs.get(mid, 0))
                         for mid, addr in members) if failures >= PROBES_TO_DEAD else ()
        return SetHealth(source_id, age, serving, failures, replicas, busy,
                         self.conf.ha.failover_window)

    def check_source(self, source_id):
        action, target, reason = decide_failover(self.health(source_id))
        if action == NOTHING and reason.endswith("alive"):
            return
        LOG.info("failover check: %s", reason)
        if action == FAILOVER:
            self.failover(source_id, target, reason)

    def failover(self, source_id, target, reason):
        started = time.monotonic()
        self.sync(source_id, fence=True)     # nothing reaches the dead source through rw
        self.flows.set_task(target, TaskStatus.EJECTING)
        self.flows.replication.eject(target)     # clears the task; a fault if it failed
        new = self.flows.load(target)
        winner = target if not new.slave_of_id else new.slave_of_id
        self._probe_failures.pop(source_id, None)
        self.set_changed(winner, keep=True)
        events.record(self.db, winner, "failover", "from %s: %s" % (source_id, reason))
        LOG.warning("failover of %s done in %.2f s: %s is the source (%s)", source_id,
                    time.monotonic() - started, winner, reason)

    def start(self):
        if self.endpoints is None:
            return

        def loop():
            while not self._stop.wait(self.conf.ha.endpoint_refresh_interval):
                try:
                    self.refresh_all()
                except Exception:
                    LOG.exception("Unexpected exception raised, please report it as a BUG")
        threading.Thread(target=loop, name="ha-endpoints", daemon=True).start()

    def stop(self):
        self._stop.set()


def _msg(e):
    return getattr(e, "message", None) or str(e)
