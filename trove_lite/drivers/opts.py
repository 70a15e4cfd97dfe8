"""Options of the compute and volume drivers.

Groups: ``[drivers]`` picks the implementations; ``[local_compute]`` and
``[local_volume]`` configure the local ones; ``[openstack_auth]`` holds the
keystoneauth1 auth and session options shared by the Nova and Cinder drivers
(``auth_type = password`` with auth_url/username/password/project_name, or
``auth_type = admin_token`` with endpoint/token for a fixed endpoint);
``[nova]`` and ``[cinder]`` hold per-service settings.
"""

import copy
from collections.abc import Sequence

from keystoneauth1 import loading as ks_loading
from oslo_config import cfg

AUTH_GROUP = "openstack_auth"

DRIVERS_OPTS = [
    cfg.StrOpt("compute", default="local", choices=["local", "nova"],
               help="Compute driver: local guest processes, or Nova."),
    cfg.StrOpt("volume", default="local", choices=["local", "cinder"],
               help="Volume driver: local loop-mounted images, or Cinder."),
]

LOCAL_COMPUTE_OPTS = [
    cfg.StrOpt("state_dir", default=None,
               help="Root of the local cloud: servers live in <state_dir>/servers/<id>, "
                    "the image registry in <state_dir>/images.json. Default: the "
                    "DEFAULT state_dir."),
    cfg.ListOpt("guest_command", default=None,
                help="Command that starts a guest agent (comma separated); it gets "
                     "--server-dir DIR and --config-file F for each injected .conf. "
                     "Default: <this python> -m trove_lite.cmd.guestagent."),
    cfg.StrOpt("address_prefix", default="127.77",
               help="Loopback range of the servers' addresses. Three octets "
                    "(127.77.5): that /24. Fewer: the driver claims a /24 of the range "
                    "for its deployment (starting at one derived from the deployment "
                    "id; a machine-wide claim file keeps other deployments out). A "
                    "server gets the first address of the /24 with nothing listening "
                    "on port 3306."),
    cfg.BoolOpt("preload_guests", default=True,
                help="Start the default guest agent from a fork server that has its "
                     "modules loaded already (saves each guest ~0.4 s of CPU at boot); "
                     "unused with a guest_command."),
    cfg.FloatOpt("boot_seconds", default=0.2, min=0,
                 help="A guest is BUILD for this long after start; exiting non-zero "
                      "within it makes the server ERROR."),
    cfg.FloatOpt("stop_timeout", default=30.0, min=0,
                 help="Seconds between SIGTERM and SIGKILL when a server's processes "
                      "are stopped (reboot, rebuild, delete)."),
]

LOCAL_VOLUME_OPTS = [
    cfg.StrOpt("state_dir", default=None,
               help="Volumes live in <state_dir>/volumes/<id>. Default: the DEFAULT "
                    "state_dir."),
    cfg.BoolOpt("force_directory", default=False,
                help="Use plain directories instead of loop-mounted ext4 images even "
                     "where loop devices work (sizes are then not enforced)."),
    cfg.FloatOpt("busy_timeout", default=5.0, min=0,
                 help="Seconds to retry an unmount that fails because the mount is busy."),
]

NOVA_OPTS = [
    cfg.StrOpt("endpoint_override", default=None,
               help="Compute endpoint (e.g. http://nova:8774/v2.1) instead of the one "
                    "in the service catalog."),
    cfg.StrOpt("region_name", default=None, help="Region in the service catalog."),
    cfg.StrOpt("network_id", default=None,
               help="Neutron network for new servers (none: Nova's default)."),
    cfg.StrOpt("availability_zone", default=None, help="Availability zone for new servers."),
    cfg.FloatOpt("delete_timeout", default=300.0, min=0,
                 help="Seconds delete_server waits for a server to disappear."),
    cfg.FloatOpt("poll_interval", default=2.0, min=0.01,
                 help="Seconds between polls while waiting on Nova."),
]

CINDER_OPTS = [
    cfg.StrOpt("endpoint_override", default=None,
               help="Volume endpoint (e.g. http://cinder:8776/v3/<project>) instead of "
                    "the one in the service catalog."),
    cfg.StrOpt("region_name", default=None, help="Region in the service catalog."),
    cfg.StrOpt("volume_type", default=None, help="Cinder volume type for new volumes."),
    cfg.StrOpt("availability_zone", default=None, help="Availability zone for new volumes."),
    cfg.FloatOpt("status_timeout", default=300.0, min=0,
                 help="Seconds to wait for a volume to become available/in-use."),
    cfg.FloatOpt("poll_interval", default=2.0, min=0.01,
                 help="Seconds between polls while waiting on Cinder."),
]


def _auth_opts() -> list[cfg.Opt]:
    """keystoneauth1's common auth and session options plus the password plugin's.

    The plugin's options are copies marked optional: the whole set is registered
    up front (config.make_conf), and a required auth_url would break every
    service that runs with the local drivers.
    """
    opts = copy.deepcopy(ks_loading.get_auth_common_conf_options())
    opts += copy.deepcopy(ks_loading.get_session_conf_options())
    names = {o.dest for o in opts}
    for opt in copy.deepcopy(ks_loading.get_auth_plugin_conf_options("password")):
        if opt.dest not in names:
            opt.required = False
            opts.append(opt)
            names.add(opt.dest)
    return opts


def list_opts() -> list[tuple[str, Sequence[cfg.Opt]]]:
    return [
        ("drivers", DRIVERS_OPTS),
        ("local_compute", LOCAL_COMPUTE_OPTS),
        ("local_volume", LOCAL_VOLUME_OPTS),
        ("nova", NOVA_OPTS),
        ("cinder", CINDER_OPTS),
        (AUTH_GROUP, _auth_opts()),
    ]
