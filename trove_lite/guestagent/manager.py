"""The guest agent's RPC endpoints (topic ``guestagent.<instance id>``).

The manager translates RPC calls into calls on the datastore layer
(``datastore/mariadb``: MariaDBApp for the lifecycle, MariaDBAdmin for
databases/users/root) and reports status changes at once through the
heartbeat. Its own small state (prepared?, volume device, flavor, configuration
overrides) lives in ``GuestState`` so it survives an agent restart.
"""

import logging
import os
import shutil
import threading
import time

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

LOG = logging.getLogger(__name__)
PROGRESS_NOTIFY = 0.5   # seconds between heartbeats sent for a restore's progress
BLOCK_REUSE = 0.5     # seconds a replication block read for the status serves the beat


class GuestManager:
    # The RPC server sets ``target`` (oslo_messaging.Target(version=RPC_VERSION)):
    # this module stays free of oslo.messaging so the agent can start fast.
    RPC_VERSION = "1.13"

    def __init__(self, conf, instance_id, make_server, state, heartbeat, template_path):
        """``make_server(datadir)`` returns the MariaDBServer for a datadir."""
        self.conf = conf
        self.instance_id = instance_id
        self.make_server = make_server
        self.state = state
        self.heartbeat = heartbeat
        self.template_path = template_path
        self._lock = threading.RLock()
        self.restore_progress = None  # {"phase", "percent", ...} while restoring
        self._progress_notified = 0.0
        self._read_block = None  # (when, replication block) read by current_status
        self.early = None  # an EarlyPrepare running the injected request, if any
        self.server_dir = None  # local driver: where the injected request lies
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

    # -- helpers --------------------------------------------------------------
    def _app(self):
        st = self.state.read()
        mount = st.get("mount_point")
        datadir = os.path.join(mount, "data") if mount else None
        return mdb_app.MariaDBApp(self.make_server(datadir), self.template_path)

    def _datastore(self) -> datastores.Datastore:
        """The facts of this instance's datastore (its image's binaries name it)."""
        return datastores.get(self.make_server(None).binaries.datastore)

    def _archived_datadir(self):
        """The datadir whose binlog is archived: only a prepared instance's."""
        st = self.state.read()
        if not st.get("prepared") or not st.get("mount_point"):
            return None
        return os.path.join(st["mount_point"], "data")

    def _admin(self):
        return self._app().admin

    def current_status(self):
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

    def heartbeat_extra(self):
        """What the heartbeat carries besides the status: the replication block."""
        try:
            self.logs.maintain()  # rotate a log nobody publishes before it fills the volume
        except Exception:
            LOG.exception("rotating datastore logs failed")
        extra = {"restore_progress": self.restore_progress}
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

    def _replication_block(self):
        """The replication block: the one ``current_status`` read for this beat
        (a heartbeat reads the status, then its extra) if it is at most
        BLOCK_REUSE s old, else a new read; each read block is used once."""
        read, self._read_block = self._read_block, None
        if read is not None and time.monotonic() - read[0] <= BLOCK_REUSE and read[1]:
            return dict(read[1])
        return self.replication.status()

    def _set_restore_progress(self, progress):
        """Keep the latest progress for the heartbeat; send one at once on a new
        phase and at most every PROGRESS_NOTIFY s otherwise."""
        previous = self.restore_progress or {}
        self.restore_progress = progress
        now = time.monotonic()
        if previous.get("phase") != progress.get("phase") or \
                now - self._progress_notified >= PROGRESS_NOTIFY:
            self._progress_notified = now
            if self.heartbeat is not None:
                self.heartbeat.notify()

    def volume_used(self):
        mount = self.state.read().get("mount_point")
        if not mount or not os.path.isdir(mount):
            return None
        usage = shutil.disk_usage(mount)
        return round(usage.used / 1024 ** 3, 3)

    # -- lifecycle ------------------------------------------------------------
    def prepare(self, ctx, flavor, databases, users, root_password=None, overrides=None,
                backup=None, volume_device=None, replication=None):
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

    def ping(self, ctx):
        return "pong"

    def get_status(self, ctx):
        status, description = self.current_status()
        return {"service_status": status, "description": description}

    def restart(self, ctx):
        with self._lock:
            self._app().restart()
            self.state.update(restart_required=False)
            self.logs.after_restart()
        self.heartbeat.notify()

    def stop_db(self, ctx):
        with self._lock:
            self._app().stop()
        self.heartbeat.notify()

    def start_db(self, ctx):
        with self._lock:
            app = self._app()
            was_running = app.server.is_running()
            app.start()
            if not was_running:
                self.started_fresh()
        self.heartbeat.notify()

    def started_fresh(self):
        """mariadbd was started anew (start_db, or at boot): it read every option file,
        so no configuration change waits for a restart any more. Without this a
        reboot of a RESTART_REQUIRED instance kept reporting RESTART_REQUIRED and its
        reboot flow waited for a serving status until ``state_change_wait_time``."""
        self.state.update(restart_required=False)

    def update_flavor(self, ctx, flavor):
        with self._lock:
            self.state.update(flavor=flavor)
            text = mdb_config.render_config(self.template_path, flavor,
                                            server_id_of(self.instance_id))
            mdb_config.write_template_config(self._app().server, text)
            if (self.state.read().get("replication") or {}).get("role"):
                self.replication.write_role_config(flavor)

    def unmount_volume(self, ctx):
        with self._lock:
            st = self.state.read()
            volume_util.unmount(st.get("volume_device"), st.get("mount_point"))

    def mount_volume(self, ctx, volume_device):
        with self._lock:
            mount = volume_util.mount(volume_device, self.conf.guest.mount_point)
            self.state.update(mount_point=mount, volume_device=volume_device)

    def get_volume_info(self, ctx):
        mount = self.state.read().get("mount_point")
        if not mount:
            return {}
        usage = shutil.disk_usage(mount)
        return {"total": usage.total / 1024 ** 3, "used": usage.used / 1024 ** 3}

    # -- databases, users, root -------------------------------------------------
    def create_databases(self, ctx, databases):
        return self._admin().create_databases(databases)

    def list_databases(self, ctx, limit=None, marker=None):
        return self._admin().list_databases(limit=limit, marker=marker)

    def delete_database(self, ctx, name):
        return self._admin().delete_database(name)

    def create_users(self, ctx, users):
        return self._admin().create_users(users)

    def list_users(self, ctx, limit=None, marker=None):
        return self._admin().list_users(limit=limit, marker=marker)

    def get_user(self, ctx, name, host):
        return self._admin().get_user(name, host)

    def update_user(self, ctx, name, host, attrs):
        return self._admin().update_user(name, host, new_name=attrs.get("name"),
                                         new_host=attrs.get("host"),
                                         new_password=attrs.get("password"),
                                         new_password_hash=attrs.get("password_hash"))

    def delete_user(self, ctx, name, host):
        return self._admin().delete_user(name, host)

    def change_passwords(self, ctx, users):
        return self._admin().change_passwords(users)

    def grant_access(self, ctx, name, host, databases):
        return self._admin().grant_access(name, host, databases)

    def revoke_access(self, ctx, name, host, database):
        return self._admin().revoke_access(name, host, database)

    def list_access(self, ctx, name, host):
        return self._admin().list_access(name, host)

    def enable_root(self, ctx, password=None, password_hash=None):
        password = self._admin().enable_root(password, password_hash=password_hash)
        self.heartbeat.report_root("root")
        return {"name": "root", "password": password}

    def disable_root(self, ctx):
        return self._admin().disable_root()

    def is_root_enabled(self, ctx):
        return self._admin().is_root_enabled()

    # -- configuration --------------------------------------------------------
    def apply_configuration(self, ctx, values, dynamic, options=None):
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

    def detach_configuration(self, ctx, dynamic, options=None):
        """Remove the configuration group; dynamic values return to the defaults now."""
        with self._lock:
            needs_restart = self._app().detach_configuration(dynamic or (), options)
            self._after_configuration({}, needs_restart)
        self.heartbeat.notify()
        return {"restart_required": needs_restart}

    def _after_configuration(self, values, needs_restart):
        restart = needs_restart or bool(self.state.read().get("restart_required", False))
        self.state.update(overrides=values, restart_required=restart)

    def get_configuration(self, ctx, names):
        """{name: live @@global value} for the server variables ``names``."""
        return self._app().live_values(names or ())

    # -- backups --------------------------------------------------------------
    def create_backup(self, ctx, backup):
        """Start the backup in the background (see backup/agent.py); it reports
        through the conductor."""
        self.backups.start(dict(backup, **self.replication.backup_options()),
                           self._app().server)

    # -- binlog archive (1.6) ----------------------------------------------------
    def start_binlog_archive(self, ctx, key):
        """The instance's archive key sealed to the archiver's public key (opened
        and kept in memory only); archiving starts."""
        self.archiver.set_key(key)

    # -- upgrades (1.2) ---------------------------------------------------------
    def pre_upgrade(self, ctx, slow_shutdown=True):
        """Stop, save configuration and state on the volume, unmount (see upgrade.py)."""
        with self._lock:
            info = self.upgrades.pre_upgrade(slow_shutdown)
        self.heartbeat.notify()
        return info

    def post_upgrade(self, ctx, upgrade_info, volume_device=None):
        with self._lock:
            result = self.upgrades.post_upgrade(upgrade_info, volume_device)
        self.heartbeat.notify()
        return result

    def rollback_upgrade(self, ctx, upgrade_info, volume_device=None):
        with self._lock:
            return self.upgrades.rollback_upgrade(upgrade_info, volume_device)

    def finish_upgrade(self, ctx):
        with self._lock:
            self.upgrades.finish_upgrade()

    # -- replication (1.3) ------------------------------------------------------
    def _flavor(self):
        return self.state.read().get("flavor") or {}

    def enable_as_source(self, ctx, strategy):
        with self._lock:
            self.replication.enable_source(strategy, self._flavor())
        self.heartbeat.notify()

    def offer_seed(self, ctx, data=True):
        """{host, port, token} of a one-connection seed stream (see replication.py);
        ``data`` False (1.7): the stream carries the account's password only (a
        replica seeded from a stored backup)."""
        return self.replication.offer_seed(data)

    def binlogs_cover(self, ctx, gtid_pos):
        """(1.7) Whether this server's binlogs still hold every transaction after
        ``gtid_pos`` (a replica seeded from a backup catches up from them)."""
        return self.replication.binlogs_cover(gtid_pos)

    def fence(self, ctx, reason, replaced_by=None, term=None):
        """(1.7) Ejected from its set: stay read-only, write no heartbeat.
        ``term`` (1.13, here and in every role change below): refused
        (StaleTerm) when older than the term this server holds."""
        with self._lock:
            self.replication.fence(reason, replaced_by, term)
        self.heartbeat.notify()

    def open_source(self, ctx, term=None):
        """(1.7) A source that came back and is still the set's source: writable."""
        with self._lock:
            self.replication.open_source(self._flavor(), term)
        self.heartbeat.notify()

    def demote_begin(self, ctx, term=None):
        with self._lock:
            return self.replication.demote_begin(term)

    def demote_abort(self, ctx):
        with self._lock:
            self.replication.demote_abort()

    def wait_applied(self, ctx, coords, seconds):
        self.replication.wait_applied(coords, seconds)

    def promote_to_source(self, ctx, term=None):
        with self._lock:
            coords = self.replication.promote(self._flavor(), term)
        self.heartbeat.notify()
        return coords

    def take_over(self, ctx, coords, seconds, term=None, planned=False):
        """(1.13) Switchover/failover on the chosen replica in one call: apply up to
        ``coords``, stop replicating, open for writes; {coords, phases}."""
        with self._lock:
            out = self.replication.take_over(coords, seconds, self._flavor(), term, planned)
        if planned:     # the option file after the answer: off the write path
            threading.Thread(target=self._write_role_config, name="role-config",
                             daemon=True).start()
        self.heartbeat.notify()
        return out

    def _write_role_config(self):
        with self._lock:
            self.replication.write_role_config(self._flavor())

    def follow_source(self, ctx, host, port, coords, strategy, source_id=None, term=None):
        with self._lock:
            self.replication.follow(host, port, coords, strategy, self._flavor(), source_id,
                                    term)
        self.heartbeat.notify()

    def coords_after(self, ctx, gtid_pos):
        return self.replication.coords_after(gtid_pos)

    def detach_replica(self, ctx):
        with self._lock:
            self.replication.detach(self._flavor())
        self.heartbeat.notify()

    def replication_status(self, ctx):
        return self.replication.status()

    # -- datastore logs (1.4) -----------------------------------------------------
    def guest_log_list(self, ctx):
        """[{name, type, status, size, file_id, enabled}] (see guestagent/logs.py)."""
        return self.logs.list()

    def guest_log_enable(self, ctx, name, enable):
        with self._lock:
            return self.logs.set_enabled(name, enable)

    def guest_log_read(self, ctx, name, offset, limit, file_id=None):
        return self.logs.read(name, offset, limit, file_id)

    # -- high availability (1.5) --------------------------------------------------
    def set_durability(self, ctx, durability, timeout_ms, fence_after=None):
        with self._lock:
            if fence_after is not None:
                self.replication._set(fence_after=float(fence_after))
            self.replication.set_durability(durability, timeout_ms, self._flavor())
        self.heartbeat.notify()

    # -- failover and rejoin (1.9) ------------------------------------------------
    def gtid_state(self, ctx) -> dict:
        """{gtid_binlog_state, gtid_binlog_pos, gtid_slave_pos, read_only} of the server."""
        rows = self.replication._execute(
            "SELECT @@GLOBAL.gtid_binlog_state, @@GLOBAL.gtid_binlog_pos, "
            "@@GLOBAL.gtid_slave_pos, @@GLOBAL.read_only")
        state, pos, slave_pos, read_only = rows[0]
        return {"gtid_binlog_state": state, "gtid_binlog_pos": pos,
                "gtid_slave_pos": slave_pos, "read_only": bool(read_only)}

    def ha_fence(self, ctx, term: int | None = None) -> dict:
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

    def ha_reseed(self, ctx, replication: dict) -> None:
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
    def start_schema_migration(self, ctx, migration):
        """Check the table and the ALTER, start the migration in the background and
        return its first report (see guestagent/schema_migrations.py)."""
        return self.schema_migrations.start(migration)

    def schema_migration_action(self, ctx, migration_id, action, values=None):
        return self.schema_migrations.action(migration_id, action, values)

    def schema_migration_replica_lags(self, ctx, lags):
        """Cast from the taskmanager on a replication source: {replica id: lag s}."""
        self.schema_migrations.report_replica_lags(lags or {})
