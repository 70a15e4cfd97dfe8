"""An HTTP fake of the Octavia v2 calls the OctaviaEndpoints driver makes, with a
small data plane (the "amphora") so the endpoint contract suite can dial it.

API (``/v2/lbaas``): loadbalancers (create, list by name, show, delete with
cascade), listeners (create), pools (create, list by load balancer), pool
members (list, batch update by PUT). Octavia's status words and rules: every
change puts the load balancer in PENDING_CREATE/PENDING_UPDATE/PENDING_DELETE
for ``delay`` seconds, and a change asked meanwhile is a 409 with Octavia's
``faultstring``. Every request needs ``X-Auth-Token``; ``requests`` records
(method, path).

Data plane: each listener accepts TCP on the VIP and its port and pipes every
connection to a member of its pool picked round robin when it arrives. As
Octavia's amphora, removing a member does not cut sessions already open to it.
"""

import itertools
import json
import re
import socket
import threading
import uuid
from urllib.parse import parse_qs
from wsgiref.simple_server import make_server

from tests.support.openstack_fake import HTTPError, _QuietHandler, _Server, not_found


def conflict(message):
    return HTTPError(409, "Conflict", message)


class Listener:
    """The amphora side of one listener: accept, pick a member, pipe."""

    def __init__(self, fake, host, port, pool_fn):
        self.fake, self.pool_fn = fake, pool_fn
        self.sock = socket.create_server((host, port))
        self._turn = itertools.count()
        self._conns = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            members = sorted(self.pool_fn())
            if not members:
                client.close()
                continue
            host, port = members[next(self._turn) % len(members)]
            try:
                backend = socket.create_connection((host, port), timeout=3)
            except OSError:
                client.close()
                continue
            backend.settimeout(None)
            self._conns += [client, backend]
            for a, b in ((client, backend), (backend, client)):
                threading.Thread(target=_pipe, args=(a, b), daemon=True).start()

    def close(self):
        try:        # wakes the accept() (close alone leaves the port listening)
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        for conn in self._conns:
            try:
                conn.close()
            except OSError:
                pass


def _pipe(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class OctaviaFake:
    def __init__(self, vip_prefix, token="fake-token", delay=0.1, host=None):
        """VIPs are ``<vip_prefix>.200`` and up (a /24 the test reserved)."""
        self.vip_prefix, self.token, self.delay = vip_prefix, token, delay
        self.host = host or "%s.199" % vip_prefix
        self.lbs, self.listeners, self.pools, self.members = {}, {}, {}, {}
        self.requests = []
        self.lock = threading.RLock()
        self._vips = itertools.count(200)
        self._httpd = None

    def start(self):
        self._httpd = make_server(self.host, 0, self.app, server_class=_Server,
                                  handler_class=_QuietHandler)
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self):
        for lst in list(self.listeners.values()):
            lst["amphora"].close()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    @property
    def url(self):
        return "http://%s:%d" % (self.host, self._httpd.server_port)

    # -- WSGI -----------------------------------------------------------------------
    def app(self, environ, start_response):
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        self.requests.append((method, path))
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        try:
            if environ.get("HTTP_X_AUTH_TOKEN") != self.token:
                raise HTTPError(401, "Unauthorized", "The request you have made requires "
                                "authentication.")
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = json.loads(environ["wsgi.input"].read(length) or b"null")
            with self.lock:
                self._settle()
                status, doc = self._route(method, path, body, query)
        except HTTPError as e:
            status, doc = e.status, {"faultcode": e.fault, "faultstring": e.message,
                                     "debuginfo": None}
        payload = b"" if status == 204 else json.dumps(doc).encode()
        start_response("%d X" % status, [("Content-Type", "application/json"),
                                         ("Content-Length", str(len(payload)))])
        return [payload]

    def _route(self, method, path, body, query):
        routes = [
            (r"/v2/lbaas/loadbalancers", {"GET": self.list_lbs, "POST": self.create_lb}),
            (r"/v2/lbaas/loadbalancers/([^/]+)", {"GET": self.show_lb,
                                                   "DELETE": self.delete_lb}),
            (r"/v2/lbaas/listeners", {"POST": self.create_listener}),
            (r"/v2/lbaas/pools", {"GET": self.list_pools, "POST": self.create_pool}),
            (r"/v2/lbaas/pools/([^/]+)/members", {"GET": self.list_members,
                                                   "PUT": self.update_members}),
        ]
        for pattern, methods in routes:
            m = re.fullmatch(pattern, path)
            if m and method in methods:
                return methods[method](body, query, *m.groups())
        raise not_found("no route for %s %s" % (method, path))

    # -- state ------------------------------------------------------------------------
    def _settle(self):
        now = _now()
        for lb_id, lb in list(self.lbs.items()):
            if lb["provisioning_status"].startswith("PENDING_") and now >= lb["_until"]:
                if lb["provisioning_status"] == "PENDING_DELETE":
                    self._drop(lb_id)
                else:
                    lb["provisioning_status"] = "ACTIVE"

    def _drop(self, lb_id):
        for lid in [k for k, v in self.listeners.items() if v["loadbalancer_id"] == lb_id]:
            self.listeners.pop(lid)["amphora"].close()
        for pid in [k for k, v in self.pools.items() if v["loadbalancer_id"] == lb_id]:
            self.pools.pop(pid)
            self.members.pop(pid, None)
        self.lbs.pop(lb_id)

    def _lb(self, lb_id):
        if lb_id not in self.lbs:
            raise not_found("Load Balancer %s not found." % lb_id)
        return self.lbs[lb_id]

    def _mutable(self, lb_id, status="PENDING_UPDATE"):
        lb = self._lb(lb_id)
        if lb["provisioning_status"] != "ACTIVE":
            raise conflict("Invalid state %s of loadbalancer resource %s" % (
                lb["provisioning_status"], lb_id))
        lb["provisioning_status"], lb["_until"] = status, _now() + self.delay
        return lb

    @staticmethod
    def _doc(lb):
        return {k: v for k, v in lb.items() if not k.startswith("_")}

    # -- handlers -------------------------------------------------------------------
    def list_lbs(self, body, query):
        lbs = [self._doc(lb) for lb in self.lbs.values()
               if "name" not in query or lb["name"] == query["name"]]
        return 200, {"loadbalancers": lbs}

    def create_lb(self, body, query):
        spec = body["loadbalancer"]
        if not spec.get("vip_subnet_id"):
            raise HTTPError(400, "Client", "Invalid input: a VIP subnet is required")
        lb_id = str(uuid.uuid4())
        self.lbs[lb_id] = {"id": lb_id, "name": spec.get("name"),
                           "vip_address": "%s.%d" % (self.vip_prefix, next(self._vips)),
                           "vip_subnet_id": spec["vip_subnet_id"],
                           "provisioning_status": "PENDING_CREATE",
                           "operating_status": "ONLINE", "_until": _now() + self.delay}
        return 201, {"loadbalancer": self._doc(self.lbs[lb_id])}

    def show_lb(self, body, query, lb_id):
        return 200, {"loadbalancer": self._doc(self._lb(lb_id))}

    def delete_lb(self, body, query, lb_id):
        if query.get("cascade") != "true" and any(
                v["loadbalancer_id"] == lb_id for v in self.listeners.values()):
            raise HTTPError(400, "Client", "Cannot delete Load Balancer %s - it has "
                            "children" % lb_id)
        self._mutable(lb_id, "PENDING_DELETE")
        return 204, None

    def create_listener(self, body, query):
        spec = body["listener"]
        lb = self._mutable(spec["loadbalancer_id"])
        lid = str(uuid.uuid4())
        listener = {"id": lid, "name": spec.get("name"), "loadbalancer_id": lb["id"],
                    "protocol": spec["protocol"], "protocol_port": spec["protocol_port"],
                    "default_pool_id": None}

        def pool_members():
            with self.lock:
                pool_id = (self.listeners.get(lid) or {}).get("default_pool_id")
                return [(m["address"], m["protocol_port"])
                        for m in self.members.get(pool_id, ())]
        listener["amphora"] = Listener(self, lb["vip_address"], spec["protocol_port"],
                                       pool_members)
        self.listeners[lid] = listener
        return 201, {"listener": {k: v for k, v in listener.items() if k != "amphora"}}

    def create_pool(self, body, query):
        spec = body["pool"]
        listener = self.listeners[spec["listener_id"]]
        self._mutable(listener["loadbalancer_id"])
        pid = str(uuid.uuid4())
        self.pools[pid] = {"id": pid, "name": spec.get("name"),
                           "loadbalancer_id": listener["loadbalancer_id"],
                           "protocol": spec["protocol"], "lb_algorithm": spec["lb_algorithm"]}
        self.members[pid] = []
        listener["default_pool_id"] = pid
        return 201, {"pool": self.pools[pid]}

    def list_pools(self, body, query):
        return 200, {"pools": [p for p in self.pools.values()
                               if p["loadbalancer_id"] == query.get("loadbalancer_id")]}

    def list_members(self, body, query, pool_id):
        if pool_id not in self.pools:
            raise not_found("Pool %s not found." % pool_id)
        return 200, {"members": self.members[pool_id]}

    def update_members(self, body, query, pool_id):
        if pool_id not in self.pools:
            raise not_found("Pool %s not found." % pool_id)
        self._mutable(self.pools[pool_id]["loadbalancer_id"])
        self.members[pool_id] = [dict(m, id=str(uuid.uuid4()), provisioning_status="ACTIVE")
                                 for m in body["members"]]
        return 202, None


def _now():
    import time
    return time.monotonic()
