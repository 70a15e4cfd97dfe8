"""Options of the API process that config.py does not define itself.

``list_opts()`` is the hook config.py aggregates; ``register(conf)`` makes the
options available on a ConfigOpts built before this module was listed there
(registration of identical options is idempotent in oslo.config).
"""

from oslo_config import cfg

API_OPTS = [
    cfg.IntOpt("max_volume_size", default=10, min=1,
               help="Largest volume (GB) a create or resize-volume request may ask for "
                    "(Trove's max_accepted_volume_size)."),
]


def list_opts():
    return [("api", list(API_OPTS))]


def register(conf):
    for group, opts in list_opts():
        conf.register_opts(opts, group=group)
