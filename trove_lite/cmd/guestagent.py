"""trove-lite-guestagent: the agent on one instance.

Started by the compute driver with ``--server-dir DIR --config-file
DIR/root/etc/trove-lite/guest.conf``. ``DIR/server.json`` (the local driver's
metadata service) tells the instance's address and which MariaDB binaries its
image holds; on Nova, where there is no server dir, the agent binds to 0.0.0.0
and uses the system's binaries.
"""

import json
import logging
import os
import socket
import sys
import threading

from oslo_config import cfg

from trove_lite.cmd import common

common.prefer_threading_backend()

from trove_lite import config  # noqa: E402
from trove_lite.guestagent import heartbeat as hb  # noqa: E402
from trove_lite.guestagent import manager as gm  # noqa: E402
from trove_lite.guestagent.datastore.mariadb import app as mdb_app  # noqa: E402
from trove_lite.guestagent.datastore.mariadb.server import (  # noqa: E402
    SYSTEM_BINARIES, Binaries, MariaDBServer)
from trove_lite.rpc import conductor as conductor_rpc  # noqa: E402
from trove_lite.rpc import guest as guest_rpc  # noqa: E402
from trove_lite.rpc import transport  # noqa: E402

LOG = logging.getLogger("trove_lite.guestagent")

CLI_OPTS = [cfg.StrOpt("server-dir", help="The local server's directory (local driver).")]


def read_server_info(server_dir):
    if not server_dir:
        return {"address": "0.0.0.0", "image": {}}
    with open(os.path.join(server_dir, "server.json")) as f:
        return json.load(f)


def binaries_of(image):
    fields = set(Binaries.__dataclass_fields__)
    spec = {k: v for k, v in (image or {}).items() if k in fields}
    return Binaries(**spec) if spec else SYSTEM_BINARIES


def main(argv=None):
    conf = config.make_conf(sys.argv[1:] if argv is None else argv, cli_opts=CLI_OPTS)
    common.setup_logging("guestagent")
    instance_id = conf.guest.instance_id
    server_dir = conf.server_dir
    info = read_server_info(server_dir)
    work_dir = os.path.abspath(server_dir or "/var/lib/trove-lite-guest")
    os.makedirs(os.path.join(work_dir, "state"), exist_ok=True)
    binaries = binaries_of(info.get("image"))

    def make_server(datadir):
        return MariaDBServer(os.path.join(work_dir, "mysql"),
                             bind_address=info.get("address") or "0.0.0.0", port=3306,
                             binaries=binaries, datadir=datadir)

    template = os.path.join(config.templates_dir(conf), "mariadb", "config.template")
    state = gm.GuestState(os.path.join(work_dir, "state", "guest.json"))
    manager = gm.GuestManager(conf, instance_id, make_server, state, None, template)
    beat = hb.Heartbeat(conductor_rpc.ConductorAPI(conf), instance_id,
                        manager.current_status, conf.guest.heartbeat_interval,
                        manager.volume_used)
    manager.heartbeat = beat
    boot(manager, state)
    threading.Thread(target=manager.backups.recover, name="backup-recover",
                     daemon=True).start()
    boot_prepare(manager, state, server_dir, info)
    server = transport.make_server(conf, guest_rpc.guest_topic(instance_id),
                                   socket.gethostname(), [manager])
    server.start()
    beat.start()
    LOG.info("guest agent for instance %s serving on %s (address %s, %s)", instance_id,
             guest_rpc.guest_topic(instance_id), info.get("address"), binaries.mariadbd)
    signame = common.wait_for_termination()
    LOG.info("%s: stopping the agent (the database keeps running)", signame)
    beat.stop()
    server.stop()
    server.wait()


PREPARE_FILE = os.path.join("root", "etc", "trove-lite", "prepare.json")


def boot_prepare(manager, state, server_dir, info):
    """Start the injected prepare request at once, in parallel with connecting to
    the bus. Needs the volume's device: the local driver writes it into
    server.json; elsewhere (Nova) the prepare cast brings it."""
    if not server_dir or state.read().get("prepared"):
        return
    path = os.path.join(server_dir, PREPARE_FILE)
    devices = list((info.get("volume_devices") or {}).values())
    try:
        with open(path) as f:
            request = json.load(f)
    except (OSError, ValueError):
        return
    if not devices:
        return

    def run():
        manager.prepare(None, volume_device=devices[0], **request)
        if state.read().get("prepared"):
            os.unlink(path)  # it holds the first passwords

    threading.Thread(target=run, name="boot-prepare", daemon=True).start()


def boot(manager, state):
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
    except Exception:
        LOG.exception("the database did not start at boot")



if __name__ == "__main__":
    main()
