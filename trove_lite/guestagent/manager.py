"""The guest agent's RPC endpoints (topic ``guestagent.<instance id>``).

The manager translates RPC calls into calls on the datastore layer
(``datastore/mariadb``: MariaDBApp for the lifecycle, MariaDBAdmin for
databases/users/root) and reports status changes at once through the
heartbeat. Its own small state (prepared?, volume device, flavor, configuration
overrides) lives in ``GuestState`` so it survives an agent restart.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from trove_lite import datastores
from trove_lite.guestagent import binlog_archive
from trove_lite.guestagent import upgrade as upgrade_agent
from trove_lite.guestagent import early as early_mod
from trove_lite.drivers import storage as storage_drivers
from trove_lite.guestagent import logs as guest_logs
from trove_lite.guestagent import pitr_replay
from trove_lite.guestagent import schema_migrations as guest_osc
from trove_lite.guestagent import volume as volume_util
from trove_lite.guestagent.backup import agent as backup_agent
from trove_lite.guestagent import datastore as guest_datastore
from trove_lite.guestagent.datastore.mariadb import app as mdb_app
from trove_lite.guestagent.datastore.mariadb import config as mdb_config
from trove_lite.guestagent.datastore.mariadb import fence as mdb_fence
from trove_lite.guestagent.datastore.mariadb import replication as mdb_replication
from trove_lite.guestagent.state import (  # noqa: F401 (GuestState re-exported)
    GuestState, failure_text, server_id_of)
from trove_lite.status import ServiceStatus

if TYPE_CHECKING:
    from oslo_config import cfg

    from trove_lite.guestagent.datastore.mariadb.admin import MariaDBAdmin
    from trove_lite.guestagent.datastore.mariadb.server import MariaDBServer
    from trove_lite.guestagent.heartbeat import Heartbeat

LOG = logging.getLogger(__name__)
PROGRESS_NOTIFY = 0.5   # seconds between heartbeats sent for a restore's progress
BLOCK_REUSE = 0.5     # seconds a replication block read for the status serves the beat


class GuestManager:
    # The RPC server sets ``target`` (oslo_messaging.Target(version=RPC_VERSION)):
    # this module stays free of oslo.messaging so the agent can start fast.
    RPC_VERSION = "1.13"

    def __init__(self, conf: cfg.ConfigOpts, instance_id: str,
                 make_server: Callable[[str | None], MariaDBServer], state: GuestState,
                 heartbeat: Heartbeat | None, template_path: str) -> None:
        """``make_server(datadir)`` returns the MariaDBServer for a datadir;
        ``heartbeat`` may be set after construction, before the agent serves."""
        self.conf = conf
        self.instance_id = instance_id
        self.make_server = make_server
        self.state = state
        self._heartbeat = heartbeat
        self.template_path = template_path
        self._lock = threading.RLock()
        # {"phase", "percent", ...} while restoring
        self.restore_progress: dict[str, Any] | None = None
        self._progress_notified = 0.0
        # (when, replication block) read by current_status
        self._read_block: tuple[float, dict[str, Any]] | None = None
        # an EarlyPrepare running the injected request, if any
        self.early: early_mod.EarlyPrepare | None = None
        self.server_dir: str | None = None  # local driver: where the injected request lies
        self.backups = backup_agent.BackupAgent(conf, instance_id, state,
                                                lambda: self.heartbeat.conductor,
                                                lambda: self.heartbeat.notify())
        self.upgrades = upgrade_agent.UpgradeAgent(self.state, self._app,
                                                   conf.guest.mount_point,
                                                   lambda: self.heartbeat.notify())

        self.archiver = binlog_archive.BinlogArchiver(
            instance_id, state, self._archived_datadir, self.backups.storage,
            lambda: self.heartbeat.conductor, conf.backup_storage.container,
            interval=conf.backup.archive_interval,
            max_segment=conf.backup.archive_segment_mb << 20,
            enabled=conf.backup.archive_binlog and self._datastore().binlog_archive)
        self.replication = guest_datastore.replication_class(self._datastore().name)(
            self._app, state, os.path.dirname(template_path),
            lambda: self._app().server.bind_address)
        self.replication.resume(self._flavor())
        self.guard = mdb_fence.SourceGuard(self.replication)
        if self._datastore().semisync:
            self.guard.start()      # it fences semi-sync sources only
        self.logs = guest_logs.GuestLogs(
            self._app, state, lambda: self.state.read().get("mount_point"),
            lambda: os.path.join(self.server_dir, "guest.log") if self.server_dir else None,
            conf.logs.max_size, conf.logs.keep)
        self.schema_migrations = guest_osc.SchemaMigrations(
            lambda: self._app().server, state, lambda: self.heartbeat.notify(),
            os.path.dirname(os.path.abspath(state.path)), instance_id)

    @property
    def heartbeat(self) -> Heartbeat:
        if self._heartbeat is None:
            raise RuntimeError("the agent's heartbeat is not set yet")
        return self._heartbeat

    @heartbeat.setter
    def heartbeat(self, heartbeat: Heartbeat) -> None:
        self._heartbeat = heartbeat

    # -- helpers --------------------------------------------------------------
    def _app(self) -> mdb_app.MariaDBApp:
        st = self.state.read()
        mount = st.get("mount_point")
        datadir = os.path.join(mount, "data") if mount else None
        return mdb_app.MariaDBApp(self.make_server(datadir), self.template_path)

    def _datastore(self) -> datastores.Datastore:
        """The facts of this instance's datastore (its image's binaries name it)."""
        return datastores.get(self.make_server(None).binaries.datastore)

    def _archived_datadir(self) -> str | None:
        """The datadir whose binlog is archived: only a prepared instance's."""
        st = self.state.read()
        if not st.get("prepared") or not st.get("mount_point"):
            return None
        return os.path.join(st["mount_point"], "data")

    def _admin(self) -> MariaDBAdmin:
        return self._app().admin

    def current_status(self) -> tuple[str, str | None]:
        st = self.state.read()
        if st.get("prepare_failed"):
            return ServiceStatus.FAILED, st["prepare_failed"]
        if not st.get("prepared"):
            return (ServiceStatus.BUILDING if st.get("preparing")
                    else ServiceStatus.NEW), None
        status = self._app().status()
        if status in ServiceStatus.SERVING and st.get("restart_required"):
            return ServiceStatus.RESTART_REQUIRED, "configuration changes need a restart"
        role = (st.get("replication") or {}).get("role")
        if status in ServiceStatus.SERVING and role == "fenced":
            return ServiceStatus.BLOCKED, "fenced (read-only): %s" % (
                st["replication"].get("fenced_reason") or "ejected from its set")
        if status in ServiceStatus.SERVING and role:
            repl = self.replication.status() or {}
            self._read_block = (time.monotonic(), repl)
            if repl.get("broken"):
                return ServiceStatus.BLOCKED, repl["broken_reason"]
        return status, None

    def heartbeat_extra(self) -> dict[str, Any]:
        """What the heartbeat carries besides the status: the replication block."""
        try:
            self.logs.maintain()  # rotate a log nobody publishes before it fills the volume
        except Exception:
            LOG.exception("rotating datastore logs failed")
        extra: dict[str, Any] = {"restore_progress": self.restore_progress}
        try:
            self.schema_migrations.recover()  # settles what a previous agent left unfinished
            migrations = self.schema_migrations.report()
            if migrations:
                extra["schema_migrations"] = migrations
        except Exception:
            LOG.exception("reporting schema migrations failed")
        replication = self.state.read().get("replication")
        if (replication or {}).get("role"):
            block = self._replication_block()
            if block is not None:
                block["fenced"] = self.guard.fenced or block.get("role") in (
                    "demoting", "fenced")
            extra["replication"] = block
        elif replication:
            extra["replication"] = None  # a member that left its set shows no stale block
        return extra

    def _replication_block(self) -> dict[str, Any] | None:
        """The replication block: the one ``current_status`` read for this beat
        (a heartbeat reads the status, then its extra) if it is at most
        BLOCK_REUSE s old, else a new read; each read block is used once."""
        read, self._read_block = self._read_block, None
        if read is not None and time.monotonic() - read[0] <= BLOCK_REUSE and read[1]:
            return dict(read[1])
        return self.replication.status()

    def _set_restore_progress(self, progress: dict[str, Any]) -> None:
        """Keep the latest progress for the heartbeat; send one at once on a new
        phase and at most every PROGRESS_NOTIFY s otherwise."""
        previous = self.restore_progress or {}
        self.restore_progress = progress
        now = time.monotonic()
        if previous.get("phase") != progress.get("phase") or \
                now - self._progress_notified >= PROGRESS_NOTIFY:
            self._progress_notified = now
            if self._heartbeat is not None:
                self._heartbeat.notify()

    def volume_used(self) -> float | None:
        mount = self.state.read().get("mount_point")
        if not mount or not os.path.isdir(mount):
            return None
        usage = shutil.disk_usage(mount)
        return round(usage.used / 1024 ** 3, 3)

    # -- lifecycle ------------------------------------------------------------
    def prepare(self, ctx: dict, flavor: dict[str, Any], databases: list[Any],
                users: list[Any], root_password: str | None = None,
                overrides: dict[str, Any] | None = None, backup: dict[str, Any] | None = None,
                volume_device: str | None = None,
                replication: dict[str, Any] | None = None) -> None:
        if self.early is not None:
            self.early.wait()
        with self._lock:
            st = self.state.read()
            if st.get("prepared") or st.get("prepare_failed"):
                # the injected request and the cast carry the same prepare: run once
                LOG.info("prepare: already %s; reporting status again",
                         "done" if st.get("prepared") else "failed")
                self.heartbeat.notify()
                return
            self.state.update(preparing=True, prepare_failed=None, flavor=flavor,
                              overrides=overrides or {})
            self.heartbeat.notify()
            try:
                mount = volume_util.mount(volume_device, self.conf.guest.mount_point)
                self.state.update(mount_point=mount, volume_device=volume_device)
                app = self._app()
                if backup:
                    self.restore_progress = {"phase": "restoring backup", "percent": 0.0}
                    backup_agent.restore(self.conf, backup, app.server,
                                         progress=self._set_restore_progress)
                if replication:
                    # a replica: the source's data, users and databases come seeded
                    self.replication.before_prepare(replication, flavor)
                    databases, users, root_password = [], [], None
                result = app.prepare(flavor=flavor, server_id=server_id_of(self.instance_id),
                                     databases=databases, users=users,
                                     root_password=root_password,
                                     enable_root=bool(root_password),
                                     config_overrides=overrides or {})
                if replication:
                    self.replication.start_replica(flavor)
                if backup and backup.get("pitr"):
                    replay = dict(backup["pitr"])
                    if "sealed_key" in replay:
                        replay["key"] = self.archiver.open_sealed(replay.pop("sealed_key"))
                    pitr_replay.run(replay, app.server,
                                    storage_drivers.get_storage(self.conf),
                                    os.path.join(mount, "pitr-replay"),
                                    progress=self._set_restore_progress)
            except Exception as e:
                LOG.exception("prepare failed")
                self.state.update(preparing=False, prepare_failed=failure_text(e))
                self.heartbeat.notify()
                return
            finally:
                early_mod.remove_request(self.server_dir)
                self.restore_progress = None
            self.state.update(preparing=False, prepared=True)
            if root_password:
                self.heartbeat.report_root("root")
            LOG.info("prepare finished: %s", {k: v for k, v in (result or {}).items()
                                              if "password" not in k})
            self.heartbeat.notify()

    def ping(self, ctx: dict) -> str:
        return "pong"

    def get_status(self, ctx: dict) -> dict[str, Any]:
        status, description = self.current_status()
        return {"service_status": status, "description": description}

    def restart(self, ctx: dict) -> None:
        with self._lock:
            self._app().restart()
            self.state.update(restart_required=False)
            self.logs.after_restart()
        self.heartbeat.notify()

    def stop_db(self, ctx: dict) -> None:
        with self._lock:
            self._app().stop()
        self.heartbeat.notify()

    def start_db(self, ctx: dict) -> None:
        with self._lock:
            app = self._app()
            was_running = app.server.is_running()
            app.start()
            if not was_running:
                self.started_fresh()
        self.heartbeat.notify()

    def started_fresh(self) -> None:
        """mariadbd was started anew (start_db, or at boot): it read every option file,
        so no configuration change waits for a restart any more. Without this a
        reboot of a RESTART_REQUIRED instance kept reporting RESTART_REQUIRED and its
        reboot flow waited for a serving status until ``state_change_wait_time``."""
        self.state.update(restart_required=False)

    def update_flavor(self, ctx: dict, flavor: dict[str, Any]) -> None:
        with self._lock:
            self.state.update(flavor=flavor)
            text = mdb_config.render_config(self.template_path, flavor,
                                            server_id_of(self.instance_id))
            mdb_config.write_template_config(self._app().server, text)
            if (self.state.read().get("replication") or {}).get("role"):
                self.replication.write_role_config(flavor)

    def unmount_volume(self, ctx: dict) -> None:
        with self._lock:
            st = self.state.read()
            volume_util.unmount(st.get("volume_device"), st.get("mount_point"))

    def mount_volume(self, ctx: dict, volume_device: str | None) -> None:
        with self._lock:
            mount = volume_util.mount(volume_device, self.conf.guest.mount_point)
            self.state.update(mount_point=mount, volume_device=volume_device)

    def get_volume_info(self, ctx: dict) -> dict[str, float]:
        mount = self.state.read().get("mount_point")
        if not mount:
            return {}
        usage = shutil.disk_usage(mount)
        return {"total": usage.total / 1024 ** 3, "used": usage.used / 1024 ** 3}

    # -- databases, users, root -------------------------------------------------
    def create_databases(self, ctx: dict, databases: list[Any]) -> list[str]:
        return self._admin().create_databases(databases)

    def list_databases(self, ctx: dict, limit: Any = None,
                       marker: str | None = None) -> tuple[list[dict[str, Any]], Any]:
        return self._admin().list_databases(limit=limit, marker=marker)

    def delete_database(self, ctx: dict, name: str) -> None:
        return self._admin().delete_database(name)

    def create_users(self, ctx: dict, users: list[Any]) -> list[str]:
        return self._admin().create_users(users)

    def list_users(self, ctx: dict, limit: Any = None,
                   marker: str | None = None) -> tuple[list[dict[str, Any]], Any]:
        return self._admin().list_users(limit=limit, marker=marker)

    def get_user(self, ctx: dict, name: str, host: str) -> dict[str, Any]:
        return self._admin().get_user(name, host)

    def update_user(self, ctx: dict, name: str, host: str,
                    attrs: dict[str, Any]) -> dict[str, str]:
        return self._admin().update_user(name, host, new_name=attrs.get("name"),
                                         new_host=attrs.get("host"),
                                         new_password=attrs.get("password"),
                                         new_password_hash=attrs.get("password_hash"))

    def delete_user(self, ctx: dict, name: str, host: str) -> None:
        return self._admin().delete_user(name, host)

    def change_passwords(self, ctx: dict, users: list[dict[str, Any]]) -> None:
        return self._admin().change_passwords(users)

    def grant_access(self, ctx: dict, name: str, host: str, databases: list[Any]) -> None:
        return self._admin().grant_access(name, host, databases)

    def revoke_access(self, ctx: dict, name: str, host: str, database: str) -> None:
        return self._admin().revoke_access(name, host, database)

    def list_access(self, ctx: dict, name: str, host: str) -> list[dict[str, str]]:
        return self._admin().list_access(name, host)

    def enable_root(self, ctx: dict, password: str | None = None,
                    password_hash: str | None = None) -> dict[str, Any]:
        password = self._admin().enable_root(password, password_hash=password_hash)
        self.heartbeat.report_root("root")
        return {"name": "root", "password": password}

    def disable_root(self, ctx: dict) -> bool:
        return self._admin().disable_root()

    def is_root_enabled(self, ctx: dict) -> bool:
        return self._admin().is_root_enabled()

    # -- configuration --------------------------------------------------------
    def apply_configuration(self, ctx: dict, values: dict[str, Any] | None,
                            dynamic: list[str] | None,
                            options: dict[str, str] | None = None) -> dict[str, bool]:
        """Attach (or replace) the configuration group ``values``.

        ``dynamic``: variables that SET GLOBAL changes (may include variables of
        the previous group: they return to the defaults); ``options``:
        {variable: option-file name} where they differ. All or nothing: a value
        the server refuses raises InvalidConfigurationValue and changes nothing.
        Returns {"restart_required": bool} (the instance then reports
        RESTART_REQUIRED until it restarts).
        """
        with self._lock:
            needs_restart = self._app().attach_configuration(values or {}, dynamic or (),
                                                             options)
            self._after_configuration(values or {}, needs_restart)
        LOG.info("configuration group applied: %s (restart needed: %s)", sorted(values or {}),
                 needs_restart)
        self.heartbeat.notify()
        return {"restart_required": needs_restart}

    def detach_configuration(self, ctx: dict, dynamic: list[str] | None,
                             options: dict[str, str] | None = None) -> dict[str, bool]:
        """Remove the configuration group; dynamic values return to the defaults now."""
        with self._lock:
            needs_restart = self._app().detach_configuration(dynamic or (), options)
            self._after_configuration({}, needs_restart)
        self.heartbeat.notify()
        return {"restart_required": needs_restart}

    def _after_configuration(self, values: dict[str, Any], needs_restart: bool) -> None:
        restart = needs_restart or bool(self.state.read().get("restart_required", False))
        self.state.update(overrides=values, restart_required=restart)

    def get_configuration(self, ctx: dict, names: list[str] | None) -> dict[str, Any]:
        """{name: live @@global value} for the server variables ``names``."""
        return self._app().live_values(names or ())

    # -- backups --------------------------------------------------------------
    def create_backup(self, ctx: dict, backup: dict[str, Any]) -> None:
        """Start the backup in the background (see backup/agent.py); it reports
        through the conductor."""
        self.backups.start(dict(backup, **self.replication.backup_options()),
                           self._app().server)

    # -- binlog archive (1.6) ----------------------------------------------------
    def start_binlog_archive(self, ctx: dict, key: str) -> None:
        """The instance's archive key sealed to the archiver's public key (opened
        and kept in memory only); archiving starts."""
        self.archiver.set_key(key)

    # -- upgrades (1.2) ---------------------------------------------------------
    def pre_upgrade(self, ctx: dict, slow_shutdown: bool=True) -> dict[str, Any]:
        """Stop, save configuration and state on the volume, unmount (see upgrade.py)."""
        with self._lock:
            info = self.upgrades.pre_upgrade(slow_shutdown)
        self.heartbeat.notify()
        return info

    def post_upgrade(self, ctx: dict, upgrade_info: dict[str, Any] | None,
                     volume_device: str | None = None) -> dict[str, Any]:
        with self._lock:
            result = self.upgrades.post_upgrade(upgrade_info, volume_device)
        self.heartbeat.notify()
        return result

    def rollback_upgrade(self, ctx: dict, upgrade_info: dict[str, Any] | None,
                         volume_device: str | None = None) -> dict[str, Any]:
        with self._lock:
            return self.upgrades.rollback_upgrade(upgrade_info, volume_device)

    def finish_upgrade(self, ctx: dict) -> None:
        with self._lock:
            self.upgrades.finish_upgrade()

    # -- replication (1.3) ------------------------------------------------------
    def _flavor(self) -> dict[str, Any]:
        return self.state.read().get("flavor") or {}

    def enable_as_source(self, ctx: dict, strategy: str) -> None:
        with self._lock:
            self.replication.enable_source(strategy, self._flavor())
        self.heartbeat.notify()

    def offer_seed(self, ctx: dict, data: bool=True) -> dict[str, Any]:
        """{host, port, token} of a one-connection seed stream (see replication.py);
        ``data`` False (1.7): the stream carries the account's password only (a
        replica seeded from a stored backup)."""
        return self.replication.offer_seed(data)

    def binlogs_cover(self, ctx: dict, gtid_pos: str | None) -> bool:
        """(1.7) Whether this server's binlogs still hold every transaction after
        ``gtid_pos`` (a replica seeded from a backup catches up from them)."""
        return self.replication.binlogs_cover(gtid_pos)

    def fence(self, ctx: dict, reason: str, replaced_by: str | None = None,
              term: int | None = None) -> None:
        """(1.7) Ejected from its set: stay read-only, write no heartbeat.
        ``term`` (1.13, here and in every role change below): refused
        (StaleTerm) when older than the term this server holds."""
        with self._lock:
            self.replication.fence(reason, replaced_by, term)
        self.heartbeat.notify()

    def open_source(self, ctx: dict, term: int | None = None) -> None:
        """(1.7) A source that came back and is still the set's source: writable."""
        with self._lock:
            self.replication.open_source(self._flavor(), term)
        self.heartbeat.notify()

    def demote_begin(self, ctx: dict, term: int | None = None) -> dict[str, Any]:
        with self._lock:
            return self.replication.demote_begin(term)

    def demote_abort(self, ctx: dict) -> None:
        with self._lock:
            self.replication.demote_abort()

    def wait_applied(self, ctx: dict, coords: dict[str, Any], seconds: float) -> None:
        self.replication.wait_applied(coords, seconds)

    def promote_to_source(self, ctx: dict, term: int | None = None) -> dict[str, Any]:
        with self._lock:
            coords = self.replication.promote(self._flavor(), term)
        self.heartbeat.notify()
        return coords

    def take_over(self, ctx: dict, coords: dict[str, Any], seconds: float,
                  term: int | None = None, planned: bool=False) -> dict[str, Any]:
        """(1.13) Switchover/failover on the chosen replica in one call: apply up to
        ``coords``, stop replicating, open for writes; {coords, phases}."""
        with self._lock:
            out = self.replication.take_over(coords, seconds, self._flavor(), term, planned)
        if planned:     # the option file after the answer: off the write path
            threading.Thread(target=self._write_role_config, name="role-config",
                             daemon=True).start()
        self.heartbeat.notify()
        return out

    def _write_role_config(self) -> None:
        with self._lock:
            self.replication.write_role_config(self._flavor())

    def follow_source(self, ctx: dict, host: str, port: int, coords: dict[str, Any],
                      strategy: str, source_id: str | None = None,
                      term: int | None = None) -> None:
        with self._lock:
            self.replication.follow(host, port, coords, strategy, self._flavor(), source_id,
                                    term)
        self.heartbeat.notify()

    def coords_after(self, ctx: dict, gtid_pos: str | None) -> dict[str, Any]:
        return self.replication.coords_after(gtid_pos)

    def detach_replica(self, ctx: dict) -> None:
        with self._lock:
            self.replication.detach(self._flavor())
        self.heartbeat.notify()

    def replication_status(self, ctx: dict) -> dict[str, Any] | None:
        return self.replication.status()

    # -- datastore logs (1.4) -----------------------------------------------------
    def guest_log_list(self, ctx: dict) -> list[dict[str, Any]]:
        """[{name, type, status, size, file_id, enabled}] (see guestagent/logs.py)."""
        return self.logs.list()

    def guest_log_enable(self, ctx: dict, name: str, enable: bool) -> dict[str, Any]:
        with self._lock:
            return self.logs.set_enabled(name, enable)

    def guest_log_read(self, ctx: dict, name: str, offset: int, limit: int,
                       file_id: str | None = None) -> dict[str, Any]:
        return self.logs.read(name, offset, limit, file_id)

    # -- high availability (1.5) --------------------------------------------------
    def set_durability(self, ctx: dict, durability: str, timeout_ms: int,
                       fence_after: float | None = None) -> None:
        with self._lock:
            if fence_after is not None:
                self.replication._set(fence_after=float(fence_after))
            self.replication.set_durability(durability, timeout_ms, self._flavor())
        self.heartbeat.notify()

    # -- failover and rejoin (1.9) ------------------------------------------------
    def gtid_state(self, ctx: dict) -> dict:
        """{gtid_binlog_state, gtid_binlog_pos, gtid_slave_pos, read_only} of the server."""
        rows = self.replication._execute(
            "SELECT @@GLOBAL.gtid_binlog_state, @@GLOBAL.gtid_binlog_pos, "
            "@@GLOBAL.gtid_slave_pos, @@GLOBAL.read_only")
        state, pos, slave_pos, read_only = rows[0]
        return {"gtid_binlog_state": state, "gtid_binlog_pos": pos,
                "gtid_slave_pos": slave_pos, "read_only": bool(read_only)}

    def ha_fence(self, ctx: dict, term: int | None = None) -> dict:
        """A failover left this source behind: stop writes for good (sessions
        waiting for an ack cut, read_only, heartbeat writer stopped, role
        ``demoting`` until the control plane makes it follow the new source).
        One the eject fenced already (role ``fenced``: read_only across
        restarts) keeps that role; the rejoin proceeds from it the same way.
        Returns its ``gtid_state`` for the errant-transaction check."""
        with self._lock:
            self.replication.accept_term(term, "ha_fence")
            role = self.replication.info.get("role")
            if role in mdb_replication.FORMER_SOURCE_ROLES:
                self.replication.stop_heartbeat()
                self.guard.fence()
                self.replication._set(role="fenced" if role == "fenced" else "demoting")
        self.heartbeat.notify()
        return self.gtid_state(ctx)

    def ha_reseed(self, ctx: dict, replication: dict) -> None:
        """Rebuild a fenced former source as a replica from a fresh seed of the
        set's source (``replication``: what a replica's prepare gets): its
        datadir, with the transactions the set never got, is discarded."""
        with self._lock:
            if self.replication.info.get("role") not in mdb_replication.FORMER_SOURCE_ROLES:
                raise mdb_replication.ReplicationError(
                    reason="only a fenced former source is re-seeded in place")
            app = self._app()
            app.stop()
            mdb_replication.empty_datadir(app.server.datadir)
            self.replication.before_prepare(replication, self._flavor())
            app.start()
            self.replication.start_replica(self._flavor())
        self.heartbeat.notify()

    # -- online schema migrations (1.10) ------------------------------------------
    def start_schema_migration(self, ctx: dict, migration: dict[str, Any]) -> dict[str, Any]:
        """Check the table and the ALTER, start the migration in the background and
        return its first report (see guestagent/schema_migrations.py)."""
        return self.schema_migrations.start(migration)

    def schema_migration_action(self, ctx: dict, migration_id: str, action: str,
                                values: dict | None = None) -> dict[str, Any]:
        return self.schema_migrations.action(migration_id, action, values)

    def schema_migration_replica_lags(self, ctx: dict, lags: dict | None) -> None:
        """Cast from the taskmanager on a replication source: {replica id: lag s}."""
        self.schema_migrations.report_replica_lags(lags or {})
