"""Client API of one guest agent (topic ``guestagent.<instance id>``).

Timing: a method that returns a value is a call that blocks the caller until the
guest answers: quick ones at most ``[guest] rpc_short_timeout`` (15 s), slow ones
(restart, start/stop, volume moves, upgrades, promote) ``rpc_long_timeout``
(180 s), ``wait_applied`` its own ``seconds`` plus the short one. ``prepare`` and
``create_backup`` are casts: they return once RabbitMQ took the message and the
guest reports the outcome through the conductor. The API calls the guest only
for reads (users, databases, live values, logs); changes go through the
taskmanager, which may wait.

Failures: a timeout surfaces as ``GuestTimeout`` (503) naming the instance and
the method (the guest may still act on the message later: every guest method is
idempotent or refuses a repeat); an error raised in the guest surfaces as
``GuestError`` with its message, or as the same trove-lite exception class when
the guest raised one (NotFound, Conflict...). Values are JSON: tuples arrive as
lists.
"""

from typing import Any, Iterable, Sequence

import oslo_messaging as messaging
from oslo_config import cfg

from trove_lite import exceptions
from trove_lite.rpc import sealed, transport

VERSION = "1.13"


def guest_topic(instance_id: str) -> str:
    return "guestagent.%s" % instance_id


_PASS_THROUGH = {cls.__name__: cls for cls in (
    exceptions.BadRequest, exceptions.InvalidName, exceptions.NotFound,
    exceptions.Conflict, exceptions.InvalidConfigurationValue, exceptions.BackupError,
    exceptions.RestoreError)}


class GuestAPI:
    def __init__(self, conf: cfg.ConfigOpts, instance_id: str) -> None:
        self.instance_id = instance_id
        self.short = conf.guest.rpc_short_timeout
        self.long = conf.guest.rpc_long_timeout
        # sealed under the instance's own key (rpc/sealed.py): a method added
        # below goes through _call/_cast and is sealed with no change
        self._client = sealed.SealedClient(
            transport.make_client(conf, guest_topic(instance_id), VERSION),
            sealed.control_key_for(conf)(instance_id), instance_id, sealed.TO_GUEST,
            sealed.window_of(conf))

    def _call(self, method: str, timeout: float, version: str = "1.0", **kwargs: Any) -> Any:
        cctxt = self._client.prepare(version=version, timeout=timeout)
        try:
            return cctxt.call({}, method, **kwargs)
        except messaging.MessagingTimeout:
            raise exceptions.GuestTimeout(instance_id=self.instance_id, method=method,
                                          timeout=timeout)
        except messaging.RemoteError as e:
            cls = _PASS_THROUGH.get(e.exc_type)
            if cls is not None:
                raise cls(e.value)
            raise exceptions.GuestError(instance_id=self.instance_id, method=method,
                                        reason=e.value)

    def _cast(self, method: str, version: str = "1.0", **kwargs: Any) -> None:
        self._client.prepare(version=version).cast({}, method, **kwargs)

    # lifecycle (1.0)
    def prepare(self, flavor: dict, databases: list[dict], users: list[dict],
                root_password: str | None = None, overrides: dict | None = None,
                backup: dict | None = None, volume_device: str | None = None,
                replication: dict | None = None) -> None:
        # Note: the same request also reaches the guest as an injected file
        # (taskmanager PREPARE_PATH); the guest runs whichever comes first, once.
        """Cast: the guest reports the outcome through heartbeats (HEALTHY or FAILED)."""
        extra = {"replication": replication} if replication else {}
        self._cast("prepare", "1.3" if replication else "1.0", flavor=flavor,
                   databases=databases, users=users, root_password=root_password,
                   overrides=overrides or {}, backup=backup, volume_device=volume_device,
                   **extra)

    def ping(self) -> Any:
        return self._call("ping", self.short)

    def get_status(self) -> Any:
        return self._call("get_status", self.short)

    def restart(self) -> Any:
        return self._call("restart", self.long)

    def stop_db(self) -> Any:
        return self._call("stop_db", self.long)

    def start_db(self) -> Any:
        return self._call("start_db", self.long)

    def update_flavor(self, flavor: dict) -> Any:
        """Re-render the config for a new flavor (takes effect on restart)."""
        return self._call("update_flavor", self.short, flavor=flavor)

    def unmount_volume(self) -> Any:
        return self._call("unmount_volume", self.long)

    def mount_volume(self, volume_device: str) -> Any:
        return self._call("mount_volume", self.long, volume_device=volume_device)

    def get_volume_info(self) -> Any:
        return self._call("get_volume_info", self.short)

    # databases, users, root (1.1)
    def create_databases(self, databases: list[dict]) -> Any:
        return self._call("create_databases", self.short, "1.1", databases=databases)

    def list_databases(self, limit: int | None = None, marker: str | None = None) -> Any:
        """(databases, next_marker); the guest's tuple arrives as a JSON list."""
        items, next_marker = self._call("list_databases", self.short, "1.1", limit=limit,
                                        marker=marker)
        return items, next_marker

    def delete_database(self, name: str) -> Any:
        return self._call("delete_database", self.short, "1.1", name=name)

    def create_users(self, users: list[dict]) -> Any:
        return self._call("create_users", self.short, "1.1", users=users)

    def list_users(self, limit: int | None = None, marker: str | None = None) -> Any:
        """(users, next_marker); the marker is ``name@host``."""
        items, next_marker = self._call("list_users", self.short, "1.1", limit=limit,
                                        marker=marker)
        return items, next_marker

    def get_user(self, name: str, host: str) -> Any:
        return self._call("get_user", self.short, "1.1", name=name, host=host)

    def update_user(self, name: str, host: str, attrs: dict) -> Any:
        return self._call("update_user", self.short, "1.1", name=name, host=host,
                          attrs=attrs)

    def delete_user(self, name: str, host: str) -> Any:
        return self._call("delete_user", self.short, "1.1", name=name, host=host)

    def change_passwords(self, users: list[dict]) -> Any:
        return self._call("change_passwords", self.short, "1.1", users=users)

    def grant_access(self, name: str, host: str, databases: list) -> Any:
        return self._call("grant_access", self.short, "1.1", name=name, host=host,
                          databases=databases)

    def revoke_access(self, name: str, host: str, database: str) -> Any:
        return self._call("revoke_access", self.short, "1.1", name=name, host=host,
                          database=database)

    def list_access(self, name: str, host: str) -> Any:
        return self._call("list_access", self.short, "1.1", name=name, host=host)

    def enable_root(self, password: str | None = None,
                    password_hash: str | None = None) -> Any:
        """Give the password's hash to keep the password off the bus and the guest."""
        if password_hash is not None:
            return self._call("enable_root", self.short, "1.1", password_hash=password_hash)
        return self._call("enable_root", self.short, "1.1", password=password)

    def disable_root(self) -> Any:
        return self._call("disable_root", self.short, "1.1")

    def is_root_enabled(self) -> Any:
        return self._call("is_root_enabled", self.short, "1.1")

    def apply_configuration(self, values: dict, dynamic: Sequence[str],
                            options: dict[str, str] | None = None) -> Any:
        """Persist ``values`` as the instance's overrides and SET GLOBAL the dynamic ones.

        All or nothing (a refused value raises InvalidConfigurationValue);
        returns {"restart_required": bool}. ``options``: {variable: option name}.
        """
        return self._call("apply_configuration", self.short, "1.1", values=values,
                          dynamic=dynamic, options=options or {})

    def detach_configuration(self, dynamic: Sequence[str],
                             options: dict[str, str] | None = None) -> Any:
        """Remove the overrides; dynamic variables return to the defaults at once."""
        return self._call("detach_configuration", self.short, "1.1", dynamic=dynamic,
                          options=options or {})

    def get_configuration(self, names: Iterable[str]) -> Any:
        """{name: live @@global value} of the server variables ``names``."""
        return self._call("get_configuration", self.short, "1.1", names=list(names))

    # backups (1.1)
    def create_backup(self, backup: dict) -> None:
        """Cast: the guest runs the backup in the background and reports its progress
        and outcome through the conductor (``update_backup``)."""
        self._cast("create_backup", "1.1", backup=backup)

    # upgrades (1.2): the server is rebuilt with the new image between pre and post
    def pre_upgrade(self, slow_shutdown: bool = True) -> Any:
        """Stop the database, save configuration and state on the volume, unmount.
        Returns the upgrade info to hand to post_upgrade/rollback_upgrade."""
        return self._call("pre_upgrade", self.long, "1.2", slow_shutdown=slow_shutdown)

    def post_upgrade(self, upgrade_info: dict, volume_device: str | None = None) -> Any:
        """Restore, start the new version, run mariadb-upgrade; {"version": ...}."""
        return self._call("post_upgrade", self.long, "1.2", upgrade_info=upgrade_info,
                          volume_device=volume_device)

    def rollback_upgrade(self, upgrade_info: dict, volume_device: str | None = None) -> Any:
        """On the old image again: the saved datadir back, restore, start."""
        return self._call("rollback_upgrade", self.long, "1.2", upgrade_info=upgrade_info,
                          volume_device=volume_device)

    def finish_upgrade(self) -> None:
        """Drop the saved datadir copy. A cast: nothing waits for it, and a lost one
        leaves the copy until the next upgrade's pre_upgrade replaces it."""
        self._cast("finish_upgrade", "1.2")

    # replication (1.3)
    def enable_as_source(self, strategy: str) -> Any:
        """Replication account, heartbeat writer, source role (idempotent)."""
        return self._call("enable_as_source", self.short, "1.3", strategy=strategy)

    def offer_seed(self, data: bool = True) -> Any:
        """{host, port, token} of a one-connection hot-backup stream for a new replica;
        ``data`` False: only the set's account password (seed from a stored backup)."""
        if data:
            return self._call("offer_seed", self.short, "1.3")
        return self._call("offer_seed", self.short, "1.7", data=False)

    def binlogs_cover(self, gtid_pos: str) -> Any:
        """True if this server's binlogs hold every transaction after ``gtid_pos``."""
        return self._call("binlogs_cover", self.short, "1.7", gtid_pos=gtid_pos)

    # ``term`` (1.13): the set's term; a guest holding a newer one refuses the
    # command (StaleTerm). None: not sent, as by an older caller.
    def fence(self, reason: str, replaced_by: str | None = None,
              term: int | None = None) -> None:
        """Cast (waits in the queue of a dead guest): read-only, no heartbeat."""
        version, extra = _termed("1.7", term)
        self._cast("fence", version, reason=reason, replaced_by=replaced_by, **extra)

    def open_source(self, term: int | None = None) -> None:
        """Cast: a source whose agent came back holding writes may take them again."""
        version, extra = _termed("1.7", term)
        self._cast("open_source", version, **extra)

    def demote_begin(self, term: int | None = None) -> Any:
        """Old source: heartbeat stopped, read_only; returns its final coordinates."""
        version, extra = _termed("1.3", term)
        return self._call("demote_begin", self.long, version, **extra)

    def demote_abort(self) -> Any:
        return self._call("demote_abort", self.short, "1.3")

    def wait_applied(self, coords: Any, seconds: float) -> Any:
        """Returns once this replica applied up to ``coords``; GuestError after ``seconds``."""
        return self._call("wait_applied", seconds + self.short, "1.3", coords=coords,
                          seconds=seconds)

    def promote_to_source(self, term: int | None = None) -> Any:
        """Stop replicating, become the source; returns where followers start."""
        version, extra = _termed("1.3", term)
        return self._call("promote_to_source", self.long, version, **extra)

    def take_over(self, coords: Any, seconds: float, term: int | None = None,
                  planned: bool = False) -> Any:
        """(1.13) Apply up to ``coords``, stop replicating, become the source, in
        one call; returns {coords: where followers start, phases: {step: s}}.
        ``planned``: the old source is read_only (writes open before replication
        stops)."""
        return self._call("take_over", seconds + self.long, "1.13", coords=coords,
                          seconds=seconds, term=term, planned=planned)

    def follow_source(self, host: str, port: int, coords: Any, strategy: str,
                      source_id: str | None = None, term: int | None = None) -> Any:
        version, extra = _termed("1.3", term)
        return self._call("follow_source", self.long, version, host=host, port=port,
                          coords=coords, strategy=strategy, source_id=source_id, **extra)

    def coords_after(self, gtid_pos: str) -> Any:
        """Binlog file/position on this server after the transaction ``gtid_pos``."""
        return self._call("coords_after", self.long, "1.3", gtid_pos=gtid_pos)

    def detach_replica(self) -> Any:
        return self._call("detach_replica", self.long, "1.3")

    def replication_status(self) -> Any:
        return self._call("replication_status", self.short, "1.3")

    # datastore logs (1.4)
    def guest_log_list(self) -> Any:
        """[{name, type, status, size, file_id, enabled}] of the instance's logs."""
        return self._call("guest_log_list", self.short, "1.4")

    def guest_log_enable(self, name: str, enable: bool) -> Any:
        """Turn a USER log on or off; BadRequest for a SYS log, NotFound for no log."""
        return self._call("guest_log_enable", self.short, "1.4", name=name, enable=enable)

    def guest_log_read(self, name: str, offset: int, limit: int,
                       file_id: str | None = None) -> Any:
        """Up to ``limit`` bytes of the log from ``offset`` (base64 in ``data``)."""
        return self._call("guest_log_read", self.short, "1.4", name=name, offset=offset,
                          limit=limit, file_id=file_id)

    # high availability (1.5)
    def set_durability(self, durability: str, timeout_ms: int,
                       fence_after: float | None = None) -> Any:
        """Semi-sync (``semisync``) or ``async`` for this member's replication role;
        ``fence_after``: seconds a semi-sync source without replicas keeps
        accepting writes before it fences itself (1.9)."""
        if fence_after is None:
            return self._call("set_durability", self.short, "1.5", durability=durability,
                              timeout_ms=timeout_ms)
        return self._call("set_durability", self.short, "1.9", durability=durability,
                          timeout_ms=timeout_ms, fence_after=fence_after)

    # failover and rejoin (1.9)
    def gtid_state(self) -> Any:
        """{gtid_binlog_state, gtid_binlog_pos, gtid_slave_pos, read_only}."""
        return self._call("gtid_state", self.short, "1.9")

    def ha_fence_soon(self, term: int | None = None) -> None:
        """The same, cast: a failover does not wait for a guest that may be dead."""
        self._cast("ha_fence", "1.9", term=term)

    def ha_reseed(self, replication: dict) -> Any:
        """A fenced former source discards its datadir and is seeded as a replica."""
        return self._call("ha_reseed", self.long, "1.9", replication=replication)

    def ha_fence(self, term: int | None = None) -> Any:
        """A source left behind by a failover stops writes for good; returns gtid_state."""
        return self._call("ha_fence", self.long, "1.9", term=term)

    # binlog archive (1.6)
    def start_binlog_archive(self, key: str) -> None:
        """Cast: hand the guest its instance's archive key (datastores/binlog.py
        archive_key, never the tenant's key) sealed to the public key its archiver
        reported (binlog.seal); it archives from then on."""
        self._cast("start_binlog_archive", "1.6", key=key)

    # online schema migrations (1.10)
    def start_schema_migration(self, migration: dict) -> Any:
        """Start ``migration`` ({id, database, table, alter, postpone_cut_over, tunables...})
        in the background; NotFound (no table), Conflict (one runs on the table) or
        BadRequest (the server refuses the ALTER) before anything starts."""
        return self._call("start_schema_migration", self.short, "1.10", migration=migration)

    def schema_migration_action(self, migration_id: str, action: str,
                                values: dict | None = None) -> Any:
        """``cut_over``, ``abort``, ``throttle``, ``unthrottle`` or ``set``; its report."""
        return self._call("schema_migration_action", self.short, "1.10",
                          migration_id=migration_id, action=action, values=values)

    def schema_migration_replica_lags(self, lags: dict[str, float | None]) -> None:
        """Cast: the replicas' lag {replica id: seconds or None}; a source's running
        migrations throttle on it (refreshed every few seconds: older than 30 s is
        unknown, which throttles)."""
        self._cast("schema_migration_replica_lags", "1.10", lags=lags)


def _termed(version: str, term: int | None) -> tuple[str, dict]:
    """(version, extra kwargs) of a command sent with the set's ``term``: 1.13
    and ``term=`` when given, the method's own version otherwise."""
    return (version, {}) if term is None else ("1.13", {"term": term})
