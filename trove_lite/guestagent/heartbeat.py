"""Periodic status reports from the guest to the conductor.

Every ``heartbeat_interval`` seconds, and at once when ``notify()`` is called
(after prepare, restart, stop...), the agent reads the current service status and
casts it with a ``sent`` timestamp. A change is therefore visible to the
conductor within one interval even if nobody notifies.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trove_lite.rpc.conductor import ConductorAPI

LOG = logging.getLogger(__name__)


class Heartbeat:
    def __init__(self, conductor: ConductorAPI, instance_id: str,
                 status_fn: Callable[[], tuple[str, str | None]], interval: float,
                 volume_used_fn: Callable[[], float | None] | None = None,
                 extra_fn: Callable[[], dict[str, Any]] | None = None) -> None:
        self.conductor = conductor
        self.instance_id = instance_id
        self.status_fn = status_fn
        self.interval = interval
        self.volume_used_fn = volume_used_fn
        self.extra_fn = extra_fn  # more payload keys (the replication block)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_status: str | None = None

    def notify(self) -> None:
        self._wake.set()

    def report_root(self, user: str) -> None:
        self.conductor.report_root(self.instance_id, user)

    def beat(self) -> None:
        status, description = self.status_fn()
        payload: dict[str, Any] = {"service_status": status, "description": description}
        if self.volume_used_fn is not None:
            payload["volume_used"] = self.volume_used_fn()
        if self.extra_fn is not None:
            payload.update(self.extra_fn())
        if status != self.last_status:
            LOG.info("service status %s -> %s", self.last_status, status)
        self.conductor.heartbeat(self.instance_id, payload, sent=time.time())
        self.last_status = status

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.beat()
            except Exception:
                LOG.exception("heartbeat failed; will retry")
            self._wake.wait(self.interval)
            self._wake.clear()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="heartbeat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
