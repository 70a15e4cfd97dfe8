"""Options of datastore logs (``[logs]``): where published logs go, how the guest
rotates them."""

from oslo_config import cfg

LOGS_OPTS = [
    cfg.StrOpt("container", default="database_logs",
               help="Container (Swift) or top directory (local store) of published "
                    "datastore logs."),
    cfg.StrOpt("store", default="auto", choices=["auto", "tenant_swift", "deployment"],
               help="Where publish puts logs: tenant_swift = the tenant's own Swift "
                    "account with the request's Keystone token, plain objects as Trove "
                    "writes them (troveclient's log tail/save read them; at-rest "
                    "encryption is Swift's keymaster + encryption middlewares); "
                    "deployment = the deployment's storage driver, AES-256-GCM under "
                    "the tenant's key (read back through our API only); auto = "
                    "tenant_swift with [api] auth_strategy = keystone and "
                    "[backup_storage] driver = swift, else deployment."),
    cfg.StrOpt("swift_url", default=None,
               help="Tenant Swift account URL for store = tenant_swift: a prefix the "
                    "project id is appended to (Trove's swift_url, e.g. "
                    "http://swift:8080/v1/AUTH_) or a template with %(project_id)s. "
                    "Unset: the object-store endpoint of the request's service catalog."),
    cfg.IntOpt("max_size", default=64 * 1024 ** 2, min=4096,
               help="Bytes after which the guest rotates a general or slow-query log "
                    "once it is published (or never read)."),
    cfg.IntOpt("keep", default=2, min=1, max=20,
               help="Rotated files of each log kept on the volume."),
    cfg.IntOpt("object_size", default=4 * 1024 ** 2, min=4096, max=4 * 1024 ** 2,
               help="Largest number of log bytes in one published object."),
]


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    return [("logs", LOGS_OPTS)]


def guest_conf_text(conf: cfg.ConfigOpts) -> str:
    """The ``[logs]`` options a guest rotates by, as guest-config text."""
    return "\n[logs]\nmax_size = %d\nkeep = %d\n" % (conf.logs.max_size, conf.logs.keep)
