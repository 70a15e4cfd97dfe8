"""The upgrade flow: move an instance to another version of its datastore.

Trove's script (the first seed), plus what Trove lacks: a clean slow shutdown
before a major upgrade, ``mariadb-upgrade``, a check that the server answers
with the new version, and a rollback::

    guest.pre_upgrade     stop (innodb_fast_shutdown=0), save config/state and a
                          copy of the datadir on the volume, unmount
    compute.rebuild       same server and volume, the new version's image
    guest.post_upgrade    mount, restore, start the new version, mariadb-upgrade
    check                 SELECT VERSION() starts with the new version's number
    guest.finish_upgrade  drop the saved datadir copy; datastore_version updated

If anything after the rebuild fails, the server is rebuilt with the old image
and ``rollback_upgrade`` puts the saved datadir back: the instance is ACTIVE on
its old version with a fault saying why. If pre_upgrade itself fails, the
database is started again on the old version. Either way the task ends NONE.

What the API checked before casting (upgrade.py in instance/): the version is
newer, of the same datastore, active, and the attached configuration group is
valid under the new version's rules.
"""

import json
import logging
import time

from sqlalchemy import func, select

from trove_lite import exceptions
from trove_lite.db import models
from trove_lite.instance import events
from trove_lite.status import ServiceStatus, TaskStatus
from trove_lite.taskmanager import instance_flows as flows_mod

LOG = logging.getLogger(__name__)

# the post_upgrade request, injected with the rebuild (guestagent/upgrade.py EarlyUpgrade)
UPGRADE_PATH = "etc/trove-lite/upgrade.json"


def is_major(old_version, new_version):
    """A change of major.minor: MariaDB's on-disk formats may change (pure)."""
    return tuple(old_version.split(".")[:2]) != tuple(new_version.split(".")[:2])


def answers_as(reported, version):
    """Does ``SELECT VERSION()`` output ``reported`` belong to ``version`` (pure)?

    '11.8.9-MariaDB-0+deb13u1' belongs to '11.8' and to '11.8.9', not to '11.80'.
    """
    number = reported.split("-")[0]
    return number == version or number.startswith(version + ".")


class UpgradeFlows:
    def __init__(self, flows):
        self.flows = flows   # InstanceFlows: state helpers, compute, volumes, guests

    def _version(self, version_id):
        with self.flows.db.session() as s:
            v = s.get(models.DatastoreVersion, version_id)
            return {"id": v.id, "name": v.name, "version": v.version or v.name,
                    "image_id": v.image_id}

    def upgrade(self, instance_id, datastore_version_id):
        f = self.flows
        inst = f.load(instance_id)
        old, new = self._version(inst.datastore_version_id), self._version(datastore_version_id)
        guest = f.guest_factory(instance_id)
        t0 = time.monotonic()
        what = "Upgrade from %s to %s" % (old["name"], new["name"])
        try:
            info = guest.pre_upgrade(slow_shutdown=is_major(old["version"], new["version"]))
        except Exception as e:   # the guest refused, timed out, or the bus failed
            f.add_fault(instance_id, "%s failed before anything changed: %s" % (what, _msg(e)))
            self._start_again(instance_id, guest)
            return
        t = f._step(inst, "pre_upgrade done: database stopped, configuration saved", t0)
        try:
            device = self._device(inst)
            # the guest starts post_upgrade from this file while it still connects
            self._rebuild(inst, new["image_id"], {UPGRADE_PATH: json.dumps(
                {"upgrade_info": info, "volume_device": device})})
            t = f._step(inst, "server rebuilt with image %s" % new["image_id"], t)
            device = f._attach(inst.volume_id, inst.server_id) if inst.volume_id else None
            since = flows_mod.utcnow()
            result = guest.post_upgrade(info, volume_device=device)
            if not answers_as(result["version"], new["version"]):
                raise flows_mod.FlowError(None, "the server answers as %s, not %s" % (
                    result["version"], new["version"]))
            t = f._step(inst, "post_upgrade done: the server answers as %s"
                        % result["version"], t)
        except Exception as e:   # anything after the rebuild: go back to the old version
            LOG.warning("instance %s: %s failed (%s); rolling back", instance_id, what, _msg(e))
            self._rollback(inst, old, info, "%s failed and was rolled back: %s" % (what,
                                                                                   _msg(e)))
            return
        self._record_version(instance_id, new["id"])
        try:
            guest.finish_upgrade()
        except exceptions.TroveLiteError:
            LOG.warning("instance %s: the saved datadir copy was not removed", instance_id,
                        exc_info=True)
        self._serving_then_done(instance_id, since)
        f._step(inst, "%s finished" % what, t0)
        events.record(f.db, instance_id, "upgrade", "%s finished" % what)

    def _record_version(self, instance_id, version_id):
        """The instance runs ``version_id`` now. Its configuration group moves with it
        unless another instance uses it: its values passed the new version's rules
        (the API checked), and its later edits must be checked against them too."""
        with self.flows.db.session() as s:
            inst = s.get(models.Instance, instance_id)
            inst.datastore_version_id = version_id
            if not inst.configuration_id:
                return
            shared = s.execute(select(func.count()).select_from(models.Instance).where(
                models.Instance.configuration_id == inst.configuration_id,
                models.Instance.id != instance_id,
                models.Instance.deleted.is_(False))).scalar()
            if not shared:
                s.get(models.Configuration, inst.configuration_id).datastore_version_id = \
                    version_id

    def _device(self, inst):
        if not inst.volume_id:
            return None
        return self.flows.volumes.get_volume(inst.volume_id).device

    def _rebuild(self, inst, image_id, extra_files=None):
        f = self.flows
        files = {flows_mod.GUEST_CONF_PATH: f.guest_conf(inst.id), **(extra_files or {})}
        f.compute.rebuild_server(inst.server_id, image_id, files=files)
        f.compute.wait_for_status(inst.server_id, "ACTIVE",
                                  f.conf.taskmanager.state_change_wait_time)

    def _rollback(self, inst, old, info, fault):
        f = self.flows
        guest = f.guest_factory(inst.id)
        try:
            self._rebuild(inst, old["image_id"])
            device = f._attach(inst.volume_id, inst.server_id) if inst.volume_id else None
            since = flows_mod.utcnow()
            guest.rollback_upgrade(info, volume_device=device)
        except Exception as e:
            LOG.exception("instance %s: rollback failed", inst.id)
            f.update(inst.id, task_status=TaskStatus.UPGRADE_ERROR)
            f.add_fault(inst.id, "%s; the rollback failed too: %s" % (fault, _msg(e)))
            return
        f.add_fault(inst.id, fault)
        self._serving_then_done(inst.id, since)

    def _start_again(self, instance_id, guest):
        since = flows_mod.utcnow()
        try:
            guest.start_db()
        except exceptions.TroveLiteError:
            LOG.exception("instance %s: could not start the database again", instance_id)
        self._serving_then_done(instance_id, since)

    def _serving_then_done(self, instance_id, since):
        """Wait for a heartbeat newer than ``since`` saying the database serves."""
        f = self.flows
        try:
            f.wait_for_service(instance_id, ServiceStatus.SERVING, f._state_deadline(),
                               since=since)
        except flows_mod.FlowError as e:
            f.add_fault(instance_id, "After the upgrade: %s" % e.message)
        f.set_task(instance_id, TaskStatus.NONE)


def _msg(e):
    return getattr(e, "message", None) or str(e)
