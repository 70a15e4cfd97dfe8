"""Client API of the conductor: casts carrying a ``sent`` timestamp.

Timing and failure: every method is a cast; it returns once RabbitMQ took the
message (oslo.messaging raises MessageDeliveryFailure when it cannot) and never
waits for the conductor. The conductor applies a message only if its ``sent`` is
newer than the last one applied for the same instance and method, so a delayed
heartbeat can never overwrite a newer status; a message it drops is not retried.
"""

import time
from typing import Any

from trove_lite.rpc import transport

VERSION = "1.1"


class ConductorAPI:
    def __init__(self, conf: Any) -> None:
        self._client = transport.make_client(conf, conf.conductor.topic, VERSION)

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
