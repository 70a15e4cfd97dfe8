"""A real Keystone (the `keystone` package in .venv) for tests, on 127.0.0.1.

``KeystoneAIO(base_dir).start()`` gives a Keystone with:

* SQLite in WAL mode and fernet/credential keys under ``base_dir``;
* ``[cache]`` on with dogpile's in-memory backend (token validation 8-17 ms
  instead of ~800 ms) and bcrypt at 4 rounds (password checks ~2 ms);
* the ``admin`` user in project ``admin`` (role admin, from ``keystone-manage
  bootstrap``), projects ``alpha`` and ``beta`` with users ``alpha-user`` and
  ``beta-user`` (role member), all with password ``PASSWORD``;
* served by a threaded wsgiref server in a subprocess (``serve`` below).

The database, keys and users are built once per keystone version under
``~/.cache/trove-lite/keystone-<version>`` (``keystone-manage`` costs seconds per
call) and copied for each run; only the endpoint URLs, which carry the port,
are rewritten through the API. Start: about 3-4 s from the cache (mostly the
import of keystone), 18-25 s when the cache is built.

The session fixture ``keystone_aio`` (import it into a conftest) yields a
started instance and stops it at teardown.
"""

import fcntl
import importlib.metadata
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import pytest

from tests.support.net import free_port

PASSWORD = "secret-Pa55"
PROJECTS = ("alpha", "beta")
KEYSTONE_MANAGE = os.path.join(os.path.dirname(sys.executable), "keystone-manage")

CONFIG = """[DEFAULT]
log_file = {base}/keystone.log
[database]
connection = sqlite:///{base}/keystone.db
[token]
provider = fernet
expiration = 3600
[fernet_tokens]
key_repository = {base}/fernet-keys
[fernet_receipts]
key_repository = {base}/fernet-keys
[credential]
key_repository = {base}/credential-keys
[cache]
enabled = true
backend = dogpile.cache.memory
[identity]
password_hash_algorithm = bcrypt
password_hash_rounds = 4
"""


class KeystoneError(Exception):
    pass


def _request(method, url, body=None, token=None, timeout=10):
    """(status, headers, parsed JSON body or None)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("X-Auth-Token", token)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
            return resp.status, resp.headers, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        return exc.code, exc.headers, json.loads(raw) if raw else None


class KeystoneAIO:
    def __init__(self, base_dir, host="127.0.0.1", port=None, cache_dir=None):
        self.base_dir = os.path.abspath(base_dir)
        self.host = host
        self.port = port or free_port(host)
        self.cache_dir = cache_dir or os.path.join(
            os.environ.get("TROVE_LITE_CACHE_DIR",
                           os.path.expanduser("~/.cache/trove-lite")),
            "keystone-" + importlib.metadata.version("keystone"))
        self.proc = None
        self.projects = {}

    @property
    def url(self):
        return "http://%s:%d" % (self.host, self.port)

    @property
    def auth_url(self):
        return self.url + "/v3"

    @property
    def config_file(self):
        return os.path.join(self.base_dir, "keystone.conf")

    # -- lifecycle ---------------------------------------------------------------
    def start(self, timeout=30):
        """Copy the cached deployment, point its endpoints here, serve, wait for /v3."""
        template = self._template()
        os.makedirs(self.base_dir, exist_ok=True)
        for name in ("keystone.db", "fernet-keys", "credential-keys"):
            src = os.path.join(template, name)
            dst = os.path.join(self.base_dir, name)
            (shutil.copytree if os.path.isdir(src) else shutil.copy2)(src, dst)
        self._write_config(self.base_dir)
        self.proc = _serve(self.config_file, self.host, self.port, self.base_dir)
        try:
            _wait_ready(self.auth_url, self.proc, timeout, self.base_dir)
            self._point_endpoints_here()
            self.projects = self._project_ids()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    # -- tokens --------------------------------------------------------------------
    def token(self, user, project, password=PASSWORD):
        """A project-scoped token: (token, project_id). KeystoneError if refused."""
        body = {"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": user, "domain": {"id": "default"}, "password": password}}},
            "scope": {"project": {"name": project, "domain": {"id": "default"}}}}}
        status, headers, data = _request("POST", self.auth_url + "/auth/tokens", body)
        if status != 201:
            raise KeystoneError("token for %s/%s: %s %s" % (user, project, status, data))
        return headers["X-Subject-Token"], data["token"]["project"]["id"]

    def validate(self, token, subject):
        """GET /v3/auth/tokens as a service would: the status code."""
        req = urllib.request.Request(self.auth_url + "/auth/tokens")
        req.add_header("X-Auth-Token", token)
        req.add_header("X-Subject-Token", subject)
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                resp.read()
                return resp.status
        except urllib.error.HTTPError as exc:
            return exc.code

    def authtoken_config(self):
        """The ``[keystone_authtoken]`` section a service needs for this Keystone."""
        return ("[keystone_authtoken]\n"
                "www_authenticate_uri = %s\nauth_url = %s\nauth_type = password\n"
                "username = admin\npassword = %s\nproject_name = admin\n"
                "user_domain_id = default\nproject_domain_id = default\n"
                % (self.auth_url, self.auth_url, PASSWORD))

    def add_endpoint(self, service_type, url, name=None):
        """Register a public endpoint (``$(project_id)s`` in ``url`` is
        substituted per token, as for Swift's ``.../v1/AUTH_$(project_id)s``) in
        this running copy's catalog."""
        token, _ = self.token("admin", "admin")
        status, _, data = _request("POST", self.auth_url + "/services", {"service": {
            "type": service_type, "name": name or service_type}}, token=token)
        if status != 201:
            raise KeystoneError("service create: %s %s" % (status, data))
        status, _, data = _request("POST", self.auth_url + "/endpoints", {"endpoint": {
            "service_id": data["service"]["id"], "interface": "public", "url": url,
            "region_id": "RegionOne"}}, token=token)
        if status != 201:
            raise KeystoneError("endpoint create: %s %s" % (status, data))

    # -- building --------------------------------------------------------------------
    def _write_config(self, base):
        with open(os.path.join(base, "keystone.conf"), "w") as f:
            f.write(CONFIG.format(base=base))

    def _manage(self, base, *args):
        proc = subprocess.run([KEYSTONE_MANAGE, "--config-file",
                               os.path.join(base, "keystone.conf"), *args],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise KeystoneError("keystone-manage %s failed: %s" % (args[0],
                                                                   proc.stderr[-2000:]))

    def _bootstrap(self, base, url):
        self._manage(base, "bootstrap", "--bootstrap-password", PASSWORD,
                     "--bootstrap-username", "admin", "--bootstrap-project-name", "admin",
                     "--bootstrap-role-name", "admin", "--bootstrap-region-id",
                     "RegionOne", "--bootstrap-admin-url", url + "/v3",
                     "--bootstrap-public-url", url + "/v3",
                     "--bootstrap-internal-url", url + "/v3")

    def _template(self):
        """The cached deployment, built once under a lock (about 15-25 s)."""
        done = os.path.join(self.cache_dir, ".complete")
        if os.path.exists(done):
            return self.cache_dir
        os.makedirs(self.cache_dir, exist_ok=True)
        with open(os.path.join(self.cache_dir, ".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not os.path.exists(done):
                self._build_template(self.cache_dir)
                open(done, "w").close()
        return self.cache_dir

    def _build_template(self, base):
        for name in ("keystone.db", "fernet-keys", "credential-keys"):
            path = os.path.join(base, name)
            shutil.rmtree(path, ignore_errors=True) if os.path.isdir(path) else (
                os.path.exists(path) and os.unlink(path))
        self._write_config(base)
        self._manage(base, "db_sync")
        with sqlite3.connect(os.path.join(base, "keystone.db")) as db:
            # readers never wait for the writer; the mode is stored in the file
            db.execute("PRAGMA journal_mode=WAL")
        for what in ("fernet_setup", "credential_setup"):
            self._manage(base, what, "--keystone-user", "root", "--keystone-group", "root")
        port = free_port(self.host)
        url = "http://%s:%d" % (self.host, port)
        self._bootstrap(base, url)
        proc = _serve(os.path.join(base, "keystone.conf"), self.host, port, base)
        try:
            _wait_ready(url + "/v3", proc, 60, base)
            _create_projects(url + "/v3")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)
        # the WAL must be folded into the file we copy
        with sqlite3.connect(os.path.join(base, "keystone.db")) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def _point_endpoints_here(self):
        """The catalog (which keystonemiddleware uses) names the template's port."""
        token, _ = self.token("admin", "admin")
        _, _, data = _request("GET", self.auth_url + "/endpoints", token=token)
        for endpoint in data["endpoints"]:
            if endpoint["url"] != self.auth_url:
                status, _, _ = _request("PATCH", "%s/endpoints/%s" % (
                    self.auth_url, endpoint["id"]), {"endpoint": {"url": self.auth_url}},
                    token=token)
                if status != 200:
                    raise KeystoneError("endpoint update: %s" % status)

    def _project_ids(self):
        token, _ = self.token("admin", "admin")
        status, _, data = _request("GET", self.auth_url + "/projects", token=token)
        if status != 200:
            raise KeystoneError("listing projects: %s %s" % (status, data))
        return {p["name"]: p["id"] for p in data["projects"]}


def _create_projects(auth_url):
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": PASSWORD}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
    status, headers, _ = _request("POST", auth_url + "/auth/tokens", body)
    token = headers["X-Subject-Token"]
    _, _, roles = _request("GET", auth_url + "/roles?name=member", token=token)
    member = roles["roles"][0]["id"]
    for name in PROJECTS:
        _, _, project = _request("POST", auth_url + "/projects", {"project": {
            "name": name, "domain_id": "default"}}, token=token)
        _, _, user = _request("POST", auth_url + "/users", {"user": {
            "name": name + "-user", "domain_id": "default", "password": PASSWORD,
            "default_project_id": project["project"]["id"]}}, token=token)
        status, _, _ = _request("PUT", "%s/projects/%s/users/%s/roles/%s" % (
            auth_url, project["project"]["id"], user["user"]["id"], member), token=token)
        if status != 204:
            raise KeystoneError("role assignment for %s: %s" % (name, status))


def _serve(config_file, host, port, base):
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, OS_KEYSTONE_CONFIG_FILES=config_file, PYTHONPATH=repo)
    log = open(os.path.join(base, "serve.log"), "ab")
    try:
        return subprocess.Popen([sys.executable, os.path.abspath(__file__), "serve",
                                 host, str(port)], env=env, stdout=log, stderr=log,
                                stdin=subprocess.DEVNULL, cwd=base)
    finally:
        log.close()


def _wait_ready(auth_url, proc, timeout, base):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise KeystoneError("keystone exited with %s: %s" % (
                proc.returncode, _tail(os.path.join(base, "serve.log"))))
        try:
            if _request("GET", auth_url, timeout=2)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    proc.kill()
    proc.wait()
    raise KeystoneError("keystone not ready within %ss: %s" % (
        timeout, _tail(os.path.join(base, "serve.log"))))


def _tail(path, lines=30):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return "(no log)"


@pytest.fixture(scope="session")
def keystone_aio():
    """A started KeystoneAIO for the whole session; stopped and removed at the end."""
    base = tempfile.mkdtemp(prefix="trove-lite-keystone-")
    keystone = KeystoneAIO(base)
    try:
        keystone.start()
        yield keystone
    finally:
        keystone.stop()
        shutil.rmtree(base, ignore_errors=True)


def _serve_forever(host, port):
    """Run in the subprocess: keystone's WSGI app under a threaded wsgiref server."""
    import socketserver
    from wsgiref import simple_server

    sys.argv = sys.argv[:1]  # keystone parses the command line as its own options
    from keystone.wsgi import api  # reads OS_KEYSTONE_CONFIG_FILES

    class Server(socketserver.ThreadingMixIn, simple_server.WSGIServer):
        daemon_threads = True

    class Handler(simple_server.WSGIRequestHandler):
        def log_message(self, *args):
            pass

    server = simple_server.make_server(host, port, api.application, server_class=Server,
                                       handler_class=Handler)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    server.serve_forever()


if __name__ == "__main__" and sys.argv[1:2] == ["serve"]:
    _serve_forever(sys.argv[2], int(sys.argv[3]))
