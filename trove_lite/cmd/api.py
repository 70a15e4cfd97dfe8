"""trove-lite-api: serve the REST API until SIGTERM/SIGINT.

The API records intent in the control-plane database and casts to the
taskmanager; it needs the schema in place (``trove-lite-manage db_sync``).
"""

import logging
import sys

from oslo_config import cfg

from trove_lite.cmd import common

common.prefer_threading_backend()

from trove_lite import config  # noqa: E402
from trove_lite.api import auth  # noqa: E402
from trove_lite.api import context as api_context  # noqa: E402
from trove_lite.api import policy  # noqa: E402
from trove_lite.api import server as api_server  # noqa: E402
from trove_lite.api import wsgi  # noqa: E402
from trove_lite.db import deployment  # noqa: E402
from trove_lite.db.session import Database  # noqa: E402
from trove_lite.rpc import transport  # noqa: E402
from trove_lite.rpc.taskmanager import TaskManagerAPI  # noqa: E402

LOG = logging.getLogger("trove_lite.api")


def start(conf: cfg.ConfigOpts, db: Database,
          taskmanager_api: TaskManagerAPI | None = None) -> api_server.ApiServer:
    """Build the authenticated app and serve it on [api] bind_host:bind_port.

    Auth per ``[api] auth_strategy`` (``auth.wrap_app``), policy from
    ``policy.make_enforcer``. Returns the server (``.shutdown()``).
    """
    enforcer = policy.make_enforcer(conf)
    app = wsgi.make_app(
        conf, db, taskmanager_api or TaskManagerAPI(conf),
        middleware=[lambda inner: auth.wrap_app(inner, conf, enforcer)],
        authorize=lambda ctx, action, target: policy.enforce(enforcer, _own(ctx), action,
                                                             target))
    return api_server.serve(conf, app)


def _own(ctx: wsgi.Context) -> api_context.RequestContext:
    """Behind ``auth.wrap_app`` every request carries the API's own context."""
    if not isinstance(ctx, api_context.RequestContext):
        raise TypeError("a request reached the policy check without the auth "
                        "middleware's context")
    return ctx


def main(argv: list[str] | None = None) -> None:
    conf = config.make_conf(sys.argv[1:] if argv is None else argv)
    common.setup_logging("api")
    db = Database(config.database_url(conf))
    transport.isolate(conf, deployment.deployment_id(db))
    server = start(conf, db)
    signame = common.wait_for_termination()
    LOG.info("%s received; finishing in-flight requests", signame)
    server.shutdown()
    transport.cleanup()
    db.dispose()
    common.exit_now(0)


if __name__ == "__main__":
    main()
