"""Client API of the taskmanager: every method is a cast (fire and forget).

Timing: a method returns once RabbitMQ took the message; it never waits for the
flow. Failures: oslo.messaging raises MessageDeliveryFailure (or a transport
error) when the broker cannot take it; the caller has already recorded its
intent (the instance's task claim, a pending apply), and the taskmanager's reconcile
pass finds work whose cast was lost. A flow's own failure is recorded on the
instance (task status, fault), never raised to the caller.

Version history: 1.0 create/delete/restart/resize/reset_status/force_delete;
1.1 backups; 1.2 configuration; 1.3 upgrade; 1.4 replication (promote, eject, detach);
1.5 access, mgmt reboot/rebuild; 1.10 apply_durability (a set's semisync|async).
``update_configuration`` with ``configuration_id`` None removes the group the
instance had (detach).
"""

from typing import Any

from oslo_config import cfg

from trove_lite.rpc import transport
from trove_lite.rpc.context import Context

VERSION = "1.10"


class TaskManagerAPI:
    def __init__(self, conf: cfg.ConfigOpts) -> None:
        self.conf = conf
        self._client = transport.make_client(conf, conf.taskmanager.topic, VERSION)

    def _cast(self, ctx: Context, method: str, version: str = "1.0",
              **kwargs: Any) -> None:
        self._client.prepare(version=version).cast(ctx.to_dict(), method, **kwargs)

    def create_instance(self, ctx: Context, instance_id: str,
                        databases: list[dict] | None = None, users: list[dict] | None = None,
                        backup_id: str | None = None,
                        root_password: str | None = None) -> None:
        self._cast(ctx, "create_instance", instance_id=instance_id,
                   databases=databases or [], users=users or [], backup_id=backup_id,
                   root_password=root_password)

    def delete_instance(self, ctx: Context, instance_id: str) -> None:
        self._cast(ctx, "delete_instance", instance_id=instance_id)

    def force_delete_instance(self, ctx: Context, instance_id: str) -> None:
        self._cast(ctx, "force_delete_instance", instance_id=instance_id)

    def restart_instance(self, ctx: Context, instance_id: str) -> None:
        self._cast(ctx, "restart_instance", instance_id=instance_id)

    def resize_flavor(self, ctx: Context, instance_id: str, old_flavor_id: str,
                      new_flavor_id: str) -> None:
        self._cast(ctx, "resize_flavor", instance_id=instance_id,
                   old_flavor_id=old_flavor_id, new_flavor_id=new_flavor_id)

    def resize_volume(self, ctx: Context, instance_id: str, new_size: int) -> None:
        self._cast(ctx, "resize_volume", instance_id=instance_id, new_size=new_size)

    def reset_status(self, ctx: Context, instance_id: str) -> None:
        self._cast(ctx, "reset_status", instance_id=instance_id)

    # 1.1
    def create_backup(self, ctx: Context, backup_id: str,
                      instance_id: str) -> None:
        self._cast(ctx, "create_backup", "1.1", backup_id=backup_id, instance_id=instance_id)

    def delete_backup(self, ctx: Context, backup_id: str) -> None:
        self._cast(ctx, "delete_backup", "1.1", backup_id=backup_id)

    # 1.2
    def update_configuration(self, ctx: Context, instance_id: str,
                             configuration_id: str | None) -> None:
        self._cast(ctx, "update_configuration", "1.2", instance_id=instance_id,
                   configuration_id=configuration_id)

    # 1.3
    def upgrade(self, ctx: Context, instance_id: str,
                datastore_version_id: str) -> None:
        self._cast(ctx, "upgrade", "1.3", instance_id=instance_id,
                   datastore_version_id=datastore_version_id)

    def promote_to_replica_source(self, ctx: Context, instance_id: str) -> None:
        self._cast(ctx, "promote_to_replica_source", "1.4", instance_id=instance_id)

    def eject_replica_source(self, ctx: Context, instance_id: str) -> None:
        self._cast(ctx, "eject_replica_source", "1.4", instance_id=instance_id)

    def detach_replica(self, ctx: Context, instance_id: str) -> None:
        self._cast(ctx, "detach_replica", "1.4", instance_id=instance_id)

    def update_access(self, ctx: Context, instance_id: str) -> None:
        self._cast(ctx, "update_access", "1.5", instance_id=instance_id)

    def reboot_instance(self, ctx: Context, instance_id: str) -> None:
        self._cast(ctx, "reboot_instance", "1.5", instance_id=instance_id)

    # 1.10
    def apply_durability(self, ctx: Context, instance_id: str) -> None:
        """Give every member of the set of ``instance_id`` (its source's id) the
        semi-sync side of the set's recorded durability."""
        self._cast(ctx, "apply_durability", "1.10", instance_id=instance_id)

    def rebuild_instance(self, ctx: Context, instance_id: str, image_id: str) -> None:
        self._cast(ctx, "rebuild_instance", "1.5", instance_id=instance_id, image_id=image_id)
