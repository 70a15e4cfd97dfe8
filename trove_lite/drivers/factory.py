"""Build the compute and volume drivers a ConfigOpts asks for.

``build_drivers(conf, deployment_id)`` is what the taskmanager calls: it returns a
``Drivers`` tuple (compute, volume, images). With the local drivers the volume
driver is wired to the compute driver so that attach refuses unknown servers and
server delete detaches the server's volumes, as Nova does. ``images`` is the
local image registry (None for Nova, where Glance holds images); the system's
MariaDB 10.11 is registered in it as ``mariadb-10.11`` on first use.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, NamedTuple

from keystoneauth1 import loading as ks_loading
from oslo_config import cfg

from trove_lite.drivers import images as images_mod
from trove_lite.drivers import opts
from trove_lite.drivers.compute.base import ComputeDriver
from trove_lite.drivers.volume.base import VolumeDriver
from trove_lite.exceptions import DriverError

if TYPE_CHECKING:
    from trove_lite.drivers.compute.local import LocalComputeDriver
    from trove_lite.drivers.volume.local import LocalVolumeDriver


class Drivers(NamedTuple):
    compute: ComputeDriver
    volume: VolumeDriver
    images: images_mod.LocalImageRegistry | None   # None with Nova (Glance holds images)


def local_state_dir(conf: cfg.ConfigOpts, group: str) -> str:
    return getattr(conf, group).state_dir or conf.state_dir


def build_image_registry(conf: cfg.ConfigOpts,
                         register_system: bool = True) -> images_mod.LocalImageRegistry:
    registry = images_mod.LocalImageRegistry(
        os.path.join(local_state_dir(conf, "local_compute"), "images.json"))
    if register_system:
        registry.ensure_system_mariadb()
    return registry


def build_local_volume(conf: cfg.ConfigOpts) -> LocalVolumeDriver:
    from trove_lite.drivers.volume.local import LocalVolumeDriver
    g = conf.local_volume
    return LocalVolumeDriver(local_state_dir(conf, "local_volume"),
                             force_directory=g.force_directory, busy_timeout=g.busy_timeout)


def build_local_compute(conf: cfg.ConfigOpts, images: images_mod.LocalImageRegistry,
                        volumes: LocalVolumeDriver | None = None,
                        deployment_id: str | None = None) -> LocalComputeDriver:
    from trove_lite.drivers.compute.local import LocalComputeDriver
    g = conf.local_compute
    return LocalComputeDriver(local_state_dir(conf, "local_compute"), images,
                              guest_command=g.guest_command,
                              address_prefix=g.address_prefix,
                              boot_seconds=g.boot_seconds, stop_timeout=g.stop_timeout,
                              volumes=volumes, deployment_id=deployment_id,
                              preload_guests=g.preload_guests)


def openstack_session(conf: cfg.ConfigOpts) -> Any:
    """A keystoneauth1 session from ``[openstack_auth]``.

    Like ``keystoneauth1.loading.load_auth_from_conf_options``, except that the
    plugin's options already registered by ``opts.list_opts`` (optional copies of
    the password plugin's) are not registered again, which oslo.config would
    refuse as a conflicting duplicate. Missing required values still fail, with
    keystoneauth's MissingRequiredOptions naming them.
    """
    group = opts.AUTH_GROUP
    if not conf[group].auth_type:
        raise DriverError(reason="[%s] auth_type is not set; the Nova and Cinder drivers "
                                 "need credentials" % group)
    loader: ks_loading.BaseLoader[Any] = ks_loading.get_plugin_loader(conf[group].auth_type)
    known = set(conf[group].keys())
    conf.register_opts([o._to_oslo_opt() for o in loader.get_options()
                        if o.dest not in known], group=group)
    auth = loader.load_from_options_getter(lambda opt: conf[group][opt.dest])
    return ks_loading.load_session_from_conf_options(conf, group, auth=auth)


def build_nova_client(conf: cfg.ConfigOpts, session: Any) -> Any:
    from trove_lite.drivers.compute import nova
    return nova.make_client(session, conf.nova.endpoint_override, conf.nova.region_name)


def build_drivers(conf: cfg.ConfigOpts, deployment_id: str | None = None) -> Drivers:
    compute: ComputeDriver
    volume: VolumeDriver | None = None
    local_volume: LocalVolumeDriver | None = None
    images = None
    session = None
    if conf.drivers.compute == "nova" or conf.drivers.volume == "cinder":
        session = openstack_session(conf)
    if conf.drivers.volume == "local":
        volume = local_volume = build_local_volume(conf)
    if conf.drivers.compute == "local":
        images = build_image_registry(conf)
        local_compute = build_local_compute(conf, images, volumes=local_volume,
                                            deployment_id=deployment_id)
        compute = local_compute
        if local_volume is not None:
            local_volume.server_exists = local_compute.server_exists
    else:
        from trove_lite.drivers.compute.nova import NovaComputeDriver
        compute = NovaComputeDriver(build_nova_client(conf, session),
                                    network_id=conf.nova.network_id,
                                    availability_zone=conf.nova.availability_zone,
                                    delete_timeout=conf.nova.delete_timeout,
                                    poll_interval=conf.nova.poll_interval)
    if conf.drivers.volume == "cinder":
        from trove_lite.drivers.volume import cinder
        volume = cinder.CinderVolumeDriver(
            cinder.make_client(session, conf.cinder.endpoint_override, conf.cinder.region_name),
            build_nova_client(conf, session),
            volume_type=conf.cinder.volume_type,
            availability_zone=conf.cinder.availability_zone,
            status_timeout=conf.cinder.status_timeout,
            poll_interval=conf.cinder.poll_interval)
    # the [drivers] volume option's choices are local and cinder
    assert volume is not None, conf.drivers.volume
    return Drivers(compute, volume, images)
