"""Prepare from the injected request while the agent is still starting.

The taskmanager injects the prepare request with the server
(``etc/trove-lite/prepare.json``) and attaches the volume at boot. Loading the
RPC stack and connecting to RabbitMQ takes the agent about a second; an
EarlyPrepare does the database work in that second, in a thread started before
those imports. The prepare cast that follows finds the work done (or waits for
it) and runs nothing twice. Restores are left to the cast: they need the
storage configuration.
"""

import json
import logging
import os
import threading
from collections.abc import Callable
from typing import Any

from trove_lite.guestagent import state as guest_state
from trove_lite.guestagent.state import failure_text
from trove_lite.guestagent.datastore.mariadb.app import MariaDBApp

LOG = logging.getLogger(__name__)

PREPARE_FILE = os.path.join("root", "etc", "trove-lite", "prepare.json")


def remove_request(server_dir: str | None) -> None:
    """Delete the injected request (it names the users and their password hashes)
    once a prepare ran, whatever its outcome; the cast's prepare removes it too."""
    if not server_dir:
        return
    try:
        os.unlink(os.path.join(server_dir, PREPARE_FILE))
    except FileNotFoundError:
        pass


class EarlyPrepare:
    def __init__(self, server_dir: str, request: dict[str, Any], device: str,
                 info: dict[str, Any], template_path: str) -> None:
        self.server_dir = server_dir
        self.request = request
        self.device = device
        self.info = info
        self.template_path = template_path
        self.work_dir = guest_state.work_dir_of(server_dir)
        self.state = guest_state.state_of(self.work_dir)
        self.done = threading.Event()
        self.result: dict[str, Any] | None = None
        self._callbacks: list[Callable[[EarlyPrepare], None]] = []
        self._lock = threading.Lock()

    @classmethod
    def maybe_start(cls, server_dir: str | None, template_path: str) -> "EarlyPrepare | None":
        """Start if this is a first boot with an injected plain (non-restore) request."""
        if not server_dir:
            return None
        try:
            info = guest_state.read_server_info(server_dir)
            with open(os.path.join(server_dir, PREPARE_FILE)) as f:
                request = json.load(f)
        except (OSError, ValueError):
            return None
        devices = list((info.get("volume_devices") or {}).values())
        st = guest_state.state_of(guest_state.work_dir_of(server_dir)).read()
        if (not devices or request.get("backup") or st.get("prepared")
                or st.get("prepare_failed") or st.get("preparing")):
            return None
        early = cls(server_dir, request, devices[0], info, template_path)
        threading.Thread(target=early._run, name="early-prepare", daemon=True).start()
        return early

    def _run(self) -> None:
        req = self.request
        instance_id = (self.info.get("metadata") or {}).get("trove_instance_id", "0")
        st = self.state
        st.update(preparing=True, prepare_failed=None, flavor=req["flavor"],
                  overrides=req.get("overrides") or {}, mount_point=self.device,
                  volume_device=self.device)
        try:
            make_server = guest_state.server_factory(self.work_dir, self.info)
            app = MariaDBApp(make_server(os.path.join(self.device, "data")),
                             self.template_path)
            self.result = replica_prepare(self, app, req) if req.get("replication") else \
                app.prepare(
                flavor=req["flavor"], server_id=guest_state.server_id_of(instance_id),
                databases=req.get("databases") or [], users=req.get("users") or [],
                root_password=req.get("root_password"),
                enable_root=bool(req.get("root_password")),
                config_overrides=req.get("overrides") or {})
            st.update(preparing=False, prepared=True)
            LOG.info("early prepare finished in %s", (self.result or {}).get("timings"))
        except Exception as e:
            LOG.exception("early prepare failed")
            st.update(preparing=False, prepare_failed=failure_text(e))
        finally:
            remove_request(self.server_dir)
        with self._lock:
            self.done.set()
            callbacks = list(self._callbacks)
        for cb in callbacks:
            cb(self)

    def on_done(self, callback: Callable[["EarlyPrepare"], None]) -> None:
        """Call ``callback(self)`` when done (at once if it is done already)."""
        with self._lock:
            if not self.done.is_set():
                self._callbacks.append(callback)
                return
        callback(self)

    def root_enabled(self) -> bool:
        return bool(self.result and self.result.get("root_password"))

    def wait(self, timeout: float | None = None) -> bool:
        return self.done.wait(timeout)


def replica_prepare(early: EarlyPrepare, app: MariaDBApp,
                    req: dict[str, Any]) -> dict[str, Any]:
    """A replica's prepare (seeded from its source's stream, see replication.py)."""
    from trove_lite.guestagent.datastore import replication_class
    instance_id = (early.info.get("metadata") or {}).get("trove_instance_id", "0")
    repl = replication_class(app.datastore.name)(
        lambda: app, early.state, os.path.dirname(early.template_path),
        lambda: app.server.bind_address)
    return repl.prepare_replica(req["replication"], req["flavor"], lambda: app.prepare(
        flavor=req["flavor"], server_id=guest_state.server_id_of(instance_id),
        config_overrides=req.get("overrides") or {}))
