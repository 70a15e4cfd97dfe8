"""trove-lite-aio: API, taskmanager and conductor in one foreground process.

    trove-lite-aio --state-dir DIR [--port 8779] [--transport-url URL] [--config-file F]

Embedded defaults: SQLite under DIR, RabbitMQ at rabbit://guest:guest@127.0.0.1:5672/,
local compute and volume drivers under DIR. On first start it runs the migrations,
registers datastore ``mariadb`` version ``10.11`` (the system's MariaDB as a local
image), loads its configuration parameters and creates a few small flavors.
SIGTERM stops the three services cleanly; instances keep running, like VMs.
"""

import argparse
import logging
import os
import sys
import time
from typing import Any, Callable, Iterable

from trove_lite.cmd import common

common.prefer_threading_backend()

from oslo_config import cfg  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from trove_lite import config  # noqa: E402
from trove_lite.cmd import conductor as conductor_cmd  # noqa: E402
from trove_lite.cmd import manage  # noqa: E402
from trove_lite.cmd import taskmanager as taskmanager_cmd  # noqa: E402
from trove_lite.db import deployment, models  # noqa: E402
from trove_lite.api.server import ApiServer  # noqa: E402
from trove_lite.db.session import Database  # noqa: E402
from trove_lite.rpc import transport  # noqa: E402
from trove_lite.taskmanager.manager import TaskManager  # noqa: E402

LOG = logging.getLogger("trove_lite.aio")

DEFAULT_FLAVORS = [
    # id, name, RAM MB, vCPUs, disk GB
    ("1", "tiny", 512, 1, 2),
    ("2", "small", 1024, 1, 5),
    ("3", "medium", 2048, 2, 10),
    ("4", "large", 4096, 2, 20),
]
DATASTORE, VERSION, IMAGE = "mariadb", "10.11", "mariadb-10.11"


def bootstrap(conf: cfg.ConfigOpts, db: Database) -> None:
    """First-start setup; idempotent (runs every start, changes nothing the second time)."""
    db.sync()
    manage.image_register_system(conf, IMAGE)
    with db.session() as s:
        have_version = s.execute(select(func.count()).select_from(models.DatastoreVersion)
                                 ).scalar()
        have_flavors = s.execute(select(func.count()).select_from(models.Flavor)).scalar()
    if not have_version:
        manage.datastore_update(db, DATASTORE, "")
        manage.datastore_version_update(db, DATASTORE, VERSION, "mariadb", IMAGE, "", "1")
        manage.datastore_update(db, DATASTORE, VERSION)
        rules = os.path.join(config.templates_dir(conf), "mariadb", "validation-rules.json")
        if os.path.exists(rules):
            LOG.info(manage.load_config_parameters(db, DATASTORE, VERSION, rules))
        LOG.info("registered datastore %s version %s (image %s)", DATASTORE, VERSION, IMAGE)
    if not have_flavors:
        for flavor in DEFAULT_FLAVORS:
            manage.flavor_create(db, *flavor)
        LOG.info("created flavors %s", ", ".join(f[1] for f in DEFAULT_FLAVORS))


class AllInOne:
    """The three control-plane services of one process (also used by the tests)."""

    def __init__(self, conf: cfg.ConfigOpts) -> None:
        self.conf = conf
        self.db = Database(config.database_url(conf))
        self.conductor: Any = None     # oslo.messaging RPC servers
        self.tm_server: Any = None
        self.taskmanager: TaskManager | None = None
        self.api: ApiServer | None = None

    def start(self) -> "AllInOne":
        from trove_lite.cmd import api as api_cmd
        bootstrap(self.conf, self.db)
        transport.isolate(self.conf, deployment.deployment_id(self.db))
        self.conductor = conductor_cmd.start(self.conf, self.db)
        self.taskmanager, self.tm_server = taskmanager_cmd.start(self.conf, self.db)
        self.api = api_cmd.start(self.conf, self.db)
        LOG.info("API on http://%s:%d/v1.0/<tenant> (authentication: %s)",
                 self.conf.api.bind_host, self.conf.api.bind_port,
                 self.conf.api.auth_strategy)
        return self

    def stop(self) -> None:
        """Stop the three services side by side, within ``[api] shutdown_timeout``
        + 0.2 s: the API lets in-flight requests finish for up to its timeout.

        Stopping an oslo.messaging server waits for the broker to cancel its
        consumers and for running flows; on a busy broker that took 3-13 s. What
        is still stopping at the deadline is left: its unconsumed messages stay
        queued, and the taskmanager's reconciler resumes a flow cut off
        mid-way at the next start.
        """
        stoppers: list[tuple[str, Callable[[], None]]] = []
        if self.api is not None:
            stoppers.append(("api", self.api.shutdown))
        if self.taskmanager is not None:
            stoppers.append(("taskmanager", self.taskmanager.stop))
        for name, server in (("taskmanager rpc", self.tm_server),
                             ("conductor", self.conductor)):
            if server is not None:
                stoppers.append((name, _stop_and_wait(server)))
        common.stop_in_parallel(stoppers, timeout=self.conf.api.shutdown_timeout + 0.2)
        self.db.dispose()


def _stop_and_wait(server: Any) -> Callable[[], None]:
    def stop() -> None:
        server.stop()
        server.wait()
    return stop


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="trove-lite-aio", description=__doc__.splitlines()[0])
    p.add_argument("--state-dir", required=True)
    p.add_argument("--port", type=int, default=8779)
    p.add_argument("--transport-url", default=None)
    p.add_argument("--config-file", action="append", default=[])
    p.add_argument("--debug", action="store_true")
    return p.parse_args(argv)


def make_aio_conf(state_dir: str, port: int = 8779, transport_url: str | None = None,
                  config_files: Iterable[str] = (),
                  extra: dict[str, Any] | None = None) -> cfg.ConfigOpts:
    state_dir = os.path.abspath(state_dir)
    os.makedirs(state_dir, exist_ok=True)
    overrides: dict[str, Any] = {"state_dir": state_dir, "api.bind_port": port}
    if transport_url:
        overrides["transport_url"] = transport_url
    overrides.update(extra or {})
    return config.make_conf([], config_files=config_files, overrides=overrides)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    common.setup_logging("aio", debug=args.debug)
    conf = make_aio_conf(args.state_dir, args.port, args.transport_url, args.config_file)
    aio = AllInOne(conf).start()
    signame = common.wait_for_termination()
    LOG.info("%s: stopping API, taskmanager and conductor (instances keep running)", signame)
    started = time.monotonic()
    aio.stop()
    LOG.info("stopped in %.2f s", time.monotonic() - started)
    common.exit_now(0)


if __name__ == "__main__":
    main()   # exits through common.exit_now
