"""trove-lite-taskmanager: runs instance flows; reconciles cut-off ones at start."""

import logging
import socket
import sys
from typing import Any

from oslo_config import cfg

from trove_lite.cmd import common

common.prefer_threading_backend()

from trove_lite import config  # noqa: E402
from trove_lite.db import deployment  # noqa: E402
from trove_lite.db.session import Database  # noqa: E402
from trove_lite.drivers import factory  # noqa: E402
from trove_lite.rpc import transport  # noqa: E402
from trove_lite.taskmanager.manager import TaskManager  # noqa: E402

LOG = logging.getLogger("trove_lite.taskmanager")


def start(conf: cfg.ConfigOpts, db: Database) -> tuple[TaskManager, Any]:
    """Start the RPC server and the reconciler; returns (manager, rpc server)."""
    drivers = factory.build_drivers(conf, deployment.deployment_id(db))
    manager = TaskManager(conf, db, drivers.compute, drivers.volume)
    manager.reconcile()  # before taking new work: pick up flows a dead taskmanager left
    server = transport.make_server(conf, conf.taskmanager.topic, socket.gethostname(),
                                   [manager])
    server.start()
    manager.start_reconciler()
    LOG.info("taskmanager listening on topic %s", conf.taskmanager.topic)
    return manager, server


def main(argv: list[str] | None = None) -> None:
    conf = config.make_conf(sys.argv[1:] if argv is None else argv)
    common.setup_logging("taskmanager")
    db = Database(config.database_url(conf))
    transport.isolate(conf, deployment.deployment_id(db))
    manager, server = start(conf, db)
    common.wait_for_termination()
    manager.stop()
    server.stop()
    server.wait()


if __name__ == "__main__":
    main()
