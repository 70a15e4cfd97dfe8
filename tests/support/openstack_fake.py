"""An HTTP fake of the Nova and Cinder calls the trove-lite drivers make.

A small WSGI app served from a thread on a loopback address. It implements only
what python-novaclient (microversion 2.1) and python-cinderclient (3.42) send for
the NovaComputeDriver and CinderVolumeDriver, with Nova's and Cinder's status
words, fault bodies and delayed transitions:

    servers:  BUILD -> ACTIVE; REBUILD -> ACTIVE; REBOOT -> ACTIVE; delete -> gone
              (a server of a ``broken_images`` image goes BUILD -> ERROR with a fault)
    volumes:  creating -> available; attaching -> in-use; detaching -> available;
              extending -> available/in-use; deleting -> gone

Keystone: /identity/v3 (version document) and POST /identity/v3/auth/tokens
        (password auth for ``username``/``password``; the catalog lists the fake's
        compute and volumev3 endpoints), so the password path is exercised too.
Nova:   /compute/v2.1/servers[/detail|/<id>[/action|/os-volume_attachments[/<vid>]]]
        /compute/v2.1/flavors/<id>
Cinder: /volume/v3/<project>/volumes[/detail|/<id>[/action]]
Every request needs ``X-Auth-Token: <token>``; every request is recorded in
``requests`` as (method, path) so tests can see what the drivers sent.
"""

import base64
import itertools
import json
import re
import threading
import time
import uuid
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


class HTTPError(Exception):
    def __init__(self, status, fault, message):
        super().__init__(message)
        self.status, self.fault, self.message = status, fault, message


def bad_request(message):
    return HTTPError(400, "badRequest", message)


def not_found(message):
    return HTTPError(404, "itemNotFound", message)


class OpenStackFake:
    """Nova + Cinder state and the WSGI app serving it.

    ``delay`` is how long every transition takes (seconds).
    """

    def __init__(self, images=("img-a", "img-b"), flavors=("1", "2"),
                 broken_images=("img-broken",), token="fake-token", project="demo",
                 delay=0.2, host="127.206.255.254", username="trove",
                 password="secret"):
        self.username, self.password = username, password
        self.images = set(images) | set(broken_images)
        self.broken_images = set(broken_images)
        self.flavors = set(flavors)
        self.token = token
        self.project = project
        self.delay = delay
        self.host = host
        self.servers = {}
        self.volumes = {}
        self.requests = []
        self.lock = threading.RLock()
        self._ips = itertools.count(10)
        self._httpd = None
        self._thread = None

    # -- lifecycle ------------------------------------------------------------------
    def start(self):
        self._httpd = make_server(self.host, 0, self.app, server_class=_Server,
                                  handler_class=_QuietHandler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    @property
    def url(self):
        return "http://%s:%d" % (self.host, self._httpd.server_port)

    @property
    def keystone_url(self):
        return self.url + "/identity/v3"

    @property
    def nova_url(self):
        return self.url + "/compute/v2.1"

    @property
    def cinder_url(self):
        return "%s/volume/v3/%s" % (self.url, self.project)

    # -- WSGI -----------------------------------------------------------------------
    def app(self, environ, start_response):
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "")
        self.requests.append((method, path))
        extra_headers = []
        try:
            if path.startswith("/identity/"):
                length = int(environ.get("CONTENT_LENGTH") or 0)
                body = json.loads(environ["wsgi.input"].read(length)) if length else None
                status, doc = self._keystone(method, path, body)
                if status == 201:
                    extra_headers.append(("X-Subject-Token", self.token))
            elif environ.get("HTTP_X_AUTH_TOKEN") != self.token:
                raise HTTPError(401, "unauthorized", "Authentication required")
            else:
                length = int(environ.get("CONTENT_LENGTH") or 0)
                body = json.loads(environ["wsgi.input"].read(length)) if length else None
                with self.lock:
                    status, doc = self._route(method, path, body)
        except HTTPError as exc:
            status, doc = exc.status, {exc.fault: {"code": exc.status, "message": exc.message}}
        payload = b"" if doc is None else json.dumps(doc).encode()
        headers = [("Content-Type", "application/json"),
                   ("Content-Length", str(len(payload))),
                   ("x-openstack-request-id", "req-" + str(uuid.uuid4()))] + extra_headers
        start_response("%d %s" % (status, _REASONS.get(status, "")), headers)
        return [payload]

    def _keystone(self, method, path, body):
        if method == "GET" and path.rstrip("/") == "/identity/v3":
            return 200, {"version": {"id": "v3.14", "status": "stable",
                                     "updated": "2020-04-07T00:00:00Z",
                                     "links": [{"rel": "self", "href": self.keystone_url + "/"}],
                                     "media-types": [{
                                         "base": "application/json",
                                         "type": "application/vnd.openstack.identity-v3+json"}]}}
        if method == "POST" and path == "/identity/v3/auth/tokens":
            user = body["auth"]["identity"]["password"]["user"]
            if user.get("name") != self.username or user.get("password") != self.password:
                raise HTTPError(401, "error", "The request you have made requires authentication.")
            project = {"id": self.project, "name": self.project,
                       "domain": {"id": "default", "name": "Default"}}
            return 201, {"token": {
                "methods": ["password"], "expires_at": "2099-01-01T00:00:00.000000Z",
                "issued_at": "2020-01-01T00:00:00.000000Z", "project": project,
                "user": {"id": "u-" + self.username, "name": self.username,
                         "domain": {"id": "default", "name": "Default"}},
                "roles": [{"id": "r1", "name": "member"}],
                "catalog": [_service("compute", "nova", self.nova_url),
                            _service("volumev3", "cinderv3", self.cinder_url)]}}
        raise not_found("no identity route for %s %s" % (method, path))

    def _route(self, method, path, body):
        for pattern, methods in self._routes():
            m = re.fullmatch(pattern, path)
            if m:
                handler = methods.get(method)
                if handler is None:
                    raise HTTPError(405, "badMethod", "method not allowed")
                return handler(body, *m.groups())
        raise not_found("no route for %s %s" % (method, path))

    def _routes(self):
        nova = r"/compute/v2\.1"
        cinder = r"/volume/v3/%s" % re.escape(self.project)
        return [
            (nova + r"/servers", {"POST": self.create_server}),
            (nova + r"/servers/detail", {"GET": self.list_servers}),
            (nova + r"/servers/([^/]+)", {"GET": self.show_server,
                                          "DELETE": self.delete_server}),
            (nova + r"/servers/([^/]+)/action", {"POST": self.server_action}),
            (nova + r"/servers/([^/]+)/os-volume_attachments", {"POST": self.attach}),
            (nova + r"/servers/([^/]+)/os-volume_attachments/([^/]+)",
             {"DELETE": self.detach}),
            (nova + r"/flavors/([^/]+)", {"GET": self.show_flavor}),
            (cinder + r"/volumes", {"POST": self.create_volume}),
            (cinder + r"/volumes/detail", {"GET": self.list_volumes}),
            (cinder + r"/volumes/([^/]+)", {"GET": self.show_volume,
                                            "DELETE": self.delete_volume}),
            (cinder + r"/volumes/([^/]+)/action", {"POST": self.volume_action}),
        ]

    # -- transitions ----------------------------------------------------------------
    def _later(self, obj, status, **changes):
        """``status`` and ``changes`` take effect after ``delay``."""
        obj["_pending"] = (time.monotonic() + self.delay, status, changes)

    def _settle(self, table, key):
        obj = table.get(key)
        if obj is not None and obj.get("_pending"):
            when, status, changes = obj["_pending"]
            if time.monotonic() >= when:
                obj["_pending"] = None
                if status == "GONE":
                    del table[key]
                    return None
                obj["status"] = status
                obj.update(changes)
        return table.get(key)

    def _server(self, server_id):
        server = self._settle(self.servers, server_id)
        if server is None:
            raise not_found("Instance %s could not be found." % server_id)
        return server

    def _volume(self, volume_id):
        volume = self._settle(self.volumes, volume_id)
        if volume is None:
            raise not_found("Volume %s could not be found." % volume_id)
        return volume

    # -- Nova -----------------------------------------------------------------------
    def create_server(self, body):
        spec = body["server"]
        image, flavor = spec.get("imageRef"), str(spec.get("flavorRef"))
        if image not in self.images:
            raise bad_request("Image %s could not be found." % image)
        if flavor not in self.flavors:
            raise bad_request("Flavor %s could not be found." % flavor)
        server_id = str(uuid.uuid4())
        n = next(self._ips)
        server = {"id": server_id, "name": spec["name"], "status": "BUILD",
                  "image": image, "flavor": flavor, "metadata": spec.get("metadata", {}),
                  "files": _personality(spec.get("personality")),
                  "addresses": {"private": [{"addr": "10.0.%d.%d" % (n // 250, n % 250 + 2),
                                             "version": 4}]},
                  "fault": None, "volumes": [], "boots": 1}
        if image in self.broken_images:
            self._later(server, "ERROR", fault={"code": 500,
                                                "message": "No valid host was found."})
        else:
            self._later(server, "ACTIVE")
        self.servers[server_id] = server
        for bdm in spec.get("block_device_mapping_v2") or []:
            if bdm.get("destination_type") == "volume" and bdm.get("boot_index") != 0:
                self.attach({"volumeAttachment": {"volumeId": bdm["uuid"]}}, server_id)
        return 202, {"server": {"id": server_id, "links": [], "adminPass": "x",
                                "OS-DCF:diskConfig": "MANUAL"}}

    def _server_doc(self, s):
        doc = {"id": s["id"], "name": s["name"], "status": s["status"],
               "addresses": s["addresses"], "image": {"id": s["image"], "links": []},
               "flavor": {"id": s["flavor"], "links": []}, "metadata": s["metadata"],
               "links": [], "OS-EXT-STS:task_state": None}
        if s["status"] == "ERROR" and s["fault"]:
            doc["fault"] = s["fault"]
        return doc

    def list_servers(self, body):
        docs = [self._server_doc(s) for sid in list(self.servers)
                if (s := self._settle(self.servers, sid)) is not None]
        return 200, {"servers": docs}

    def show_server(self, body, server_id):
        return 200, {"server": self._server_doc(self._server(server_id))}

    def delete_server(self, body, server_id):
        server = self._server(server_id)
        for volume_id in server["volumes"]:
            volume = self.volumes.get(volume_id)
            if volume is not None:
                volume.update(status="available", attachments=[])
        server["volumes"] = []
        server["status"] = "ACTIVE" if server["status"] != "ERROR" else "ERROR"
        self._later(server, "GONE")
        return 204, None

    def server_action(self, body, server_id):
        server = self._server(server_id)
        (action, args), = body.items()
        if action == "rebuild":
            image = args.get("imageRef")
            if image not in self.images:
                raise bad_request("Image %s could not be found." % image)
            server["status"] = "REBUILD"
            files = _personality(args.get("personality")) if "personality" in args else None
            self._later(server, "ACTIVE", image=image,
                        files=server["files"] if files is None else files,
                        boots=server["boots"] + 1)
            return 202, {"server": self._server_doc(server)}
        if action == "reboot":
            if server["status"] not in ("ACTIVE", "SHUTOFF", "ERROR"):
                raise HTTPError(409, "conflictingRequest",
                                "Cannot 'reboot' instance %s while it is in vm_state %s"
                                % (server_id, server["status"]))
            server["status"] = "REBOOT"
            self._later(server, "ACTIVE", boots=server["boots"] + 1)
            return 202, None
        raise bad_request("unsupported action %s" % action)

    def attach(self, body, server_id):
        server = self._server(server_id)
        volume_id = body["volumeAttachment"]["volumeId"]
        volume = self._volume(volume_id)
        if volume["status"] != "available":
            raise bad_request("Invalid volume: volume %s status must be 'available'" % volume_id)
        device = "/dev/vd%s" % "bcdefghijklmnop"[len(server["volumes"])]
        server["volumes"].append(volume_id)
        volume["status"] = "attaching"
        self._later(volume, "in-use", attachments=[{
            "server_id": server_id, "attachment_id": str(uuid.uuid4()), "id": volume_id,
            "volume_id": volume_id, "device": device}])
        return 200, {"volumeAttachment": {"id": volume_id, "volumeId": volume_id,
                                          "serverId": server_id, "device": device}}

    def detach(self, body, server_id, volume_id):
        server = self._server(server_id)
        if volume_id not in server["volumes"]:
            raise not_found("volume_id not found: %s" % volume_id)
        volume = self._volume(volume_id)
        server["volumes"].remove(volume_id)
        volume["status"] = "detaching"
        self._later(volume, "available", attachments=[])
        return 202, None

    def show_flavor(self, body, flavor_id):
        if flavor_id not in self.flavors:
            raise not_found("Flavor %s could not be found." % flavor_id)
        return 200, {"flavor": {"id": flavor_id, "name": "f" + flavor_id, "ram": 512,
                                "vcpus": 1, "disk": 1, "links": []}}

    # -- Cinder ---------------------------------------------------------------------
    def create_volume(self, body):
        spec = body["volume"]
        volume_id = str(uuid.uuid4())
        volume = {"id": volume_id, "name": spec.get("name"), "size": int(spec["size"]),
                  "status": "creating", "attachments": [],
                  "volume_type": spec.get("volume_type") or "__DEFAULT__",
                  "availability_zone": spec.get("availability_zone") or "nova",
                  "bootable": "false", "metadata": spec.get("metadata") or {}}
        self._later(volume, "available")
        self.volumes[volume_id] = volume
        return 202, {"volume": self._volume_doc(volume)}

    def _volume_doc(self, v):
        return {k: v[k] for k in ("id", "name", "size", "status", "attachments",
                                  "volume_type", "availability_zone", "bootable", "metadata")}

    def list_volumes(self, body):
        docs = [self._volume_doc(v) for vid in list(self.volumes)
                if (v := self._settle(self.volumes, vid)) is not None]
        return 200, {"volumes": docs}

    def show_volume(self, body, volume_id):
        return 200, {"volume": self._volume_doc(self._volume(volume_id))}

    def delete_volume(self, body, volume_id):
        volume = self._volume(volume_id)
        if volume["status"] not in ("available", "error"):
            raise bad_request("Invalid volume: Volume status must be available or error, "
                              "but current status is: %s." % volume["status"])
        volume["status"] = "deleting"
        self._later(volume, "GONE")
        return 202, None

    def volume_action(self, body, volume_id):
        volume = self._volume(volume_id)
        (action, args), = body.items()
        if action != "os-extend":
            raise bad_request("unsupported action %s" % action)
        new_size = int(args["new_size"])
        if volume["status"] not in ("available", "in-use"):
            raise bad_request("Invalid volume: Volume status must be available or in-use")
        if new_size <= volume["size"]:
            raise bad_request("Invalid input received: New size for extend must be greater "
                              "than current size. (current: %d, extended: %d)."
                              % (volume["size"], new_size))
        back = volume["status"]
        volume["status"] = "extending"
        self._later(volume, back, size=new_size)
        return 202, None


def _service(service_type, name, url):
    return {"type": service_type, "name": name, "id": name,
            "endpoints": [{"id": name + "-public", "interface": "public", "url": url,
                           "region": "RegionOne", "region_id": "RegionOne"}]}


def _personality(items):
    return {p["path"]: base64.b64decode(p["contents"]).decode() for p in items or []}


_REASONS = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 400: "Bad Request",
            401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed",
            409: "Conflict"}
