"""Configuration: options grouped per service, held in a ConfigOpts *object*.

Nothing in trove-lite reads a global CONF. ``make_conf()`` builds a private
``cfg.ConfigOpts`` with every option registered; services receive it in their
constructors. ``list_opts()`` feeds oslo-config-generator for
``etc/trove-lite.conf.sample`` (a test checks the committed sample is current).
Option modules owned by other parts (drivers, storage, auth) expose their own
``list_opts()``; this module aggregates them.
"""

import importlib
import os
from collections.abc import Iterable, Sequence
from typing import Any

from oslo_config import cfg

DEFAULT_OPTS = [
    cfg.StrOpt("state_dir", default=os.path.expanduser("~/.local/state/trove-lite"),
               help="Directory for the embedded database, local servers, volumes and "
                    "backups."),
    cfg.StrOpt("region", default="RegionOne", help="Region name shown on instances."),
]

DATABASE_OPTS = [
    cfg.StrOpt("connection", secret=True, default=None,
               help="SQLAlchemy URL of the control-plane database. Default: SQLite "
                    "file state_dir/trove-lite.sqlite. MariaDB: "
                    "mysql+pymysql://user:pw@host/db?charset=utf8mb4"),
]

API_OPTS = [
    cfg.HostAddressOpt("bind_host", default="127.0.0.1", help="API listen address."),
    cfg.PortOpt("bind_port", default=8779, help="API listen port."),
    cfg.IntOpt("max_limit", default=1000, help="Largest page size for list calls."),
    cfg.IntOpt("workers", default=8, help="Threads serving API requests."),
    # here, not in api/opts.py: the instance service (below the API) reads it
    cfg.IntOpt("max_volume_size", default=10, min=1,
               help="Largest volume (GB) a create or resize-volume request may ask for "
                    "(Trove's max_accepted_volume_size)."),
]

TASKMANAGER_OPTS = [
    cfg.StrOpt("topic", default="trove-lite-taskmanager",
               help="Taskmanager RPC topic. Unset: <default>.<deployment id>, as "
                    "control_exchange is trove_lite_<deployment id> (rpc/transport.py)."),
    cfg.IntOpt("usage_timeout", default=400, min=1,
               help="Seconds a new instance may take to report ready before it goes "
                    "to ERROR with a fault."),
    cfg.IntOpt("state_change_wait_time", default=180, min=1,
               help="Seconds to wait for a guest to reach a state during restart/"
                    "resize."),
    cfg.IntOpt("reconcile_interval", default=30, min=1,
               help="Seconds between checks of instances whose flow was cut off."),
    cfg.FloatOpt("flow_lease_seconds", default=10.0, min=1.0,
                 help="Seconds a taskmanager's lease on an instance's (or backup's) flow "
                      "lasts unless renewed (every third of it while the flow runs); "
                      "another taskmanager resumes a cut-off flow only once it expires."),
    cfg.StrOpt("guest_config_template", default=None,
               help="Extra guest options appended to every injected guest config."),
]

CONDUCTOR_OPTS = [
    cfg.StrOpt("topic", default="trove-lite-conductor",
               help="Conductor RPC topic. Unset: <default>.<deployment id>."),
    cfg.FloatOpt("heartbeat_batch_ms", default=5.0, min=0.0,
                 help="Heartbeats arriving within this many ms are written in one "
                      "transaction (0: one transaction per heartbeat)."),
]

GUEST_OPTS = [
    cfg.StrOpt("instance_id", help="The instance this guest agent serves."),
    cfg.StrOpt("datastore_manager", default="mariadb", help="Datastore of this guest."),
    cfg.IntOpt("heartbeat_interval", default=5, min=1,
               help="Seconds between status reports to the conductor."),
    cfg.IntOpt("rpc_short_timeout", default=15, min=1,
               help="Timeout of quick guest calls (users, databases, root)."),
    cfg.IntOpt("rpc_long_timeout", default=180, min=1,
               help="Timeout of slow guest calls (prepare, restart, upgrade)."),
    cfg.IntOpt("agent_heartbeat_expiry", default=90, min=1,
               help="Seconds after which a silent guest counts as lost."),
    cfg.BoolOpt("root_on_create", default=False,
                help="Enable root with a generated password when an instance is "
                     "created."),
    cfg.StrOpt("templates_dir", default=None,
               help="Directory of per-datastore config templates (default: the "
                    "repository's templates/)."),
    cfg.StrOpt("mount_point", default="/var/lib/mysql",
               help="Where a block-device volume is mounted (Nova). Local volumes "
                    "come mounted."),
    cfg.StrOpt("rpc_key", secret=True,
               help="This instance's own RPC key (guest side only: injected at boot "
                    "by the taskmanager; see trove_lite/rpc/sealed.py)."),
    cfg.IntOpt("rpc_message_window", default=300, min=5,
               help="Seconds a sealed guest RPC message stays valid; an older one, "
                    "or one seen before within this window (a replay), is refused."),
]

QUOTA_OPTS = [
    cfg.IntOpt("max_instances_per_tenant", default=10, help="Default instance quota."),
    cfg.IntOpt("max_volumes_per_tenant", default=100, help="Default volume GB quota."),
    cfg.IntOpt("max_backups_per_tenant", default=50, help="Default backup quota."),
    cfg.IntOpt("max_ram_per_tenant", default=-1, help="Default RAM (MB) quota; -1 = "
                                                      "unlimited."),
]

_OWN: list[tuple[str | None, Sequence[cfg.Opt]]] = [
    (None, DEFAULT_OPTS),
    ("database", DATABASE_OPTS),
    ("api", API_OPTS),
    ("taskmanager", TASKMANAGER_OPTS),
    ("conductor", CONDUCTOR_OPTS),
    ("guest", GUEST_OPTS),
    ("quota", QUOTA_OPTS),
]

# Modules of other parts that contribute options through their own list_opts().
_OPT_MODULES = [
    "trove_lite.api.opts",
    "trove_lite.drivers.opts",
    "trove_lite.drivers.storage.opts",
    "trove_lite.api.auth",
    "trove_lite.common.backup_opts",
    "trove_lite.instance.replication",
    "trove_lite.logs_opts",
    "trove_lite.taskmanager.ha",
]


# What a guest agent needs beyond its own options: the backup store. Loading
# the API's and drivers' option modules would import keystonemiddleware and
# keystoneauth (~0.25 s of every guest's start).
GUEST_OPT_MODULES = ("trove_lite.drivers.storage.opts",
                     "trove_lite.common.backup_opts", "trove_lite.logs_opts")


def _module_opts(modules: Iterable[str]) -> list[tuple[str | None, list[cfg.Opt]]]:
    out = []
    for name in modules:
        out.extend(importlib.import_module(name).list_opts())
    return out


def list_opts(modules: Iterable[str] | None = None) -> list[tuple[str | None, list[cfg.Opt]]]:
    """Every option (or ours plus those of ``modules``), for oslo-config-generator
    and for registration."""
    own = [(group, list(opts)) for group, opts in _OWN]
    own[0] = (None, own[0][1] + _messaging_default_opts())
    return own + _module_opts(_OPT_MODULES if modules is None else modules)


DEFAULT_TRANSPORT_URL = "rabbit://guest:guest@127.0.0.1:5672/"
DEFAULT_EXCHANGE = "trove_lite"


def _messaging_default_opts() -> list[cfg.Opt]:
    """oslo.messaging's own DEFAULT options (transport_url, control_exchange, ...).

    They are registered from oslo.messaging rather than declared again, with our
    defaults: the local RabbitMQ and our exchange.
    """
    # The very objects oslo.messaging registers itself (its list_opts() returns
    # copies, which oslo.config would count as different, duplicate options).
    from oslo_messaging import transport as msg_transport
    return list(msg_transport._transport_opts)  # noqa: SLF001


def make_conf(args: list[str] | None = None, config_files: Iterable[str] | None = None,
              overrides: dict[str, Any] | None = None, cli_opts: Iterable[cfg.Opt] = (),
              modules: Iterable[str] | None = None) -> cfg.ConfigOpts:
    """A fresh ConfigOpts with every option registered and parsed.

    ``overrides`` maps ``"group.name"`` (or ``"name"`` for DEFAULT) to a value;
    ``cli_opts`` are extra command-line options of the calling program;
    ``modules`` limits which option modules beyond our own are registered.
    """
    conf = cfg.ConfigOpts()
    conf.register_cli_opts(list(cli_opts))
    for group, opts in list_opts(modules):
        conf.register_opts(opts, group=group)
    conf.set_default("transport_url", DEFAULT_TRANSPORT_URL)
    conf.set_default("control_exchange", DEFAULT_EXCHANGE)
    # oslo.messaging reads these groups from the ConfigOpts it is given but
    # registers them only on its global CONF.
    from oslo_messaging._metrics import client as msg_metrics
    from oslo_messaging._tracing import client as msg_tracing
    conf.register_opts(msg_tracing.oslo_messaging_tracing, group="oslo_messaging_tracing")
    conf.register_opts(msg_metrics.oslo_messaging_metrics, group="oslo_messaging_metrics")
    conf(args=list(args or []), project="trove-lite",
         default_config_files=list(config_files or []))
    for key, value in (overrides or {}).items():
        group, _, name = key.rpartition(".")
        conf.set_override(name, value, group=group or None)
    return conf


def database_url(conf: cfg.ConfigOpts) -> str:
    if conf.database.connection:
        return conf.database.connection
    os.makedirs(conf.state_dir, exist_ok=True)
    return "sqlite:///" + os.path.join(conf.state_dir, "trove-lite.sqlite")


def templates_dir(conf: cfg.ConfigOpts | None = None) -> str:
    if conf is not None and conf.guest.templates_dir:
        return conf.guest.templates_dir
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "templates")
