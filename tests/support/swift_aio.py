"""A real Swift all-in-one for tests: memcached + account/container/object/proxy.

Everything comes from the installed ``swift`` package (PyPI) and Debian's
memcached. One device directory under a temp dir, rings with one replica built in
Python, tempauth (``test:tester`` / ``testing``) or, with ``keystone=`` a
KeystoneAIO, authtoken + keystoneauth (accounts ``AUTH_<project id>``), every
process on a free port of one free 127.203.x.y address (the backup-test loopback
area). With ``encryption=True`` the proxy runs ``keymaster`` + ``encryption`` (a
random root secret per instance): object bodies and user metadata are encrypted on
the object servers' disks (``devices``), as a deployment should run Swift. Ready
in ~2.5 s.

``stop()`` stops the four Swift servers (memcached keeps running so tokens stay
valid) and ``start()`` brings them back on the same ports: a test can take Swift
away in the middle of an upload. ``shutdown()`` stops everything, by PID.

Usage (pytest): import the session-scoped fixture ``swift_aio`` into a
conftest (``from tests.support.swift_aio import swift_aio``); it yields a started
``SwiftAIO`` (``auth_url``, ``user``, ``key``, ``stop()``, ``start()``).
"""

import base64
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest

from tests.support.net import free_loopback, free_port

SERVERS = ("account", "container", "object", "proxy")
USER, KEY = "test:tester", "testing"

# keymaster + encryption: objects (and their user metadata) are AES-256-CTR on the
# object servers' disks; the proxy decrypts on GET (Swift's at-rest encryption).
_PROXY_PIPELINE = ("catch_errors gatekeeper healthcheck proxy-logging cache "
                   "listing_formats %s copy slo dlo %sproxy-logging proxy-server")
_AUTH = {"tempauth": "tempauth", "keystone": "authtoken keystoneauth"}


class SwiftAIO:
    """``keystone``: a started KeystoneAIO to authenticate against (authtoken +
    keystoneauth, accounts ``AUTH_<project id>``, members may write their own
    account); None: tempauth."""

    def __init__(self, area=203, base_dir=None, keystone=None, encryption=False):
        # encryption: off by default, because backups' SLO manifest PUTs got 503 on
        # their segments with keymaster + encryption in this Swift (not yet understood)
        self.keystone = keystone
        self.encryption = encryption
        self.address = free_loopback(area, port=1)
        self.base_dir = base_dir or tempfile.mkdtemp(prefix="trove-lite-swift-")
        self.ports = {name: free_port(self.address) for name in SERVERS}
        self.memcached_port = free_port(self.address)
        self.procs = {}
        self.memcached = None

    @property
    def auth_url(self):
        return "http://%s:%d/auth/v1.0" % (self.address, self.ports["proxy"])

    @property
    def url(self):
        """The proxy's ``/v1/`` (append ``AUTH_<project id>`` for an account)."""
        return "http://%s:%d/v1/" % (self.address, self.ports["proxy"])

    @property
    def devices(self):
        """Where the object servers keep their files (``*.data`` under it)."""
        return os.path.join(self.base_dir, "srv")

    user, key = USER, KEY

    # -- setup -------------------------------------------------------------
    def _write_configs(self):
        devices = os.path.join(self.base_dir, "srv")
        os.makedirs(os.path.join(devices, "sdb1"), exist_ok=True)
        os.makedirs(os.path.join(self.base_dir, "run"), exist_ok=True)
        with open(os.path.join(self.base_dir, "swift.conf"), "w") as f:
            f.write("[swift-hash]\nswift_hash_path_suffix = trovelite\n"
                    "swift_hash_path_prefix = tests\n\n"
                    "[storage-policy:0]\nname = gold\ndefault = yes\n\n"
                    "[swift-constraints]\n")
        common = ("[DEFAULT]\nbind_ip = %s\nbind_port = %%d\nworkers = 0\n"
                  "swift_dir = %s\ndevices = %s\nmount_check = false\n"
                  "log_name = %%s\nlog_facility = LOG_LOCAL0\n"
                  "log_level = WARNING\n" % (self.address, self.base_dir, devices))
        for name in ("account", "container", "object"):
            body = ("\n[pipeline:main]\npipeline = %s-server\n\n"
                    "[app:%s-server]\nuse = egg:swift#%s\n" % (name, name, name))
            if name == "object":
                body += "\n[object-replicator]\n[object-updater]\n[object-auditor]\n"
            else:
                body += "\n[%s-replicator]\n[%s-auditor]\n" % (name, name)
            self._write(name, common % (self.ports[name], name) + body)
        proxy = common % (self.ports["proxy"], "proxy") + (
            "\n[pipeline:main]\npipeline = %s\n\n"
            "[app:proxy-server]\nuse = egg:swift#proxy\naccount_autocreate = true\n\n"
            "[filter:tempauth]\nuse = egg:swift#tempauth\n"
            "user_test_tester = testing .admin\n\n"
            "[filter:keymaster]\nuse = egg:swift#keymaster\n"
            "encryption_root_secret = %s\n\n"
            "[filter:encryption]\nuse = egg:swift#encryption\n\n"
            "[filter:cache]\nuse = egg:swift#memcache\nmemcache_servers = %s:%d\n\n"
            "[filter:catch_errors]\nuse = egg:swift#catch_errors\n"
            "[filter:gatekeeper]\nuse = egg:swift#gatekeeper\n"
            "[filter:healthcheck]\nuse = egg:swift#healthcheck\n"
            "[filter:proxy-logging]\nuse = egg:swift#proxy_logging\n"
            "[filter:listing_formats]\nuse = egg:swift#listing_formats\n"
            "[filter:copy]\nuse = egg:swift#copy\n"
            "[filter:slo]\nuse = egg:swift#slo\n"
            "[filter:dlo]\nuse = egg:swift#dlo\n"
            % (_PROXY_PIPELINE % (_AUTH["keystone" if self.keystone else "tempauth"],
                                  "keymaster encryption " if self.encryption else ""),
               base64.b64encode(os.urandom(32)).decode(), self.address,
               self.memcached_port))
        if self.keystone:
            proxy += ("\n[filter:keystoneauth]\nuse = egg:swift#keystoneauth\n"
                      "operator_roles = admin, member\n\n"
                      "[filter:authtoken]\n"
                      "paste.filter_factory = keystonemiddleware.auth_token:filter_factory\n"
                      + self.keystone.authtoken_config().split("\n", 1)[1])
        self._write("proxy", proxy)

    def _write(self, name, text):
        with open(os.path.join(self.base_dir, "%s-server.conf" % name), "w") as f:
            f.write(text)

    def _build_rings(self):
        # In a child interpreter: importing swift's ring code here would pull
        # eventlet into the test process.
        script = (
            "import sys\n"
            "from swift.common.ring import RingBuilder\n"
            "base, ip = sys.argv[1], sys.argv[2]\n"
            "for kind, port in zip(('account','container','object'), sys.argv[3:]):\n"
            "    b = RingBuilder(8, 1, 0)\n"
            "    b.add_dev({'id': 0, 'region': 1, 'zone': 1, 'ip': ip,\n"
            "               'port': int(port), 'device': 'sdb1', 'weight': 100})\n"
            "    b.rebalance()\n"
            "    b.get_ring().save('%s/%s.ring.gz' % (base, kind))\n")
        subprocess.run([sys.executable, "-c", script, self.base_dir, self.address,
                        *(str(self.ports[k]) for k in ("account", "container", "object"))],
                       check=True, capture_output=True)

    # -- processes ---------------------------------------------------------
    def start(self, timeout=30):
        """Start memcached (once) and the four servers; wait until auth works."""
        if not os.path.exists(os.path.join(self.base_dir, "proxy-server.conf")):
            self._write_configs()
            self._build_rings()
        if self.memcached is None:
            self.memcached = subprocess.Popen(
                ["memcached", "-l", self.address, "-p", str(self.memcached_port),
                 "-U", "0", "-u", "root", "-m", "16"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True)
        bindir = os.path.dirname(sys.executable)
        for name in SERVERS:
            if name in self.procs and self.procs[name].poll() is None:
                continue
            log = open(os.path.join(self.base_dir, "run", "%s.log" % name), "ab")
            self.procs[name] = subprocess.Popen(
                [os.path.join(bindir, "swift-%s-server" % name),
                 os.path.join(self.base_dir, "%s-server.conf" % name)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True)
            log.close()
        self._wait_ready(timeout)

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError("swift %s-server exited: %s" % (name, self.tail_log(name)))
            try:
                for name in SERVERS:
                    socket.create_connection((self.address, self.ports[name]), 0.5).close()
                if self.keystone:
                    urllib.request.urlopen(
                        "http://%s:%d/healthcheck" % (self.address, self.ports["proxy"]),
                        timeout=5).close()
                else:
                    self.token()
                return
            except OSError as exc:
                last = exc
                time.sleep(0.05)
        raise RuntimeError("swift all-in-one not ready in %ss: %s" % (timeout, last))

    def token(self):
        """(storage_url, token) from tempauth; raises OSError while Swift is down."""
        req = urllib.request.Request(self.auth_url, headers={
            "X-Auth-User": self.user, "X-Auth-Key": self.key})
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.headers["X-Storage-Url"], resp.headers["X-Auth-Token"]

    def stop(self):
        """Stop the four Swift servers (SIGTERM, then SIGKILL), keep memcached."""
        for proc in self.procs.values():
            _terminate(proc)

    def shutdown(self):
        """Stop everything this object started and remove its directory."""
        self.stop()
        if self.memcached is not None:
            _terminate(self.memcached)
            self.memcached = None
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def tail_log(self, name, lines=20):
        try:
            with open(os.path.join(self.base_dir, "run", "%s.log" % name),
                      errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return "(no log)"


def _terminate(proc, timeout=10):
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="session")
def swift_aio():
    """A real Swift all-in-one (tempauth) shared by the session; stopped at the end."""
    aio = SwiftAIO(area=203)
    try:
        aio.start()
        yield aio
    finally:
        aio.shutdown()
