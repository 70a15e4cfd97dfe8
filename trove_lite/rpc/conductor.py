"""Client API of the conductor: casts carrying a ``sent`` timestamp.

The conductor applies a message only if its ``sent`` is newer than the last one
applied for the same instance and method, so a delayed heartbeat can never
overwrite a newer status. Every cast is sealed under the guest's own key
(rpc/sealed.py); the conductor refuses one sealed for another instance.
"""

import time

from trove_lite.rpc import sealed, transport

VERSION = "1.0"


class ConductorAPI:
    def __init__(self, conf):
        """A guest's client: its messages are sealed under its own ``[guest] rpc_key``."""
        self._client = sealed.SealedClient(
            transport.make_client(conf, conf.conductor.topic, VERSION),
            sealed.guest_key_for(conf)(conf.guest.instance_id), conf.guest.instance_id,
            sealed.TO_CONDUCTOR, sealed.window_of(conf))

    def _cast(self, method, **kwargs):
        kwargs.setdefault("sent", time.time())
        self._client.cast({}, method, **kwargs)

    def heartbeat(self, instance_id, payload, sent=None):
        """payload: {"service_status": NAME, "description": str?, "volume_used": GB?}"""
        self._cast("heartbeat", instance_id=instance_id, payload=payload,
                   **({"sent": sent} if sent else {}))

    def update_backup(self, instance_id, backup_id, sent=None, **backup_fields):
        self._cast("update_backup", instance_id=instance_id, backup_id=backup_id,
                   backup_fields=backup_fields, **({"sent": sent} if sent else {}))

    def report_root(self, instance_id, user, sent=None):
        self._cast("report_root", instance_id=instance_id, user=user,
                   **({"sent": sent} if sent else {}))

    def update_binlog_archive(self, instance_id, segments, status, sent=None):
        """Archived segments (recorded whatever the order) and the archive's state."""
        self._cast("update_binlog_archive", instance_id=instance_id, segments=segments,
                   status=status, **({"sent": sent} if sent else {}))
