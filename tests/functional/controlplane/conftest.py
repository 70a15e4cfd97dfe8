import shutil
import tempfile
import time

import pytest

from tests.support.controlplane import ControlPlane


def destroy_everything(cp):
    """Delete what tests left: instances through the API, then any server or volume
    the local drivers still hold (instances outlive the control plane, like VMs)."""
    try:
        for tenant in ("demo", "osc-demo", "bad-input", "faults"):
            trove = cp.client(tenant)
            for inst in trove.instances.list():
                try:
                    trove.instances.force_delete(inst.id)
                except Exception:
                    trove.instances.delete(inst.id)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and any(
                cp.client(t).instances.list() for t in ("demo", "osc-demo", "faults")):
            time.sleep(0.5)
    except Exception:
        pass
    cp.stop()
    from trove_lite.cmd import aio as aio_cmd
    from trove_lite.drivers import factory
    conf = aio_cmd.make_aio_conf(cp.state_dir, config_files=[cp.conf_file])
    drivers = factory.build_drivers(conf)
    errors = []
    # servers first (their processes hold the volumes), then volumes; one failure
    # must not leave the rest running after the test's directory is removed
    for server in drivers.compute.list_servers():
        try:
            drivers.compute.delete_server(server.id)
        except Exception as exc:
            errors.append("server %s: %s" % (server.id, exc))
    for volume in drivers.volume.list_volumes():
        try:
            drivers.volume.delete_volume(volume.id)
        except Exception as exc:
            errors.append("volume %s: %s" % (volume.id, exc))
    assert not errors, "cleanup left: %s" % "; ".join(errors)


@pytest.fixture(scope="module")
def aio():
    base = tempfile.mkdtemp(prefix="trove-lite-cp-")
    cp = ControlPlane(base).start_aio()
    yield cp
    destroy_everything(cp)
    shutil.rmtree(base, ignore_errors=True)
