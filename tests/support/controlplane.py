"""Run the real control plane as separate processes for functional tests.

``ControlPlane(tmpdir, **options)`` writes one config file (its own AMQP
exchange so concurrent runs never share queues, instance addresses from a
127.<area>.<k>.* of its own (area 204 unless asked), SQLite or MariaDB) and starts
``trove-lite-aio`` or the separate
services (api, conductor, taskmanager) as child processes that it stops (by PID)
at the end. ``client()`` returns a python-troveclient bound to a tenant.
"""

import json
import os
import signal
import subprocess
import sys
import time
import uuid

import requests
from keystoneauth1 import session as ks_session
from keystoneauth1.noauth import NoAuth
from troveclient.v1 import client as trove_client

from tests.support.net import free_port, reserve_subnet

PY = sys.executable


class ControlPlane:
    def __init__(self, base_dir, db_url=None, usage_timeout=120, heartbeat_interval=2,
                 guest_command=None, extra_conf="", address_area=204):
        self.base_dir = base_dir
        self.state_dir = os.path.join(base_dir, "state")
        os.makedirs(self.state_dir, exist_ok=True)
        self.port = free_port()
        self.exchange = "trove_lite_test_%s" % uuid.uuid4().hex[:10]
        self.conf_file = os.path.join(base_dir, "trove-lite.conf")
        self.procs = {}
        self.address_prefix, self._subnet_lock = reserve_subnet(address_area)
        lines = [
            "[DEFAULT]",
            "state_dir = %s" % self.state_dir,
            "control_exchange = %s" % self.exchange,
            "",
            "[api]",
            "bind_port = %d" % self.port,
            "",
            "[taskmanager]",
            "usage_timeout = %d" % usage_timeout,
            "reconcile_interval = 2",
            "topic = tm-%s" % self.exchange,
            "",
            "[conductor]",
            "topic = cond-%s" % self.exchange,
            "",
            "[guest]",
            "heartbeat_interval = %d" % heartbeat_interval,
            "",
            "[local_compute]",
            "address_prefix = %s" % self.address_prefix,
        ]
        if guest_command:
            lines.append("guest_command = %s" % ",".join(guest_command))
        if db_url:
            lines += ["", "[database]", "connection = %s" % db_url]
        with open(self.conf_file, "w") as f:
            f.write("\n".join(lines) + "\n" + extra_conf)

    @property
    def endpoint_root(self):
        return "http://127.0.0.1:%d" % self.port

    def endpoint(self, tenant="demo"):
        return "%s/v1.0/%s" % (self.endpoint_root, tenant)

    def _spawn(self, name, argv):
        log = open(os.path.join(self.base_dir, name + ".log"), "ab")
        proc = subprocess.Popen(argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                start_new_session=True, cwd=self.base_dir)
        log.close()
        self.procs[name] = proc
        return proc

    def start_aio(self):
        self._spawn("aio", [PY, "-m", "trove_lite.cmd.aio", "--state-dir", self.state_dir,
                            "--port", str(self.port), "--config-file", self.conf_file])
        self.wait_api()
        return self

    def start_services(self, names=("api", "conductor", "taskmanager")):
        """Separate processes; the first start of the API process bootstraps the DB."""
        if not os.path.exists(os.path.join(self.state_dir, ".bootstrapped")):
            subprocess.run([PY, "-c",
                            "import sys; from trove_lite.cmd import aio; "
                            "conf = aio.make_aio_conf(sys.argv[1], config_files=[sys.argv[2]]); "
                            "from trove_lite.db.session import Database; "
                            "from trove_lite import config; "
                            "aio.bootstrap(conf, Database(config.database_url(conf)))",
                            self.state_dir, self.conf_file], check=True)
            open(os.path.join(self.state_dir, ".bootstrapped"), "w").close()
        for name in names:
            self.start_service(name)
        if "api" in names:
            self.wait_api()
        return self

    def start_service(self, name, copy=1):
        """Start a service; ``copy`` > 1 starts another process of it (named e.g.
        ``api2``) on the same bus and control DB; another API copy listens on a
        port of its own (``endpoint_root_of``)."""
        label = name if copy == 1 else "%s%d" % (name, copy)
        argv = [PY, "-m", "trove_lite.cmd.%s" % name, "--config-file", self.conf_file]
        if copy != 1:
            extra = os.path.join(self.base_dir, label + ".conf")
            if not os.path.exists(extra):
                with open(extra, "w") as f:
                    f.write("[api]\nbind_port = %d\n" % free_port())
            argv += ["--config-file", extra]
        return self._spawn(label, argv)

    def port_of(self, label):
        """The API port of an API copy started by ``start_service("api", copy)``."""
        if label == "api":
            return self.port
        with open(os.path.join(self.base_dir, label + ".conf")) as f:
            return int(f.read().split("bind_port = ")[1].split()[0])

    def client_of(self, label, tenant="demo"):
        root = "http://127.0.0.1:%d" % self.port_of(label)
        sess = ks_session.Session(auth=NoAuth(endpoint="%s/v1.0/%s" % (root, tenant)))
        return trove_client.Client(session=sess)

    def kill(self, name, sig=signal.SIGKILL):
        proc = self.procs.pop(name)
        os.kill(proc.pid, sig)
        proc.wait(timeout=30)

    def wait_api(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError("%s exited with %s:\n%s" % (
                        name, proc.returncode, self.log_tail(name)))
            try:
                if requests.get(self.endpoint_root + "/", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError("API did not come up:\n" + "\n".join(
            self.log_tail(n) for n in self.procs))

    def wait_taskmanager(self, timeout=60):
        """Until the taskmanager consumes its topic: a cast sent before its queue
        exists is dropped by the broker, and only the reconciler would find it."""
        deadline = time.monotonic() + timeout
        while "taskmanager listening on topic" not in self.log_tail("taskmanager", 100000):
            assert time.monotonic() < deadline, self.log_tail("taskmanager")
            time.sleep(0.1)

    def log_tail(self, name, lines=40):
        try:
            with open(os.path.join(self.base_dir, name + ".log"), errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def diagnose(self, address=None, lines=40):
        """What a failing test should print about the instances' servers: each
        server's record, the tail of its guest log and of any mariadbd error log
        under it, what listens on ``address``:3306, and every mariadbd running."""
        out = []
        servers = os.path.join(self.state_dir, "servers")
        for sid in sorted(os.listdir(servers)) if os.path.isdir(servers) else ():
            sdir = os.path.join(servers, sid)
            if not os.path.isdir(sdir):
                continue
            try:
                with open(os.path.join(sdir, "server.json")) as f:
                    record = json.load(f)
                out.append("== server %s: address %s, status %s" % (
                    sid, record.get("address"), record.get("status")))
            except (OSError, ValueError):
                out.append("== server %s (no server.json)" % sid)
            for root, _dirs, files in os.walk(sdir):
                for name in files:
                    if name in ("guest.log", "error.log"):
                        path = os.path.join(root, name)
                        with open(path, errors="replace") as f:
                            tail = f.read().splitlines()[-lines:]
                        out.append("-- %s\n%s" % (path, "\n".join(tail)))
        for argv in (["ss", "-ltnp"], ["ps", "-eo", "pid,ppid,etime,args"]):
            try:
                text = subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout
            except (OSError, subprocess.SubprocessError) as exc:
                text = str(exc)
            keep = [ln for ln in text.splitlines()
                    if (address and address in ln) or "mariadbd" in ln]
            out.append("-- %s\n%s" % (" ".join(argv), "\n".join(keep)))
        return "\n".join(out)

    def client(self, tenant="demo"):
        sess = ks_session.Session(auth=NoAuth(endpoint=self.endpoint(tenant)))
        return trove_client.Client(session=sess)

    def stop(self):
        for name, proc in list(self.procs.items()):
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGTERM)
        for name, proc in list(self.procs.items()):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
        self.procs.clear()


def wait_for_status(client, instance_id, statuses, timeout=120, interval=0.5):
    """Poll ``instances.get`` until status is in ``statuses``; returns the instance."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        inst = client.instances.get(instance_id)
        last = inst.status
        if last in statuses:
            return inst
        time.sleep(interval)
    raise AssertionError("instance %s stayed %s, wanted %s" % (instance_id, last, statuses))


def manage(cp, *args):
    """Run ``trove-lite-manage`` with ``cp``'s configuration; returns its stdout."""
    proc = subprocess.run([sys.executable, "-m", "trove_lite.cmd.manage", "--config-file",
                           cp.conf_file, *args], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def build_images_or_skip(*image_ids):
    """Build (or take from the cache) local images; skip the caller's tests, with
    the reason, when this machine cannot build them."""
    import pytest

    from trove_lite.drivers import imagebuild
    try:
        for image_id in image_ids:
            imagebuild.build(image_id, progress=lambda line: None)
    except imagebuild.ImageBuildError as e:
        pytest.skip("image %s cannot be built here: %s" % (", ".join(image_ids), e.message))
