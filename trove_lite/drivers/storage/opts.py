"""Options of the backup storage drivers.

``[backup_storage] driver`` picks ``local`` (files under ``[storage_local] root``)
or ``swift`` (``[storage_swift]``: tempauth v1 or Keystone v3 credentials).
"""

from collections.abc import Sequence

from oslo_config import cfg

STORAGE_OPTS = [
    cfg.StrOpt("driver", default="local", choices=["local", "swift"],
               help="Where backups are stored."),
    cfg.StrOpt("container", default="database_backups",
               help="Container (Swift) or top directory (local) for backup objects."),
]

LOCAL_OPTS = [
    cfg.StrOpt("root", default=None,
               help="Directory of the local store. Default: <state_dir>/backups."),
]

SWIFT_OPTS = [
    cfg.StrOpt("auth_url", help="Swift auth URL (tempauth .../auth/v1.0 or Keystone)."),
    cfg.StrOpt("auth_version", default="1", choices=["1", "2.0", "3"],
               help="Auth protocol version."),
    cfg.StrOpt("user", help="User (tempauth 'account:user')."),
    cfg.StrOpt("key", secret=True, help="Password or key."),
    cfg.StrOpt("project_name", help="Keystone project (auth_version 3)."),
    cfg.StrOpt("user_domain_name", default="Default", help="Keystone user domain."),
    cfg.StrOpt("project_domain_name", default="Default", help="Keystone project domain."),
    cfg.StrOpt("region_name", help="Region in the service catalog."),
    cfg.IntOpt("segment_size", default=2 * 1024 ** 3, min=1,
               help="Bytes per large-object segment (Swift's default max object "
                    "size is 5 GiB)."),
    cfg.IntOpt("retries", default=3, min=0,
               help="Retries of a request swiftclient can repeat (not streamed "
                    "segments, whose data is consumed)."),
    cfg.FloatOpt("timeout", default=60.0, min=1,
                 help="Seconds without progress before a Swift request fails."),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(STORAGE_OPTS, group="backup_storage")
    conf.register_opts(LOCAL_OPTS, group="storage_local")
    conf.register_opts(SWIFT_OPTS, group="storage_swift")


def list_opts() -> list[tuple[str, Sequence[cfg.Opt]]]:
    return [("backup_storage", STORAGE_OPTS), ("storage_local", LOCAL_OPTS),
            ("storage_swift", SWIFT_OPTS)]
