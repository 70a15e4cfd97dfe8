"""OpenStack endpoints: one Octavia load balancer per replication set.

The load balancer ``trove-lite-<set id>`` has a VIP on ``[octavia]
vip_subnet_id`` and two TCP listeners, ``rw`` on port 3306 and ``ro`` on 3307,
each with one pool (``rw``: the source alone; ``ro``: the replicas, round
robin, else the source). A change is one batch member update per pool
(``PUT /v2/lbaas/pools/{id}/members``: Octavia replaces the whole member list
in one amphora reconfiguration, so rw never has the old and the new source at
once), then a wait until the load balancer is ACTIVE again (Octavia refuses
changes to a load balancer in PENDING_*). A pool whose members did not change
is not touched, so sessions to surviving servers stay.

Octavia does not cut established sessions to a removed member (the amphora's
HAProxy drains them). The failover's fence ends them instead: the old source
kills its sessions waiting for an ack and turns read_only
(guestagent/datastore/mariadb/fence.py). ``cuts_sessions`` says so to the
contract suite.

REST through a keystoneauth1 Adapter (service type ``load-balancer``,
``[octavia] endpoint_override``); every failure is an EndpointError naming the
call and Octavia's ``faultstring``.
"""

import logging
import time
from typing import Any

from keystoneauth1 import adapter
from keystoneauth1 import exceptions as ks_exc
from oslo_config import cfg

from trove_lite.drivers.endpoint import base

LOG = logging.getLogger(__name__)

OCTAVIA_OPTS = [
    cfg.StrOpt("endpoint_override",
               help="Octavia endpoint (e.g. http://octavia:9876) instead of the one in "
                    "the service catalog."),
    cfg.StrOpt("region_name", help="Region of the load-balancer service in the catalog."),
    cfg.StrOpt("vip_subnet_id", help="Subnet the sets' load balancer VIPs are taken from."),
    cfg.FloatOpt("status_timeout", default=300.0, min=1,
                 help="Seconds to wait for a load balancer to become ACTIVE."),
    cfg.FloatOpt("poll_interval", default=1.0, min=0.01,
                 help="Seconds between two looks at a load balancer's status."),
]
LISTENERS = (("rw", 3306, "ROUND_ROBIN"), ("ro", 3307, "ROUND_ROBIN"))


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    return [("octavia", list(OCTAVIA_OPTS))]


def wanted_members(layout: base.Layout) -> dict[str, dict[str, str]]:
    """{pool name: {member id: "host:port"}} for a Layout (pure): ro falls back to
    the source when it names no replica."""
    rw = {layout.rw.id: "%s:%d" % (layout.rw.host, layout.rw.port)} if layout.rw else {}
    ro = {m.id: "%s:%d" % (m.host, m.port) for m in layout.ro} or dict(rw)
    return {"rw": rw, "ro": ro}


def member_body(wanted: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    """The batch update body of one pool (pure)."""
    members = []
    for member_id, addr in sorted(wanted.items()):
        host, port = addr.rsplit(":", 1)
        members.append({"name": member_id, "address": host, "protocol_port": int(port)})
    return {"members": members}


class OctaviaEndpoints(base.EndpointDriver):
    cuts_sessions = False

    def __init__(self, session: Any, vip_subnet_id: str | None,
                 endpoint_override: str | None = None, region_name: str | None = None,
                 status_timeout: float = 300.0, poll_interval: float = 1.0) -> None:
        self.api = adapter.Adapter(session, service_type="load-balancer",
                                   endpoint_override=endpoint_override,
                                   region_name=region_name)
        self.vip_subnet_id = vip_subnet_id
        self.status_timeout, self.poll_interval = status_timeout, poll_interval

    # -- REST -------------------------------------------------------------------------
    def _call(self, method: str, path: str, body: dict[str, Any] | None = None,
              ok: tuple[int, ...] = (200, 201, 202, 204), **params: str) -> Any:
        """Octavia's JSON answer ({} when empty; None for a 404 of GET/DELETE)."""
        try:
            resp = self.api.request("/v2/lbaas" + path, method, json=body, params=params,
                                    raise_exc=False)
        except ks_exc.ClientException as e:
            raise base.EndpointError(reason="Octavia %s %s failed: %s: %s" % (
                method, path, type(e).__name__, e)) from e
        if resp.status_code == 404 and method in ("GET", "DELETE"):
            return None
        if resp.status_code not in ok:
            try:
                fault = resp.json().get("faultstring") or resp.text
            except ValueError:
                fault = resp.text
            raise base.EndpointError(reason="Octavia %s %s: HTTP %s: %s" % (
                method, path, resp.status_code, fault))
        return resp.json() if resp.content else {}

    def _find(self, set_id: str) -> dict[str, Any] | None:
        found = self._call("GET", "/loadbalancers", name=_lb_name(set_id))
        lbs = (found or {}).get("loadbalancers") or []
        return lbs[0] if lbs else None

    def _wait_active(self, lb_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.status_timeout
        while True:
            lb = (self._call("GET", "/loadbalancers/%s" % lb_id) or {}).get("loadbalancer")
            if lb is None:
                raise base.EndpointError(reason="load balancer %s disappeared" % lb_id)
            status = lb.get("provisioning_status")
            if status == "ACTIVE":
                return lb
            if status == "ERROR":
                raise base.EndpointError(reason="load balancer %s went to ERROR" % lb_id)
            if time.monotonic() > deadline:
                raise base.EndpointError(reason="load balancer %s still %s after %s s" % (
                    lb_id, status, self.status_timeout))
            time.sleep(self.poll_interval)

    # -- the contract -------------------------------------------------------------------
    def ensure(self, set_id: str, layout: base.Layout) -> base.Endpoints:
        lb = self._find(set_id) or self._create(set_id)
        lb = self._wait_active(lb["id"])
        pools = self._pools(lb["id"])
        for name, wanted in wanted_members(layout).items():
            pool_id = pools[name]
            current = {m["name"]: "%s:%d" % (m["address"], m["protocol_port"])
                       for m in self._call("GET", "/pools/%s/members" % pool_id)["members"]}
            if current == wanted:
                continue
            self._call("PUT", "/pools/%s/members" % pool_id, member_body(wanted))
            self._wait_active(lb["id"])
            LOG.info("set %s: Octavia pool %s -> %s", set_id, name,
                     ", ".join(sorted(wanted.values())) or "nothing")
        return self._endpoints(lb)

    def _create(self, set_id: str) -> dict[str, Any]:
        lb = self._call("POST", "/loadbalancers", {"loadbalancer": {
            "name": _lb_name(set_id), "vip_subnet_id": self.vip_subnet_id,
            "description": "trove-lite replication set %s" % set_id}})["loadbalancer"]
        for name, port, algorithm in LISTENERS:
            self._wait_active(lb["id"])
            listener = self._call("POST", "/listeners", {"listener": {
                "name": name, "loadbalancer_id": lb["id"], "protocol": "TCP",
                "protocol_port": port}})["listener"]
            self._wait_active(lb["id"])
            self._call("POST", "/pools", {"pool": {
                "name": name, "listener_id": listener["id"], "protocol": "TCP",
                "lb_algorithm": algorithm}})
        LOG.info("set %s: Octavia load balancer %s at %s", set_id, lb["id"],
                 lb.get("vip_address"))
        return lb

    def _pools(self, lb_id: str) -> dict[str, str]:
        pools = self._call("GET", "/pools", loadbalancer_id=lb_id)["pools"]
        return {p["name"]: p["id"] for p in pools}

    @staticmethod
    def _endpoints(lb: dict[str, Any]) -> base.Endpoints:
        vip = lb["vip_address"]
        return base.Endpoints(rw="%s:%d" % (vip, LISTENERS[0][1]),
                              ro="%s:%d" % (vip, LISTENERS[1][1]))

    def remove(self, set_id: str) -> None:
        lb = self._find(set_id)
        if lb is None:
            return
        self._call("DELETE", "/loadbalancers/%s" % lb["id"], cascade="true")
        deadline = time.monotonic() + self.status_timeout
        while self._call("GET", "/loadbalancers/%s" % lb["id"]) is not None:
            if time.monotonic() > deadline:
                raise base.EndpointError(reason="load balancer %s not deleted after %s s"
                                         % (lb["id"], self.status_timeout))
            time.sleep(self.poll_interval)

    def get(self, set_id: str) -> base.Endpoints | None:
        lb = self._find(set_id)
        return self._endpoints(lb) if lb is not None else None


def _lb_name(set_id: str) -> str:
    return "trove-lite-%s" % set_id
