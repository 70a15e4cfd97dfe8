"""trove-lite-api: serve the REST API until SIGTERM/SIGINT.

The API records intent in the control-plane database and casts to the
taskmanager; it needs the schema in place (``trove-lite-manage db_sync``).
"""

import logging

from trove_lite.cmd import common

common.prefer_threading_backend()

from trove_lite import config  # noqa: E402
from trove_lite.api import server as api_server  # noqa: E402
from trove_lite.api import wsgi  # noqa: E402
from trove_lite.db.session import Database  # noqa: E402
from trove_lite.rpc import transport  # noqa: E402
from trove_lite.rpc.taskmanager import TaskManagerAPI  # noqa: E402

LOG = logging.getLogger("trove_lite.api")


def start(conf, db, middleware=(), authorize=None):
    """Build the app and start serving on [api] bind_host:bind_port; returns the server."""
    app = wsgi.make_app(conf, db, TaskManagerAPI(conf), middleware=middleware,
                        authorize=authorize)
    return api_server.serve(conf, app)


def main(argv=None):
    conf = config.make_conf(argv)
    common.setup_logging("api")
    db = Database(config.database_url(conf))
    server = start(conf, db)
    signame = common.wait_for_termination()
    LOG.info("%s received; finishing in-flight requests", signame)
    server.shutdown()
    transport.cleanup()
    db.dispose()


if __name__ == "__main__":
    main()
