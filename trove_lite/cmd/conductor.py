"""trove-lite-conductor: records what guests report."""

import logging
import socket
import sys
from typing import Any

from oslo_config import cfg

from trove_lite.cmd import common

common.prefer_threading_backend()

from trove_lite import config  # noqa: E402
from trove_lite.conductor.manager import ConductorManager  # noqa: E402
from trove_lite.db import deployment  # noqa: E402
from trove_lite.db.session import Database  # noqa: E402
from trove_lite.rpc import conductor as conductor_rpc  # noqa: E402
from trove_lite.rpc import sealed, transport  # noqa: E402

LOG = logging.getLogger("trove_lite.conductor")


def start(conf: cfg.ConfigOpts, db: Database) -> Any:
    """Start the conductor's RPC server; returns it (an oslo.messaging server)."""
    # guests' messages are sealed: each under the key of the instance it reports for
    endpoint = sealed.SealedEndpoint(
        ConductorManager(db, conf.conductor.heartbeat_batch_ms), sealed.control_key_for(conf),
        sealed.TO_CONDUCTOR, sealed.window_of(conf), replies=conductor_rpc.CALLS)
    server = transport.make_server(conf, conf.conductor.topic, socket.gethostname(),
                                   [endpoint])
    server.start()
    LOG.info("conductor listening on topic %s", conf.conductor.topic)
    return server


def main(argv: list[str] | None = None) -> None:
    conf = config.make_conf(sys.argv[1:] if argv is None else argv)
    common.setup_logging("conductor")
    db = Database(config.database_url(conf))
    transport.isolate(conf, deployment.deployment_id(db))
    server = start(conf, db)
    common.wait_for_termination()
    server.stop()
    server.wait()


if __name__ == "__main__":
    main()
