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

from trove_lite.guestagent import upgrade as upgrade_agent
from trove_lite.guestagent import early as early_mod
from trove_lite.guestagent import logs as guest_logs
from trove_lite.guestagent import volume as volume_util
from trove_lite.guestagent.backup import agent as backup_agent
from trove_lite.guestagent.datastore.mariadb import admin as mdb_admin
from trove_lite.guestagent.datastore.mariadb import app as mdb_app
from trove_lite.guestagent.datastore.mariadb import config as mdb_config
from trove_lite.guestagent.datastore.mariadb import replication as mdb_replication
from trove_lite.guestagent.state import (  # noqa: F401 (GuestState re-exported)
    GuestState, failure_text, server_id_of)
from trove_lite.status import ServiceStatus

LOG = logging.getLogger(__name__)


class GuestManager:
    # The RPC server sets ``target`` (oslo_messaging.Target(version=RPC_VERSION)):
    # this module stays free of oslo.messaging so the agent can start fast.
    RPC_VERSION = "1.5"

    def __init__(self, conf, instance_id, make_server, state, heartbeat, template_path):
        """``make_server(datadir)`` returns the MariaDBServer for a datadir."""
        self.conf = conf
        self.instance_id = instance_id
        self.make_server = make_server
        self.state = state
        self.heartbeat = heartbeat
        self.template_path = template_path
        self._lock = threading.RLock()
        self.early = None  # an EarlyPrepare running the injected request, if any
        self.server_dir = None  # local driver: where the injected request lies
        self.backups = backup_agent.BackupAgent(conf, instance_id, state,
                                                lambda: self.heartbeat.conductor,
                                                lambda: self.heartbeat.notify())
        self.upgrades = upgrade_agent.UpgradeAgent(self.state, self._app,
                                                   conf.guest.mount_point,
                                                   lambda: self.heartbeat.notify())

        self.replication = mdb_replication.Replication(
            self._app, state, os.path.dirname(template_path),
            lambda: self._app().server.bind_address)
        self.replication.resume()
        self.logs = guest_logs.GuestLogs(
            self._app, state, lambda: self.state.read().get("mount_point"),
            lambda: os.path.join(self.server_dir, "guest.log") if self.server_dir else None,
            conf.logs.max_size, conf.logs.keep)

    # -- helpers --------------------------------------------------------------
    def _app(self):
        st = self.state.read()
        mount = st.get("mount_point")
        datadir = os.path.join(mount, "data") if mount else None
        return mdb_app.MariaDBApp(self.make_server(datadir), self.template_path)

    def _admin(self):
        app = self._app()
        return mdb_admin.MariaDBAdmin(app.server.connect)

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
        if status in ServiceStatus.SERVING and (st.get("replication") or {}).get("role"):
            repl = self.replication.status() or {}
            if repl.get("broken"):
                return ServiceStatus.BLOCKED, repl["broken_reason"]
        return status, None

    def heartbeat_extra(self):
        """What the heartbeat carries besides the status: the replication block."""
        try:
            self.logs.maintain()  # rotate a log nobody publishes before it fills the volume
        except Exception:
            LOG.exception("rotating datastore logs failed")
        if not (self.state.read().get("replication") or {}).get("role"):
            return {}
        return {"replication": self.replication.status()}

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
                    backup_agent.restore(self.conf, backup, app.server)
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
            except Exception as e:
                LOG.exception("prepare failed")
                self.state.update(preparing=False, prepare_failed=failure_text(e))
                self.heartbeat.notify()
                return
            finally:
                early_mod.remove_request(self.server_dir)
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
        self.backups.start(backup, self._app().server)

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

    def offer_seed(self, ctx):
        """{host, port, token} of a one-connection seed stream (see replication.py)."""
        return self.replication.offer_seed()

    def demote_begin(self, ctx):
        with self._lock:
            return self.replication.demote_begin()

    def demote_abort(self, ctx):
        with self._lock:
            self.replication.demote_abort()

    def wait_applied(self, ctx, coords, seconds):
        self.replication.wait_applied(coords, seconds)

    def promote_to_source(self, ctx):
        with self._lock:
            coords = self.replication.promote(self._flavor())
        self.heartbeat.notify()
        return coords

    def follow_source(self, ctx, host, port, coords, strategy, source_id=None):
        with self._lock:
            self.replication.follow(host, port, coords, strategy, self._flavor(), source_id)
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
    def set_durability(self, ctx, durability, timeout_ms):
        with self._lock:
            self.replication.set_durability(durability, timeout_ms, self._flavor())
        self.heartbeat.notify()
