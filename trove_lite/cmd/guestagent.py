"""trove-lite-guestagent: the agent on one instance.

Started by the compute driver with ``--server-dir DIR --config-file
DIR/root/etc/trove-lite/guest.conf``. ``DIR/server.json`` (the local driver's
metadata service) tells the instance's address and which MariaDB binaries its
image holds; on Nova, where there is no server dir, the agent binds to 0.0.0.0
and uses the system's binaries.
"""

from __future__ import annotations

import configparser
import logging
import os
import socket
import sys
import threading
from typing import TYPE_CHECKING, Sequence

# Only light modules here: the early prepare starts before the RPC stack loads.
from trove_lite import datastores
from trove_lite.cmd import common
from trove_lite.guestagent import state as guest_state
from trove_lite.guestagent.datastore.mariadb import app as mdb_app
from trove_lite.guestagent.early import EarlyPrepare
from trove_lite.guestagent.upgrade import EarlyUpgrade

LOG = logging.getLogger("trove_lite.guestagent")

if TYPE_CHECKING:
    # imported inside main: the early prepare starts before these load
    from trove_lite.guestagent.manager import GuestManager

DEFAULT_TEMPLATES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "templates")


def _arg_values(argv: Sequence[str], name: str) -> list[str]:
    values = []
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            values.append(argv[i + 1])
        elif arg.startswith(name + "="):
            values.append(arg.split("=", 1)[1])
    return values


def _template_path(config_files: list[str], datastore: str = "mariadb") -> str:
    """The config template of the image's datastore under ``[guest] templates_dir``
    (read from the config files without oslo.config)."""
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.read(config_files)
    base = parser.get("guest", "templates_dir", fallback=None) or DEFAULT_TEMPLATES
    return datastores.get(datastore).config_template(base)


def main(argv: Sequence[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    common.setup_logging("guestagent")
    server_dirs = _arg_values(argv, "--server-dir")
    server_dir = server_dirs[-1] if server_dirs else None
    try:
        image = guest_state.read_server_info(server_dir).get("image")
    except (OSError, ValueError):
        image = None
    template = _template_path(_arg_values(argv, "--config-file"),
                              guest_state.binaries_of(image).datastore)
    early = EarlyPrepare.maybe_start(server_dir, template)
    early_upgrade = EarlyUpgrade.maybe_start(server_dir)

    from oslo_config import cfg

    # futurist imports eventlet whenever it is installed; the agent never uses
    # it and it costs ~0.2 s of CPU per guest start (it matters with many at once)
    # None in sys.modules blocks an import (documented); typeshed allows modules only
    sys.modules.setdefault("eventlet", None)  # type: ignore[arg-type]
    common.prefer_threading_backend()
    import oslo_messaging as messaging

    from trove_lite import config
    from trove_lite.guestagent import heartbeat as hb
    from trove_lite.guestagent import manager as gm
    from trove_lite.rpc import conductor as conductor_rpc
    from trove_lite.rpc import guest as guest_rpc
    from trove_lite.rpc import sealed
    from trove_lite.rpc import transport

    conf = config.make_conf(argv, cli_opts=[cfg.StrOpt(
        "server-dir", help="The local server's directory (local driver).")],
        modules=config.GUEST_OPT_MODULES)
    instance_id = conf.guest.instance_id
    info = guest_state.read_server_info(server_dir)
    work_dir = guest_state.work_dir_of(server_dir)
    state = guest_state.state_of(work_dir)
    manager = gm.GuestManager(conf, instance_id, guest_state.server_factory(work_dir, info),
                              state, None, template)
    # read by the RPC dispatcher (via SealedEndpoint.target); guestagent/manager.py
    # stays free of oslo.messaging, so the attribute is set here
    setattr(manager, "target", messaging.Target(version=gm.GuestManager.RPC_VERSION))
    manager.early = early
    manager.server_dir = server_dir
    beat = hb.Heartbeat(conductor_rpc.ConductorAPI(conf), instance_id,
                        manager.current_status, conf.guest.heartbeat_interval,
                        manager.volume_used, manager.heartbeat_extra)
    manager.heartbeat = beat
    if early is not None:
        def reported(e: EarlyPrepare) -> None:
            if e.root_enabled():
                beat.report_root("root")
            beat.notify()
        early.on_done(reported)
    manager.upgrades.early = early_upgrade

    def background() -> None:
        threading.Thread(target=manager.backups.recover, name="backup-recover",
                         daemon=True).start()
        beat.start()  # its first beat goes out at once
        manager.archiver.release()
    if early_upgrade is None:   # else it starts the database, on the new version
        boot(manager, state)
        background()  # first: the status goes out while the RPC server still connects
    else:
        # The upgrade's start and mariadb-upgrade get this machine's CPU to
        # themselves: the binlog archiver (parsing and encrypting the binlogs the
        # old version left) and the heartbeat's checks wait until it ends, and the
        # first beat then says how it ended (a beat now would say the database
        # crashed). The taskmanager, blocked in post_upgrade, needs no beat meanwhile.
        manager.archiver.hold()
        early_upgrade.on_done(background)
    manager.archiver.start()  # reports this agent's public key at once
    # the control plane's messages are sealed under this instance's own key
    endpoint = sealed.SealedEndpoint(manager, sealed.guest_key_for(conf), sealed.TO_GUEST,
                                     sealed.window_of(conf),
                                     seen_path=os.path.join(work_dir, "rpc_seen"))
    server = transport.make_server(conf, guest_rpc.guest_topic(instance_id),
                                   socket.gethostname(), [endpoint])
    server.start()
    LOG.info("guest agent for instance %s serving on %s (address %s, %s)", instance_id,
             guest_rpc.guest_topic(instance_id), info.get("address"),
             guest_state.binaries_of(info.get("image")).mariadbd)
    signame = common.wait_for_termination()
    LOG.info("%s: stopping the agent (the database keeps running)", signame)
    beat.stop()
    manager.archiver.stop()
    if manager.upgrades.rebuild_expected:
        # pre_upgrade answered and nothing else may run until the rebuild: skip the
        # RPC server's drain, which waits out its 1 s poll (a second per upgrade hop)
        LOG.info("stopped for the upgrade's rebuild")
        logging.shutdown()
        os._exit(0)
    server.stop()
    server.wait()


def boot(manager: GuestManager, state: guest_state.GuestState) -> None:
    """Like a VM boot: start the database of a prepared instance unless it was stopped."""
    st = state.read()
    if not st.get("prepared"):
        return
    app = manager._app()
    stopped = os.path.exists(os.path.join(app.server.base_dir, mdb_app.STOP_MARKER))
    if app.server.is_running() or stopped:
        return
    LOG.info("starting the database of this prepared instance")
    try:
        app.start()
        manager.started_fresh()
    except Exception:
        LOG.exception("the database did not start at boot")


if __name__ == "__main__":
    main()
