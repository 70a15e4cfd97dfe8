"""Local endpoints: one real HAProxy per replication set, changed at runtime.

Each set gets a directory ``<state_dir>/endpoints/<set id>/`` (haproxy.cfg, the
admin socket, the pidfile, ``endpoint.json`` with its address and the slot
table) and its own loopback address, taken from the top of the deployment's
/24 downwards (the local compute driver hands instance addresses out from the
bottom and skips an address whose port 3306 is taken). ``rw`` is port 3306 of
that address, ``ro`` port 3307.

The proxy is started once (``haproxy -D``) with every server slot disabled
(templates/haproxy); from then on each change is a few commands on the admin
socket: ``set server B/S addr A port P`` then ``state ready``, or ``state
maint`` plus ``shutdown sessions server B/S`` for a server leaving rw. A slot
keeps its member while the member stays, so connections to surviving servers
are never touched. The proxy outlives the taskmanager, like an instance does;
``remove`` stops it (by the PID in its pidfile, checked against its command
line).
"""

import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from typing import Any, Callable, Mapping

import jinja2

from trove_lite.drivers import localutil
from trove_lite.drivers.endpoint import base

LOG = logging.getLogger(__name__)

TEMPLATE = "haproxy.cfg.template"
SLOTS = 12          # a source and up to 10 replicas, with room for one in transit


# {slot: [member id, "host:port"] or None}
SlotTable = dict[str, list[str] | None]


def admin_commands(backend: str, table: Mapping[str, list[str] | None],
                   wanted: Mapping[str, str], cut: bool = False) -> tuple[list[str], SlotTable]:
    """Admin-socket commands moving ``backend``'s ``table`` ({slot: [member id,
    "host:port"] or None}) to ``wanted`` ({member id: "host:port"}) (pure).

    Returns (commands, new table). Servers leaving are put in maint first (and
    their sessions shut when ``cut``), then the arriving ones are set up and made
    ready; a member that stays keeps its slot untouched.
    """
    table = dict(table)
    leaving: list[str] = []
    keep: dict[str, str] = {}
    for slot, entry in sorted(table.items()):
        if entry and wanted.get(entry[0]) == entry[1]:
            keep[entry[0]] = slot
        elif entry:
            leaving.append(slot)
            table[slot] = None
    cmds: list[str] = []
    for slot in leaving:
        cmds.append("set server %s/%s state maint" % (backend, slot))
        if cut:
            cmds.append("shutdown sessions server %s/%s" % (backend, slot))
    free = [s for s, e in sorted(table.items()) if e is None]
    for member_id, addr in sorted(wanted.items()):
        if member_id in keep:
            continue
        if not free:
            raise base.EndpointError(reason="no free server slot in backend %s" % backend)
        slot = free.pop(0)
        host, port = addr.rsplit(":", 1)
        cmds += ["set server %s/%s addr %s port %s" % (backend, slot, host, port),
                 "set server %s/%s state ready" % (backend, slot)]
        table[slot] = [member_id, addr]
    return cmds, table


class LocalHAProxy(base.EndpointDriver):
    def __init__(self, state_dir: str, subnet_fn: Callable[[], str] | None,
                 template_dir: str | None, binary: str = "haproxy", rw_port: int = 3306,
                 ro_port: int = 3307) -> None:
        self.root = os.path.join(state_dir, "endpoints")
        self.subnet_fn, self.template_dir = subnet_fn, template_dir
        self.binary, self.rw_port, self.ro_port = binary, rw_port, ro_port

    # -- paths and state ------------------------------------------------------------
    def _dir(self, set_id: str) -> str:
        return os.path.join(self.root, set_id)

    def _meta(self, set_id: str) -> dict[str, Any] | None:
        try:
            return localutil.read_json(os.path.join(self._dir(set_id), "endpoint.json"))
        except (OSError, ValueError):
            return None

    def _save(self, set_id: str, meta: dict[str, Any]) -> None:
        localutil.write_json(os.path.join(self._dir(set_id), "endpoint.json"), meta)

    def _endpoints(self, meta: dict[str, Any]) -> base.Endpoints:
        return base.Endpoints(rw="%s:%d" % (meta["address"], self.rw_port),
                              ro="%s:%d" % (meta["address"], self.ro_port))

    # -- interface ------------------------------------------------------------------
    def get(self, set_id: str) -> base.Endpoints | None:
        meta = self._meta(set_id)
        return self._endpoints(meta) if meta else None

    def ensure(self, set_id: str, layout: base.Layout) -> base.Endpoints:
        with localutil.FileLock(os.path.join(self.root, ".lock")):
            meta = self._meta(set_id) or self._create(set_id)
            if not self._running(set_id):
                self._start(set_id, meta)
                meta["rw"] = meta["ro"] = meta["source"] = None
            rw = {layout.rw.id: "%s:%d" % (layout.rw.host, layout.rw.port)} if layout.rw else {}
            ro = {m.id: "%s:%d" % (m.host, m.port) for m in layout.ro}
            rw_table = meta.get("rw") or {"s%d" % n: None for n in range(SLOTS)}
            ro_table = meta.get("ro") or {"r%d" % n: None for n in range(SLOTS)}
            src_table = meta.get("source") or {"source": None}
            # rw: the old source out (sessions cut) before the new one is in
            cmds, meta["rw"] = admin_commands("rw", rw_table, rw, cut=True)
            more, meta["ro"] = admin_commands("ro", ro_table, ro)
            cmds += more
            more, meta["source"] = admin_commands("ro", src_table, rw)
            cmds += more
            self._admin(set_id, cmds)
            self._save(set_id, meta)
            LOG.info("endpoints of set %s: rw -> %s, ro -> %s", set_id,
                     ", ".join(rw.values()) or "nothing",
                     ", ".join(ro.values()) or "the source")
            return self._endpoints(meta)

    def remove(self, set_id: str) -> None:
        with localutil.FileLock(os.path.join(self.root, ".lock")):
            pid = self._pid(set_id)
            if pid:
                os.kill(pid, signal.SIGTERM)
                for _ in range(50):
                    if self._pid(set_id) is None:
                        break
                    time.sleep(0.05)
            shutil.rmtree(self._dir(set_id), ignore_errors=True)

    # -- the proxy process -----------------------------------------------------------
    def _create(self, set_id: str) -> dict[str, Any]:
        taken = set()
        for other in os.listdir(self.root) if os.path.isdir(self.root) else ():
            meta = self._meta(other)
            if meta:
                taken.add(meta["address"])
        assert self.subnet_fn is not None, "a driver made without subnet_fn only removes"
        subnet = self.subnet_fn()
        for n in range(254, 0, -1):
            address = "%s.%d" % (subnet, n)
            if address not in taken and localutil.port_free(address, self.rw_port) and \
                    localutil.port_free(address, self.ro_port):
                break
        else:
            raise base.EndpointError(reason="no free address left in %s.*" % subnet)
        os.makedirs(self._dir(set_id), exist_ok=True)
        meta = {"address": address}
        self._save(set_id, meta)
        return meta

    def _paths(self, set_id: str) -> tuple[str, str, str]:
        d = self._dir(set_id)
        return (os.path.join(d, "haproxy.cfg"), os.path.join(d, "admin.sock"),
                os.path.join(d, "haproxy.pid"))

    def _start(self, set_id: str, meta: dict[str, Any]) -> None:
        cfg, sock, pidfile = self._paths(set_id)
        assert self.template_dir is not None, "a driver made without template_dir only removes"
        with open(os.path.join(self.template_dir, TEMPLATE)) as f:
            text = jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(
                f.read()).render(address=meta["address"], rw_port=self.rw_port,
                                 ro_port=self.ro_port, slots=SLOTS, admin_socket=sock,
                                 pidfile=pidfile)
        with open(cfg, "w") as f:
            f.write(text + "\n")
        for path in (sock, pidfile):
            if os.path.exists(path):
                os.unlink(path)
        with open(os.path.join(self._dir(set_id), "haproxy.log"), "ab") as log:
            proc = subprocess.run([self.binary, "-D", "-f", cfg], stdout=log, stderr=log,
                                  stdin=subprocess.DEVNULL, timeout=10)
        if proc.returncode != 0:
            raise base.EndpointError(reason="haproxy for set %s did not start: %s" % (
                set_id, localutil.tail(os.path.join(self._dir(set_id), "haproxy.log"), 5)))
        deadline = time.monotonic() + 5
        while not os.path.exists(sock):
            if time.monotonic() > deadline:
                raise base.EndpointError(reason="haproxy for set %s has no admin socket"
                                                % set_id)
            time.sleep(0.02)

    def _pid(self, set_id: str) -> int | None:
        cfg, _sock, pidfile = self._paths(set_id)
        try:
            with open(pidfile) as f:
                pid = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        # only a process running this set's config is ours
        return pid if cfg in localutil.cmdline(pid) else None

    def _running(self, set_id: str) -> bool:
        return self._pid(set_id) is not None

    def _admin(self, set_id: str, commands: list[str]) -> None:
        if not commands:
            return
        sock_path = self._paths(set_id)[1]
        out = b""
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(sock_path)
            s.sendall(("; ".join(commands) + "\n").encode())
            while True:
                part = s.recv(65536)
                if not part:
                    break
                out += part
        text = out.decode(errors="replace").strip()
        bad = [line for line in text.splitlines()
               if line.strip() and not line.startswith(("IP changed", "no need to change"))]
        if bad:
            raise base.EndpointError(reason="haproxy refused %s: %s" % (commands, text))


def remove_all(state_dir: str) -> None:
    """Stop every set's proxy under ``state_dir`` (a deployment being torn down)."""
    driver = LocalHAProxy(state_dir, None, None)
    for set_id in os.listdir(driver.root) if os.path.isdir(driver.root) else ():
        if not set_id.startswith("."):
            driver.remove(set_id)
