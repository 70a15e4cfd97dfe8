"""Options of backups in the control plane (``[backup]``).

The stores themselves are configured in ``[backup_storage]``, ``[storage_local]``
and ``[storage_swift]`` (drivers/storage/opts.py); the taskmanager copies those
into every guest's injected config.
"""

from oslo_config import cfg

BACKUP_OPTS = [
    cfg.StrOpt("master_key", secret=True, default=None,
               help="Secret that encrypts the per-tenant backup keys stored in the "
                    "control-plane database. Default: a random key kept in "
                    "<state_dir>/backup-master.key (created on first use, mode 0600)."),
    cfg.StrOpt("codec", default="zstd", choices=["zstd", "gzip", "none"],
               help="Compression of backup streams."),
    cfg.IntOpt("progress_timeout", default=90, min=1,
               help="Seconds a running backup may go without any report from its guest "
                    "agent before it is marked FAILED and its partial objects are "
                    "removed (a guest sends one at least every progress_interval)."),
    cfg.FloatOpt("progress_interval", default=2.0, min=0.1,
                 help="Seconds between progress reports of a running backup (guest)."),
    cfg.FloatOpt("max_rate_mb", default=0.0, min=0.0,
                 help="Cap on the MB/s a guest writes into the store (0: no cap), to "
                      "bound the I/O a backup takes from a busy instance."),
    cfg.BoolOpt("archive_binlog", default=True,
                help="Ship every instance's binary log continuously into the backup "
                     "store (encrypted), for point-in-time restore."),
    cfg.FloatOpt("archive_interval", default=0.5, min=0.05,
                 help="Seconds a guest's binlog archiver waits, when it has shipped "
                      "everything, before it looks for new events (the archive lags a "
                      "commit by about this plus one upload)."),
    cfg.IntOpt("archive_segment_mb", default=16, min=1,
               help="Largest archived binlog segment (MB): what the guest holds in "
                    "memory to encrypt and upload at once."),
]


SCHEDULE_OPTS = [
    cfg.IntOpt("max_chain_length", default=7, min=1,
               help="Backups in one chain of an incremental schedule (the full one "
                    "included); the run after a chain reaches it takes a new full "
                    "backup. 1: every run is a full backup."),
    cfg.FloatOpt("tick_interval", default=10.0, min=0.05,
                 help="Seconds between the taskmanager's looks at due schedules: a "
                      "run starts at most this late."),
    cfg.BoolOpt("allow_seconds_field", default=False,
                help="Test only: accept a 6th cron field of seconds in schedule "
                     "patterns (e.g. '* * * * * */5'), so tests need not wait minutes "
                     "for a run."),
    cfg.IntOpt("max_per_tenant", default=20, min=0,
               help="Backup schedules a tenant may have."),
]


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    return [("backup", list(BACKUP_OPTS)), ("backup_schedule", list(SCHEDULE_OPTS))]


def register(conf: cfg.ConfigOpts) -> None:
    """Idempotent: for a ConfigOpts built without config.make_conf (tests, tools)."""
    for group, opts in list_opts():
        conf.register_opts(opts, group=group)
