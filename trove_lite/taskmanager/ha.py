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
import threading
from typing import NamedTuple

from oslo_config import cfg
from sqlalchemy import delete, select

from trove_lite import exceptions
from trove_lite.db import models
from trove_lite.drivers.endpoint import base as endpoint_base
from trove_lite.status import ServiceStatus

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
                 help="Seconds between two checks of every set's ro membership."),
]

PORT = 3306


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
        self._stop = threading.Event()

    def set_changed(self, source_id):
        """After a flow changed the set of ``source_id``: endpoints first (the
        shortest write outage), then every member's semi-sync side."""
        try:
            self.sync(source_id)
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
    def sync(self, source_id):
        if self.endpoints is None:
            return
        with self._lock:
            source, replicas, set_id = self.snapshot(source_id)
            if source is None or not replicas:
                self._remove(set_id or source_id, source_id)
                return
            set_id = set_id or source_id
            layout, reasons = decide_layout(source, replicas, self.conf.ha.ro_max_lag)
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

    def _remove(self, set_id, source_id):
        with self.db.session() as s:
            rows = s.execute(select(models.ReplicationEndpoint).where(
                models.ReplicationEndpoint.set_id == set_id)).scalars().all()
            if not rows:
                return
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
