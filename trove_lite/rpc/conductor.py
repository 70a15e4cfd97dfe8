"""Client API of the conductor: casts carrying a ``sent`` timestamp, and one call.

Timing and failure: every method but ``record_binlog_segments`` is a cast; it
returns once RabbitMQ took the message (oslo.messaging raises
MessageDeliveryFailure when it cannot) and never waits for the conductor: a cast
the conductor acknowledged and then lost (killed meanwhile) is lost.
``record_binlog_segments`` (1.2) is a call that waits for the rows to be
committed, at most its ``timeout``. The conductor applies a message only if its ``sent`` is
newer than the last one applied for the same instance and method, so a delayed
heartbeat can never overwrite a newer status; a message it drops is not retried.
Every cast is sealed under the instance's own key (rpc/sealed.py); the conductor
refuses one sealed for another instance.
"""

import logging
import time
from typing import Any

import oslo_messaging as messaging

from trove_lite.rpc import sealed, transport

LOG = logging.getLogger(__name__)
VERSION = "1.2"
# the methods a guest calls (its reply is sealed); every other one is a cast
CALLS = frozenset(["record_binlog_segments"])
RECORD_TIMEOUT = 10.0   # s a guest waits for its segments' rows before sending again


class ConductorAPI:
    def __init__(self, conf: Any, instance_id: str | None = None,
                 key_for: Any = None) -> None:
        """A guest's client: its messages are sealed under its own ``[guest] rpc_key``.
        With ``instance_id`` it is the control plane's client for that instance
        (the taskmanager's ``report_status``), sealed under the instance's key that
        ``key_for`` (``sealed.control_key_for(conf)``) derives from the master secret."""
        if instance_id is None:
            instance_id = conf.guest.instance_id
            key_for = sealed.guest_key_for(conf)
        elif key_for is None:
            key_for = sealed.control_key_for(conf)
        self._legacy = False     # the conductor is older than 1.2
        self._client = sealed.SealedClient(
            transport.make_client(conf, conf.conductor.topic, VERSION),
            key_for(instance_id), instance_id, sealed.TO_CONDUCTOR, sealed.window_of(conf))

    def _cast(self, method: str, version: str = "1.0", sent: float | None = None,
              **kwargs: Any) -> None:
        self._client.prepare(version=version).cast({}, method, sent=sent or time.time(),
                                                   **kwargs)

    def heartbeat(self, instance_id: str, payload: dict, sent: float | None = None) -> None:
        """payload: {"service_status": NAME, "description": str?, "volume_used": GB?}"""
        self._cast("heartbeat", instance_id=instance_id, payload=payload, sent=sent)

    def report_status(self, instance_id: str, status: str,
                      description: str | None = None) -> None:
        """(1.1) A service status the taskmanager learned without the guest; the
        conductor orders it with the guest's heartbeats (an older one is dropped)."""
        self._cast("report_status", "1.1", instance_id=instance_id, status=status,
                   description=description)

    def update_backup(self, instance_id: str, backup_id: str, sent: float | None = None,
                      **backup_fields: Any) -> None:
        self._cast("update_backup", instance_id=instance_id, backup_id=backup_id,
                   backup_fields=backup_fields, sent=sent)

    def report_root(self, instance_id: str, user: str, sent: float | None = None) -> None:
        self._cast("report_root", instance_id=instance_id, user=user, sent=sent)

    def update_binlog_archive(self, instance_id: str, segments: list, status: dict,
                              sent: float | None = None) -> None:
        """Archived segments (recorded whatever the order) and the archive's state."""
        self._cast("update_binlog_archive", instance_id=instance_id, segments=segments,
                   status=status, sent=sent)

    def record_binlog_segments(self, instance_id: str, segments: list, status: dict,
                               sent: float | None = None,
                               timeout: float = RECORD_TIMEOUT) -> dict[str, int] | bool:
        """(1.2) Archived segments and the archive's state, as a call: returns the
        conductor's answer ``{"recorded": n, "discarded": m}`` once it committed
        their rows or discarded them (discarded: the instance is deleted and no
        backup of it is left, so no prune will look for them: the sender removes
        what it stored). Raises ``MessagingTimeout`` when no
        answer came in ``timeout`` s (the conductor is down, or was killed after it
        took the message): the segments may or may not be recorded, and sending
        them again is harmless (recorded once). A conductor older than 1.2 gets
        them as the ``update_binlog_archive`` cast, from then on (until this
        process restarts), and False is returned: nothing confirms those."""
        if not self._legacy:
            cctxt = self._client.prepare(version="1.2", timeout=timeout)
            try:
                answer = cctxt.call({}, "record_binlog_segments", instance_id=instance_id,
                                    segments=segments, status=status,
                                    sent=sent or time.time())
                # discarded: the instance is deleted and no backup of it is left
                return {"discarded": 0} if not isinstance(answer, dict) else answer
            except messaging.RemoteError as e:
                if e.exc_type not in ("UnsupportedVersion", "NoSuchMethod"):
                    raise
                LOG.warning("the conductor is older than RPC 1.2: archived binlog "
                            "segments are cast, unconfirmed (%s)", e.exc_type)
                self._legacy = True
        self.update_binlog_archive(instance_id, segments, status, sent)
        return False
