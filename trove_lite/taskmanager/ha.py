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
outlive its database); checked every ``[ha] probe_interval`` in a loop of its
own. Then, while the replicas report what they received, rw is taken off it
(fencing: nothing reaches it through rw any more), the set's term is bumped and
a fence cast to its guest; the eject flow promotes the replica that received
the most (it applies all it received first), rw moves to it at once and the
others follow it. Under semisync no acknowledged commit is lost: each
was received by at least one replica before the client saw it. A source that
reports itself fenced (guestagent/datastore/mariadb/fence.py: it takes no
write) counts as silent.

Rejoin: a failover records the old source in ``ha_rejoins`` and bumps the
set's ``term`` (``ha_sets``). The eject it runs fences the old source first
(``fenced_by``, role ``fenced``, BLOCKED); when its agent reports again (fenced
or not) and its database answers, it is fenced for good (``ha_fence``), its
``gtid_binlog_state`` is
compared with the new source's (``errant_gtids``, pure) and it follows the new
source, which clears ``fenced_by``; with errant transactions (commits no
replica acknowledged) it is re-seeded from the new source, or with ``[ha]
rejoin_errant = refuse`` left fenced in REJOIN_ERROR with a fault naming them.
A detach releases a fenced former source to stand alone and cancels its
rejoin. A manual eject records no rejoin: its old source stays fenced until a
detach.

Two taskmanagers: every set's checks, failover and rejoin run only in the
taskmanager holding the set's lease (``ha_sets.lease_holder`` until
``lease_expires``), taken and renewed by one conditional UPDATE per refresh.

Durability: with ``[replication] durability = semisync`` (the default) a
source with at least one replica waits, at AFTER_SYNC, for one replica to
acknowledge each commit (MariaDB's semi-synchronous replication), so a commit
acknowledged to a client survives the loss of the source. A source whose
replicas all stop acknowledging waits ``semisync_timeout_ms`` once, then
continues asynchronously (shown as ``fell_back_to_async``) until a replica
catches up: a source cut off from its replicas does not block forever, and
writes it takes meanwhile are not protected.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import socket
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any, Callable, Iterable, NamedTuple

from oslo_config import cfg
from sqlalchemy import delete, exc, or_, select, update

from trove_lite import datastores, exceptions
from trove_lite.db import models
from trove_lite.drivers.compute.base import ComputeDriver
from trove_lite.drivers.endpoint import base as endpoint_base
from trove_lite.instance import events
from trove_lite.guestagent.datastore.mariadb.replication import domain0_seq
from trove_lite.status import ServiceStatus, TaskStatus

from trove_lite.taskmanager.instance_flows import existing

if TYPE_CHECKING:
    from trove_lite.taskmanager.instance_flows import InstanceFlows

LOG = logging.getLogger(__name__)

HA_OPTS = [
    cfg.StrOpt("endpoint_driver", default="local", choices=["local", "octavia", "none"],
               help="Endpoints of replication sets: local (an HAProxy per set on a "
                    "loopback address of the local compute driver's range; only with "
                    "the local compute driver), octavia (a load balancer per set, see "
                    "[octavia]) or none."),
    cfg.FloatOpt("ro_max_lag", default=10.0, min=0,
                 help="A replica further behind its source than this many seconds "
                      "leaves the ro endpoint until it catches up."),
    cfg.FloatOpt("endpoint_refresh_interval", default=2.0, min=0.2,
                 help="Seconds between two checks of every set's ro membership and "
                      "of its source's health."),
    cfg.BoolOpt("auto_failover", default=True,
                help="Promote the most advanced replica when a set's source is dead."),
    cfg.FloatOpt("probe_interval", default=0.5, min=0.1,
                 help="Seconds between two health checks (a direct probe of its "
                      "mariadbd, its agent's last report) of the source of every set "
                      "this taskmanager holds; failover needs PROBES_TO_DEAD failed "
                      "probes in a row AND the agent silent for failover_window."),
    cfg.FloatOpt("failover_window", default=3.0, min=0.5,
                 help="Seconds without a heartbeat from a source (with its mariadbd "
                      "failing direct probes too) before it is declared dead."),
    cfg.FloatOpt("lease_seconds", default=6.0, min=1.0,
                 help="How long a taskmanager's hold on a set's failover decisions "
                      "lasts without renewal (renewed every endpoint_refresh_interval); "
                      "another taskmanager takes the set over once it expires."),
    cfg.StrOpt("rejoin_errant", default="reseed", choices=["reseed", "refuse"],
               help="A former source that comes back with transactions the new source "
                    "never got (commits no replica acknowledged) is re-seeded from the "
                    "new source, discarding them (reseed), or left read_only in "
                    "REJOIN_ERROR for an operator (refuse)."),
    cfg.FloatOpt("source_fence_after", default=5.0, min=0.5,
                 help="Seconds a semi-sync source with no replica connected keeps its "
                      "clients waiting before it fences itself (read_only, waiting "
                      "commits cut); below [replication] semisync_timeout_ms, so no "
                      "commit falls back to async unprotected."),
]

REJOIN_PENDING, REJOINED, NEEDS_REBUILD = "pending", "rejoined", "needs_rebuild"
REJOIN_DETACHED = "detached"     # a detach released the fenced former source

PORT = 3306
PROBES_TO_DEAD = 2
NOTHING, WAIT, FAILOVER = "nothing", "wait", "failover"


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    from trove_lite.drivers.endpoint import octavia
    return [("ha", list(HA_OPTS))] + octavia.list_opts()


def register(conf: cfg.ConfigOpts) -> None:
    for group, opts in list_opts():
        conf.register_opts(opts, group=group)


class MemberSnapshot(NamedTuple):
    id: str
    address: str | None
    service_status: str | None
    report: dict | None        # the replication block the guest last reported


class SeedTarget(NamedTuple):
    """The replica a seed is for when it is not a new instance row (a former
    source re-seeded by its rejoin): seed_request reads only these two."""

    id: str
    slave_of_id: str


class Phases:
    """How long each step of a flow took, in order (logged, and in its event)."""

    def __init__(self) -> None:
        self.started = self.last = time.monotonic()
        self.steps: list = []

    def mark(self, step: str) -> None:
        """``step`` ended now (it began at the previous mark)."""
        now = time.monotonic()
        self.steps.append((step, now - self.last))
        self.last = now

    def add(self, step: str, seconds: float) -> None:
        """A step measured elsewhere (the guest's part of a call)."""
        self.steps.append((step, float(seconds)))

    def total(self) -> float:
        return self.last - self.started

    def __str__(self) -> str:
        return "; ".join("%s %.3f s" % step for step in self.steps)


# -- pure decision --------------------------------------------------------------------
def decide_layout(source: MemberSnapshot, replicas: Iterable[MemberSnapshot],
                  max_lag: float) -> tuple[endpoint_base.Layout, list[str]]:
    """(Layout, [reason...]): rw to the source, ro to the replicas fit to serve
    reads (pure). A replica is left out, with a reason, when it is not serving,
    has not reported, is broken, or lags more than ``max_lag`` seconds."""
    reasons: list[str] = []
    ro: list[endpoint_base.Member] = []
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
                                    # (and that it is not fenced: it takes no write)
    probe_failures: int             # consecutive failed direct probes of its mariadbd
    replicas: tuple                 # (id, answers a probe?, received GTID seq of domain 0)
    busy: str | None                # a task running on a member, if any
    window: float


def replica_lags(replicas: Iterable[MemberSnapshot]) -> dict[str, float | None]:
    """{replica id: lag seconds or None (not reported, broken)} of a set, for the
    source's schema migrations to throttle on (pure)."""
    out: dict[str, float | None] = {}
    for m in replicas:
        report = m.report or {}
        lag = report.get("lag_seconds")
        out[m.id] = None if report.get("broken") or lag is None else float(lag)
    return out


def decide_failover(h: SetHealth) -> tuple[str, str | None, str]:
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
            h.source_id, age, "" if h.reported_serving else " said it is down or fenced",
            h.probe_failures, winner[0], winner[2]))


def next_term(row_term: int | None, reported: Iterable[int | str | None]) -> int:
    """A set's next term: one above its row's and every term a member reported
    (pure)."""
    return max([row_term or 0] + [int(t) for t in reported if t is not None]) + 1


def former_source_back(status: str | None, report: dict | None,
                       reported_at: datetime.datetime | None,
                       failed_over_at: datetime.datetime | None) -> bool:
    """Whether a source a failover left behind is back for its rejoin (pure): its
    agent reported since the failover and its database serves, or the eject's
    fence shows it BLOCKED with role ``fenced`` (read_only, serving otherwise)."""
    if reported_at is None or failed_over_at is None or reported_at <= failed_over_at:
        return False
    if status in ServiceStatus.SERVING:
        return True
    return status == ServiceStatus.BLOCKED and (report or {}).get("role") == "fenced"


def parse_gtid_state(text: str | None) -> dict:
    """{(domain, server_id): seq} from ``gtid_binlog_state`` / ``gtid_slave_pos``
    text such as ``'0-1-100,0-2-150'`` (pure)."""
    out: dict = {}
    for part in (text or "").split(","):
        bits = part.strip().split("-")
        if len(bits) == 3 and all(b.isdigit() for b in bits):
            key = (int(bits[0]), int(bits[1]))
            out[key] = max(out.get(key, 0), int(bits[2]))
    return out


def errant_gtids(old: dict, new: dict) -> list:
    """The transactions the old source has and the new one lacks (pure): for every
    (domain, server) of the old source's ``gtid_binlog_state``, the new source
    must have reached that sequence number in its binlog or applied it
    (``gtid_slave_pos``). ``old``/``new``: the guests' ``gtid_state`` dicts.
    Returns ``["0-1-101 (the new source has up to 0-1-100)", ...]``."""
    have = parse_gtid_state(new.get("gtid_binlog_state"))
    for (domain, server), seq in parse_gtid_state(new.get("gtid_slave_pos")).items():
        have[(domain, server)] = max(have.get((domain, server), 0), seq)
    errant = []
    for (domain, server), seq in sorted(parse_gtid_state(old.get("gtid_binlog_state")).items()):
        got = have.get((domain, server), 0)
        if seq > got:
            errant.append("%d-%d-%d (the new source has up to %s)" % (
                domain, server, seq, "%d-%d-%d" % (domain, server, got) if got else "none"))
    return errant


def probe(address: str, port: int = PORT, timeout: float = 1.0) -> bool:
    """True if a mariadbd answers at ``address`` with its greeting."""
    try:
        with socket.create_connection((address, port), timeout=timeout) as s:
            s.settimeout(timeout)
            return len(s.recv(64)) > 0
    except OSError:
        return False


def build_endpoints(conf: cfg.ConfigOpts,
                    compute: ComputeDriver | None) -> endpoint_base.EndpointDriver | None:
    """The endpoint driver ``[ha] endpoint_driver`` names, or None."""
    register(conf)
    if conf.ha.endpoint_driver == "octavia":
        from trove_lite.drivers import factory
        from trove_lite.drivers.endpoint.octavia import OctaviaEndpoints
        g = conf.octavia
        return OctaviaEndpoints(factory.openstack_session(conf), g.vip_subnet_id,
                                g.endpoint_override, g.region_name, g.status_timeout,
                                g.poll_interval)
    from trove_lite.drivers.compute.local import LocalComputeDriver
    if conf.ha.endpoint_driver == "none" or not isinstance(compute, LocalComputeDriver):
        return None
    from trove_lite import config
    from trove_lite.drivers.endpoint.haproxy import LocalHAProxy
    return LocalHAProxy(os.path.dirname(compute.servers_dir), compute.subnet,
                        os.path.join(config.templates_dir(conf), "haproxy"))


class HA:
    def __init__(self, flows: InstanceFlows,
                 endpoints: endpoint_base.EndpointDriver | None) -> None:
        """``flows``: the InstanceFlows; ``endpoints``: an EndpointDriver or None."""
        self.flows, self.db, self.conf = flows, flows.db, flows.conf
        register(self.conf)
        self.endpoints = endpoints
        self._lock = threading.Lock()
        self._applied: dict[str, endpoint_base.Layout] = {}  # set id -> the last applied
        self._held: dict[str, bool] = {}  # set ids whose lease this taskmanager holds
        self._rejoining: set[str] = set()  # former sources a rejoin thread works on
        # former source id -> why its rejoin waits (logged once)
        self._rejoin_waits: dict[str, str] = {}
        self._probe_failures: dict[str, int] = {}  # source id -> consecutive failed probes
        self._watched: set[str] = set()  # sources of the sets whose lease this one holds
        # dead sources a failover works on: no refresh puts rw back on them
        self._failing_over: set[str] = set()
        self._stop = threading.Event()
        self.holder = "%s:%d:%s" % (socket.gethostname(), os.getpid(),
                                    uuid.uuid4().hex[:8])

    # -- the set's record: durability, term, lease ---------------------------------------
    def set_id_of(self, instance_id: str) -> str:
        """The set's id: the one its endpoints carry (stable across promotes),
        else the source's own id."""
        with self.db.session() as s:
            row = s.get(models.ReplicationEndpoint, instance_id)
            return row.set_id if row is not None else instance_id

    def durability(self, source_id: str) -> str:
        """The set's ``durability`` (``semisync`` unless the user chose ``async``;
        always ``async`` for a datastore without semi-sync: MySQL here)."""
        if not self._datastore(source_id).semisync:
            return "async"
        with self.db.session() as s:
            row = s.get(models.HASet, self.set_id_of(source_id))
            return row.durability if row is not None else self.conf.replication.durability

    def _datastore(self, instance_id: str) -> datastores.Datastore:
        with self.db.session() as s:
            inst = s.get(models.Instance, instance_id)
            version = s.get(models.DatastoreVersion, inst.datastore_version_id) \
                if inst is not None else None
            return datastores.get(version.manager if version is not None else None)

    def acquire(self, set_id: str, now: datetime.datetime | None = None) -> bool:
        """True if this taskmanager holds (or now takes) the lease on the set's
        failover decisions: a conditional UPDATE, so of two taskmanagers asking
        at once exactly one wins; a holder that stops renewing loses it after
        ``[ha] lease_seconds``."""
        now = now or models.utcnow()
        until = now + datetime.timedelta(seconds=self.conf.ha.lease_seconds)
        try:
            with self.db.session() as s:
                if s.get(models.HASet, set_id) is None:
                    s.add(models.HASet(set_id=set_id, term=0,
                                       durability=self.conf.replication.durability))
        except exc.IntegrityError:
            pass        # the other taskmanager created it at the same moment
        try:
            with self.db.session() as s:
                res: Any = s.execute(update(models.HASet).where(
                    models.HASet.set_id == set_id,
                    or_(models.HASet.lease_holder == self.holder,
                        models.HASet.lease_holder.is_(None),
                        models.HASet.lease_expires < now)).values(
                    lease_holder=self.holder, lease_expires=until))
                taken = res.rowcount
        except exc.SQLAlchemyError as e:
            LOG.warning("lease on set %s not renewed: %s", set_id, e)
            return False
        if taken != 1 and self._held.pop(set_id, None):
            LOG.warning("set %s: lease lost to another taskmanager", set_id)
        elif taken == 1 and set_id not in self._held:
            self._held[set_id] = True
            LOG.info("set %s: this taskmanager (%s) holds its lease", set_id, self.holder)
        return taken == 1

    def release_all(self) -> None:
        """On a clean stop: hand the sets over at once rather than at expiry."""
        with self.db.session() as s:
            s.execute(update(models.HASet).where(
                models.HASet.lease_holder == self.holder).values(
                lease_holder=None, lease_expires=None))
        self._held.clear()

    def point_rw(self, source_id: str, address: str | None,
                 then: Callable[[], object] | None = None) -> float | None:
        """rw to ``source_id`` at once, the rest of the set's endpoints as last
        applied (the write path of a promote or failover: no control DB write
        before it), then ``then()`` (the flow records the new topology) under
        the same lock, so no refresh puts rw back in between. The full sync
        follows (``set_changed``). Returns the seconds until rw had moved."""
        if self.endpoints is None:
            if then is not None:
                then()
            return None
        started = time.monotonic()
        moved = None
        with self._lock:
            try:
                set_id = self.set_id_of(source_id)
                if address is None:
                    raise endpoint_base.EndpointError(reason="the new source %s has no "
                                                             "address" % source_id)
                layout = self._applied.get(set_id) or endpoint_base.Layout(rw=None, ro=())
                layout = layout._replace(rw=endpoint_base.Member(source_id, address, PORT))
                self.endpoints.ensure(set_id, layout)
                self._applied[set_id] = layout
                moved = time.monotonic() - started
            except Exception as e:      # the full sync after the flow tries again
                LOG.warning("rw of the set of %s not moved: %s", source_id, _msg(e))
            finally:
                if then is not None:
                    then()
        return moved

    def sync_endpoints(self, source_id: str, keep: bool = True) -> None:
        """``sync`` that logs a failure rather than raising it (a flow goes on)."""
        try:
            self.sync(source_id, keep=keep)
        except Exception as e:
            LOG.warning("endpoints of the set of %s not updated: %s", source_id, _msg(e))

    def set_changed(self, source_id: str, keep: bool = False) -> None:
        """After a flow changed the set of ``source_id``: endpoints first (the
        shortest write outage), then every member's semi-sync side."""
        self.sync_endpoints(source_id, keep=keep)
        if source_id and self._alive(source_id):
            assert self.flows.replication is not None, "set by the TaskManager"
            self.flows.replication.apply_durability(source_id)

    # -- snapshot ------------------------------------------------------------------------
    def _alive(self, instance_id: str) -> bool:
        with self.db.session() as s:
            inst = s.get(models.Instance, instance_id)
            return inst is not None and not inst.deleted

    def snapshot(self, source_id: str
                 ) -> tuple[MemberSnapshot | None, list[MemberSnapshot], str | None]:
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

            def member(inst: models.Instance) -> MemberSnapshot:
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
    def sync(self, source_id: str, keep: bool = False, fence: bool = False) -> None:
        """Apply the set's layout; ``keep``: a source left without replicas by a
        failover keeps its endpoints (its clients use them); ``fence``: rw off
        the source."""
        if self.endpoints is None:
            return
        with self._lock:
            fence = fence or source_id in self._failing_over
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

    def _remove(self, source_id: str) -> None:
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
        if self.endpoints is not None:   # sync checked it; a stop may race
            self.endpoints.remove(set_id)
        self._applied.pop(set_id, None)
        LOG.info("set %s (source %s) has no replica left: endpoints removed", set_id,
                 source_id)

    def refresh_all(self) -> None:
        with self.db.session() as s:
            sources = {sid for sid in s.execute(select(models.Instance.slave_of_id).where(
                models.Instance.slave_of_id.is_not(None),
                models.Instance.deleted.is_(False))).scalars() if sid is not None}
        watched: set[str] = set()
        for source_id in sorted(sources):
            if not self.acquire(self.set_id_of(source_id)):
                continue        # another taskmanager watches this set
            watched.add(source_id)
            try:
                self.sync(source_id)
            except (exceptions.TroveLiteError, OSError) as e:
                LOG.warning("endpoints of the set of %s not refreshed: %s", source_id,
                            _msg(e))
            if not self._datastore(source_id).auto_failover:
                watched.discard(source_id)   # e.g. MySQL sets: asynchronous, no failover
            try:
                self.push_migration_lags(source_id)
            except Exception as e:  # the next pass tries again; stale lags throttle
                LOG.warning("replica lags not sent to %s: %s", source_id, _msg(e))

        self._watched = watched      # the probe loop checks these sources
        self.rejoin_all()

    def check_all(self) -> None:
        """Every ``[ha] probe_interval``: the health of each watched set's source."""
        for source_id in sorted(self._watched):
            self.check_source(source_id)

    def push_migration_lags(self, source_id: str) -> None:
        """A source running schema migrations gets its replicas' lag (they throttle on it)."""
        with self.db.session() as s:
            live = s.execute(select(models.SchemaMigration.id).where(
                models.SchemaMigration.instance_id == source_id,
                models.SchemaMigration.status.not_in(
                    ["COMPLETED", "FAILED", "ABORTED"]))).first()
        if live is None:
            return
        _, replicas, _ = self.snapshot(source_id)
        if replicas:
            self.flows.guest_factory(source_id).schema_migration_replica_lags(
                replica_lags(replicas))

    # -- failover ---------------------------------------------------------------------
    def health(self, source_id: str) -> SetHealth:
        """The SetHealth snapshot of a set (reads the control DB, probes the source)."""
        now = models.utcnow()
        with self.db.session() as s:
            source = existing(s, models.Instance, source_id)
            st = s.execute(select(models.ServiceStatus).where(
                models.ServiceStatus.instance_id == source_id)).scalar_one_or_none()
            rows = s.execute(select(models.Instance).where(
                models.Instance.slave_of_id == source_id,
                models.Instance.deleted.is_(False))).scalars().all()
            busy = next((m.task for m in [source] + list(rows)
                         if m.task != TaskStatus.NONE), None)
            members = [(r.id, r.address) for r in rows]
            address = source.address
            age = (now - st.updated_at).total_seconds() if st and st.updated_at else None
            serving = (st is not None and st.status in ServiceStatus.SERVING
                       and not _report(st).get("fenced"))
        ok = probe(address) if address else False
        failures = 0 if ok else self._probe_failures.get(source_id, 0) + 1
        self._probe_failures[source_id] = failures
        _src, reports, _set = self.snapshot(source_id)
        seqs = {m.id: domain0_seq(((m.report or {}).get("received_coords") or {}).get("gtid"))
                for m in reports}
        replicas = tuple((mid, probe(addr) if addr else False, seqs.get(mid, 0))
                         for mid, addr in members) if failures >= PROBES_TO_DEAD else ()
        return SetHealth(source_id, age, serving, failures, replicas, busy,
                         self.conf.ha.failover_window)

    def check_source(self, source_id: str) -> None:
        health = self.health(source_id)
        action, target, reason = decide_failover(health)
        if action == NOTHING and reason.endswith("alive"):
            return
        LOG.info("failover check: %s", reason)
        if action == FAILOVER and target is not None:
            self.failover(source_id, target, reason, health.heartbeat_age)

    def failover(self, source_id: str, target: str, reason: str,
                 detected_after: float | None = None) -> None:
        started = time.monotonic()
        ph = Phases()
        set_id = self.set_id_of(source_id)
        self._failing_over.add(source_id)
        try:
            winner = self._fail_over(source_id, target, set_id, ph)
        finally:
            self._failing_over.discard(source_id)
            self._watched = self._watched - {source_id}
        # the phases (bench and log): how old the last report was at the decision
        # (the detection), then each step of the flow
        detected = "" if detected_after is None else \
            "; last report before the decision %.3f s" % detected_after
        # phases before the reason: a long detail is cut at its end
        events.record(self.db, winner, "failover", "from %s in %.2f s%s; %s; why: %s" % (
            source_id, time.monotonic() - started, detected, ph, reason))
        LOG.warning("failover of %s done in %.2f s: %s is the source (%s%s; %s)", source_id,
                    time.monotonic() - started, winner, reason, detected, ph)

    def _fail_over(self, source_id: str, target: str, set_id: str, ph: Phases) -> str:
        """rw off the dead source, a new term, the eject; returns the new source."""
        members = [source_id] + [r.id for r in self.snapshot(source_id)[1]]
        terms: list[int] = []

        def fence() -> int:
            """While the eject asks the replicas where they are: rw off the dead
            source (before any replica opens), a new term, a fence to its guest."""
            started = time.monotonic()
            self.sync(source_id, fence=True)   # nothing reaches the dead source via rw
            self.flows.set_task(target, TaskStatus.EJECTING)
            terms.append(self.new_term(set_id, members))
            try:        # if its guest is alive (a partition), it stops writes too
                self.flows.guest_factory(source_id).ha_fence_soon(terms[0])
            except Exception as e:
                LOG.info("fencing %s through its guest not sent: %s", source_id, _msg(e))
            ph.add("  meanwhile: rw off the old source, new term, fence sent",
                   time.monotonic() - started)
            return terms[0]
        ph.mark("decided")
        # clears the task; a fault if it failed
        assert self.flows.replication is not None, "set by the TaskManager"
        self.flows.replication.eject(target, phases=ph, prelude=fence)
        term = terms[0] if terms else None
        new = self.flows.load(target)
        winner = target if not new.slave_of_id else new.slave_of_id
        self._probe_failures.pop(source_id, None)
        if winner != source_id:
            # a topology change means the eject ran its prelude (fence), which took
            # the term (the column is NOT NULL)
            assert term is not None, "an eject that changed the set without its prelude"
            with self.db.session() as s:
                row = s.get(models.HARejoin, source_id)
                if row is None:
                    row = models.HARejoin(instance_id=source_id)
                    s.add(row)
                row.set_id, row.source_id, row.term = set_id, winner, term
                row.state, row.reason = REJOIN_PENDING, None
                row.failed_over_at = models.utcnow()
        self.set_changed(winner, keep=True)
        return winner

    def new_term(self, set_id: str, member_ids: Iterable[str]) -> int:
        """Bump and return the set's term: above its row's, any term a member
        reported and any row under a member's id (a set's row may be younger
        than its members)."""
        ids = list(member_ids)
        with self.db.session() as s:
            reported: list[int | str | None] = [_report(st).get("term") for st in s.execute(
                select(models.ServiceStatus).where(
                    models.ServiceStatus.instance_id.in_(ids))).scalars()]
            # with no endpoints a set's id is its source's: it changes on a promote
            reported += list(s.execute(select(models.HASet.term).where(
                models.HASet.set_id.in_(ids))).scalars())
            row = s.get(models.HASet, set_id)
            if row is None:
                row = models.HASet(set_id=set_id, term=0,
                                   durability=self.conf.replication.durability)
                s.add(row)
            row.term = next_term(row.term, reported)
            return row.term

    # -- rejoin ---------------------------------------------------------------------------
    def rejoin_all(self) -> None:
        with self.db.session() as s:
            rows = [(r.instance_id, r.set_id) for r in s.execute(select(models.HARejoin).where(
                models.HARejoin.state == REJOIN_PENDING)).scalars()]
        for instance_id, set_id in rows:
            with self._lock:
                if instance_id in self._rejoining or not self.acquire(set_id):
                    continue
                self._rejoining.add(instance_id)
            # a re-seed takes a while: the loop goes on watching the sets meanwhile
            threading.Thread(target=self._rejoin_once, args=(instance_id,),
                             name="ha-rejoin", daemon=True).start()

    def _rejoin_once(self, instance_id: str) -> None:
        try:
            self.rejoin(instance_id)
        except (exceptions.TroveLiteError, OSError) as e:
            LOG.warning("rejoin of %s not done yet: %s", instance_id, _msg(e))
        except Exception:
            LOG.exception("Unexpected exception raised, please report it as a BUG")
        finally:
            with self._lock:
                self._rejoining.discard(instance_id)

    def rejoin(self, instance_id: str) -> str | None:
        """A source a failover left behind is back: fence it, check it has no
        transaction the new source lacks, and make it follow the new source;
        with errant transactions it is left fenced (read_only) in state
        ``needs_rebuild`` with a fault saying which. Returns the new state, or
        None while it is not back yet."""
        with self.db.session() as s:
            row = s.get(models.HARejoin, instance_id)
            inst = s.get(models.Instance, instance_id)
            st = s.execute(select(models.ServiceStatus).where(
                models.ServiceStatus.instance_id == instance_id)).scalar_one_or_none()
            if row is None or row.state != REJOIN_PENDING:
                return None
            if inst is None or inst.deleted or inst.slave_of_id:
                row.state = REJOINED if inst is not None and inst.slave_of_id else "gone"
                return row.state
            back = st is not None and former_source_back(
                st.status, _report(st), st.updated_at, row.failed_over_at)
            if not back or inst.task != TaskStatus.NONE or not inst.address:
                self._waiting(instance_id, "not back yet (%s, task %s)" % (
                    st.status if st else None, inst.task_status))
                return None
            address, term, new_id = inst.address, row.term, row.source_id
        if not probe(address):
            self._waiting(instance_id, "its agent reports, its database does not answer")
            return None
        new = self.flows.load(new_id)
        while new.slave_of_id:            # promoted again since: follow the set's source
            new = self.flows.load(new.slave_of_id)
        old_state = self.flows.guest_factory(instance_id).ha_fence(term)
        new_state = self.flows.guest_factory(new.id).gtid_state()
        errant = errant_gtids(old_state, new_state)
        if errant and self.conf.ha.rejoin_errant == "reseed":
            return self._reseed(instance_id, new, term, errant)
        if errant:
            reason = ("the former source %s has %d transaction(s) that the set's source %s "
                      "never got: %s; it stays read_only and out of the set: rebuild it "
                      "(delete it and create a replica)" % (
                          instance_id, len(errant), new.id, ", ".join(errant[:5])))
            self.flows.fail(instance_id, TaskStatus.REJOIN_ERROR, "Rejoin refused: " + reason)
            return self._rejoin_state(instance_id, NEEDS_REBUILD, reason)
        assert self.flows.replication is not None, "set by the TaskManager"
        strategy = self.flows.replication.strategy(new)
        coords = None
        if strategy == "binlog":
            coords = self.flows.guest_factory(new.id).coords_after(
                old_state["gtid_binlog_pos"])
        self.flows.guest_factory(instance_id).follow_source(_address(new), PORT, coords,
                                                            strategy, new.id, term)
        self._rejoined(instance_id, new.id, None)
        LOG.warning("former source %s rejoined the set as a replica of %s (term %s)",
                    instance_id, new.id, term)
        self.set_changed(new.id, keep=True)
        return REJOINED

    def _reseed(self, instance_id: str, new: models.Instance, term: int | None,
                errant: list[str]) -> str:
        """Patroni's rewind, MariaDB style: the former source's datadir goes and a
        fresh seed of the new source replaces it; it then follows as a replica."""
        reason = ("re-seeded from %s: its %d transaction(s) the set never got (never "
                  "acknowledged to a client) were discarded: %s" % (
                      new.id, len(errant), ", ".join(errant[:5])))
        LOG.warning("former source %s: %s", instance_id, reason)
        started = time.monotonic()
        assert self.flows.replication is not None, "set by the TaskManager"
        request = self.flows.replication.seed_request(SeedTarget(instance_id, new.id))
        self.flows.guest_factory(instance_id).ha_reseed(request)
        self._rejoined(instance_id, new.id, reason)
        LOG.warning("former source %s rejoined the set as a replica of %s after a re-seed "
                    "(%.1f s, term %s)", instance_id, new.id, time.monotonic() - started, term)
        self.set_changed(new.id, keep=True)
        return REJOINED

    def _waiting(self, instance_id: str, why: str) -> None:
        if self._rejoin_waits.get(instance_id) != why:
            self._rejoin_waits[instance_id] = why
            LOG.info("rejoin of former source %s waits: %s", instance_id, why)

    def _rejoined(self, instance_id: str, source_id: str, reason: str | None) -> None:
        """The topology and the rejoin's state change together (show never sees
        a replica whose rejoin is still pending); the eject's ``fenced_by`` goes:
        it is a member of the set again, not a fenced outsider."""
        with self.db.session() as s:
            inst = existing(s, models.Instance, instance_id)
            inst.slave_of_id, inst.fenced_by = source_id, None
            row = existing(s, models.HARejoin, instance_id)
            row.state, row.reason = REJOINED, reason

    def _rejoin_state(self, instance_id: str, state: str, reason: str) -> str:
        with self.db.session() as s:
            row = existing(s, models.HARejoin, instance_id)
            row.state, row.reason = state, reason
        return state

    def start(self) -> None:
        if self.endpoints is None:
            return

        def loop(interval: float, step: Callable[[], None]) -> None:
            while not self._stop.wait(interval):
                try:
                    step()
                except Exception:
                    LOG.exception("Unexpected exception raised, please report it as a BUG")
        threading.Thread(target=loop, args=(self.conf.ha.endpoint_refresh_interval,
                                            self.refresh_all),
                         name="ha-endpoints", daemon=True).start()
        if self.conf.ha.auto_failover:
            threading.Thread(target=loop, args=(self.conf.ha.probe_interval,
                                                self.check_all),
                             name="ha-probes", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        try:
            self.release_all()
        except exc.SQLAlchemyError as e:
            LOG.warning("leases not released: %s", e)


def _report(st: models.ServiceStatus) -> dict[str, Any]:
    try:
        return json.loads(st.replication or "null") or {}
    except ValueError:
        return {}


def _address(inst: models.Instance) -> str:
    if not inst.address:
        raise exceptions.TroveLiteError("instance %s has no address yet" % inst.id)
    return inst.address


def _msg(e: BaseException) -> str:
    return getattr(e, "message", None) or str(e)
