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

A replication source with replicas is upgraded as a set (``upgrade_set``): each
replica first, one at a time (a replica on the newer version keeps replicating
from the older source: the supported direction); then a planned switchover to
the first replica (replication_flows.switchover: zero loss, the endpoints
move); then the old source, now a replica of the new one. Writes stop once, for
the switchover. A replica that fails its upgrade is rolled back by its own flow
and the set procedure stops there, before the switchover: the source never
changed. The set's stage is recorded (``set_upgrades``) before each starts: a
taskmanager that finds the source UPGRADING with nobody driving it runs the set
procedure again from that stage (a member cut off mid-hop is resumed by it, the
reconciler leaves that member alone; a switchover that happened is not redone).
"""

import contextlib
import datetime
import json
import logging
import time
from typing import Any, Callable, ContextManager

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from trove_lite import exceptions
from trove_lite.common import steps
from trove_lite.db import models
from trove_lite.instance import events
from trove_lite.rpc import guest as guest_rpc
from trove_lite.status import ServiceStatus, TaskStatus
from trove_lite.taskmanager import instance_flows as flows_mod

LOG = logging.getLogger(__name__)

# the post_upgrade request, injected with the rebuild (guestagent/upgrade.py EarlyUpgrade)
UPGRADE_PATH = "etc/trove-lite/upgrade.json"


def is_major(old_version: str, new_version: str) -> bool:
    """A change of major.minor: MariaDB's on-disk formats may change (pure)."""
    return tuple(old_version.split(".")[:2]) != tuple(new_version.split(".")[:2])


def answers_as(reported: str, version: str) -> bool:
    """Does ``SELECT VERSION()`` output ``reported`` belong to ``version`` (pure)?

    '11.8.9-MariaDB-0+deb13u1' belongs to '11.8' and to '11.8.9', not to '11.80'.
    """
    number = reported.split("-")[0]
    return number == version or number.startswith(version + ".")


class UpgradeFlows:
    def __init__(self, flows: flows_mod.InstanceFlows) -> None:
        self.flows = flows   # InstanceFlows: state helpers, compute, volumes, guests
        # claim(instance_id): a context in which no other flow of this taskmanager
        # (nor its reconciler) touches that instance; the TaskManager sets it
        self.claim: Callable[[str], ContextManager[object]] = (
            lambda instance_id: contextlib.nullcontext())

    def _version(self, version_id: str) -> dict[str, Any]:
        with self.flows.db.session() as s:
            v = flows_mod.existing(s, models.DatastoreVersion, version_id)
            return {"id": v.id, "name": v.name, "version": v.version or v.name,
                    "image_id": v.image_id}

    def upgrade(self, instance_id: str, datastore_version_id: str) -> None:
        if self.flows.replication is not None and \
                self.flows.replication.members(instance_id):
            self.upgrade_set(instance_id, datastore_version_id)
        else:
            self.upgrade_one(instance_id, datastore_version_id)

    def upgrade_set(self, source_id: str, datastore_version_id: str) -> None:
        """Replicas first, one switchover, then the old source (see the module doc).

        Each stage is recorded (``set_upgrades``) before it starts, so the next
        taskmanager finishes the set from there (``resume`` -> ``_run_set``)."""
        assert self.flows.replication is not None, "set by the TaskManager"
        members = [r.id for r in self.flows.replication.members(source_id)]
        with self.flows.db.session() as s:
            old = s.get(models.SetUpgrade, source_id)
            if old is not None:
                s.delete(old)
                s.flush()
            s.add(models.SetUpgrade(source_id=source_id, new_version_id=datastore_version_id,
                                    step="replicas", members=json.dumps(members)))
        self._run_set(source_id, datastore_version_id, "replicas", members, None)

    def _run_set(self, source_id: str, version_id: str, step: str, members: list[str],
                 new_source: str | None) -> None:
        """The set procedure from ``step`` on; every stage is repeatable."""
        f = self.flows
        t0 = time.monotonic()
        if step == "replicas":
            for replica_id in members:
                if not self._upgrade_member(replica_id, version_id):
                    self._set_failed(source_id, "The replication set's upgrade stopped "
                                     "before the switchover: replica %s could not be "
                                     "upgraded (see its fault); the source was not "
                                     "touched" % replica_id)
                    return
            new_source, step = members[0], "switchover"
            self._set_step(source_id, step, new_source)
            t0 = f._step(f.load(source_id), "set upgrade: %d replicas upgraded"
                         % len(members), t0)
        if step == "switchover":
            try:
                assert new_source is not None and self.flows.replication is not None, \
                    "the switchover stage records its new source"
                if not self._switched_over(source_id, new_source):
                    with self.claim(new_source):
                        self.flows.replication.switchover(new_source)
            except Exception as e:
                self._set_failed(source_id, "The replication set's upgrade stopped at the "
                                 "switchover (the replicas run the new version, this "
                                 "source the old one and still takes the writes): %s"
                                 % _msg(e))
                return
            self._set_step(source_id, "old_source", new_source)
            t0 = f._step(f.load(source_id), "set upgrade: switched over to %s"
                         % new_source, t0)
        self._upgrade_member(source_id, version_id, own=True)
        self._set_done(source_id)
        f._step(f.load(source_id), "set upgrade finished; %s is the source" % new_source, t0)

    def _upgrade_member(self, instance_id: str, version_id: str, own: bool = False) -> bool:
        """One member's hop, resumed if it was cut off; True when it runs
        ``version_id`` after it. ``own``: the set's source, driven by this flow."""
        f = self.flows
        with f.db.session() as s:
            cut_off = s.get(models.UpgradeProgress, instance_id) is not None
        if not cut_off and f.load(instance_id).datastore_version_id == version_id:
            return True           # upgraded before (by its user, or before the cut)
        with contextlib.nullcontext() if own else self.claim(instance_id):
            if cut_off:
                self._resume_one(instance_id)
            else:
                if not own:
                    f.set_task(instance_id, TaskStatus.UPGRADING)
                self.upgrade_one(instance_id, version_id)
        with f.db.session() as s:
            return (s.get(models.UpgradeProgress, instance_id) is None
                    and flows_mod.existing(s, models.Instance, instance_id).datastore_version_id
                    == version_id)

    def _switched_over(self, source_id: str, new_source: str) -> bool:
        new, old = self.flows.load(new_source), self.flows.load(source_id)
        return new.slave_of_id is None and old.slave_of_id == new.id

    def _set_step(self, source_id: str, step: str, new_source: str | None) -> None:
        with self.flows.db.session() as s:
            row = flows_mod.existing(s, models.SetUpgrade, source_id)
            row.step, row.new_source_id = step, new_source
            row.updated_at = flows_mod.utcnow()

    def _set_done(self, source_id: str) -> None:
        with self.flows.db.session() as s:
            row = s.get(models.SetUpgrade, source_id)
            if row is not None:
                s.delete(row)

    def _set_failed(self, source_id: str, fault: str) -> None:
        self.flows.add_fault(source_id, fault)
        self._set_done(source_id)
        self.flows.set_task(source_id, TaskStatus.NONE)

    def resume_set(self, source_id: str) -> bool:
        """Finish a set upgrade whose taskmanager died; False if there is none."""
        with self.flows.db.session() as s:
            row = s.get(models.SetUpgrade, source_id)
            if row is None:
                return False
            args = (row.new_version_id, row.step, json.loads(row.members),
                    row.new_source_id)
        LOG.info("instance %s: resuming the replication set's upgrade cut off at step %s",
                 source_id, args[1])
        self._run_set(source_id, *args)
        return True

    def upgrade_one(self, instance_id: str, datastore_version_id: str) -> bool:
        """One instance's upgrade; True when it runs the new version after it."""
        f = self.flows
        inst = f.load(instance_id)
        old, new = self._version(inst.datastore_version_id), self._version(datastore_version_id)
        guest = f.guest_factory(instance_id)
        t0 = time.monotonic()
        what = "Upgrade from %s to %s" % (old["name"], new["name"])
        self._progress(instance_id, "pre_upgrade", old_id=old["id"], new_id=new["id"])
        try:
            info = guest.pre_upgrade(slow_shutdown=is_major(old["version"], new["version"]))
        except Exception as e:   # the guest refused, timed out, or the bus failed
            f.add_fault(instance_id, "%s failed before anything changed: %s" % (what, _msg(e)))
            self._start_again(instance_id, guest)
            return False
        self._progress(instance_id, "rebuild", info=info)
        steps.mark("upgrade", "pre_upgrade_done", instance_id)
        f._step(inst, "pre_upgrade done: database stopped, configuration saved", t0)
        return self._from_rebuild(inst, old, new, info, t0)

    def _from_rebuild(self, inst: models.Instance, old: dict[str, Any], new: dict[str, Any],
                      info: dict[str, Any], t0: float) -> bool:
        """Rebuild onto the new image, post_upgrade, check; roll back on failure."""
        f = self.flows
        guest = f.guest_factory(inst.id)
        what = "Upgrade from %s to %s" % (old["name"], new["name"])
        t = time.monotonic()
        try:
            device = self._device(inst)
            # the guest starts post_upgrade from this file while it still connects
            self._rebuild(inst, new["image_id"], {UPGRADE_PATH: json.dumps(
                {"upgrade_info": info, "volume_device": device})})
            steps.mark("upgrade", "server_rebuilt", inst.id)
            t = f._step(inst, "server rebuilt with image %s" % new["image_id"], t)
            device = (f._attach(inst.volume_id, flows_mod.server_of(inst)) if inst.volume_id
                      else None)
            since = flows_mod.utcnow()
            result = guest.post_upgrade(info, volume_device=device)
            if not answers_as(result["version"], new["version"]):
                raise flows_mod.FlowError(None, "the server answers as %s, not %s" % (
                    result["version"], new["version"]))
            steps.mark("upgrade", "post_upgrade_done", inst.id)
            t = f._step(inst, "post_upgrade done: the server answers as %s"
                        % result["version"], t)
        except Exception as e:   # anything after the rebuild: go back to the old version
            LOG.warning("instance %s: %s failed (%s); rolling back", inst.id, what, _msg(e))
            self._rollback(inst, old, info, "%s failed and was rolled back: %s" % (what,
                                                                                   _msg(e)))
            return False
        self._record_version(inst.id, new["id"])
        steps.mark("upgrade", "version_recorded", inst.id)
        self._finish(inst, since)
        steps.mark("upgrade", "serving", inst.id)
        f._step(inst, "%s finished" % what, t0)
        events.record(f.db, inst.id, "upgrade", "%s finished" % what)
        return True

    def _finish(self, inst: models.Instance, since: datetime.datetime) -> None:
        try:
            self.flows.guest_factory(inst.id).finish_upgrade()
        except exceptions.TroveLiteError:
            LOG.warning("instance %s: the saved datadir copy was not removed", inst.id,
                        exc_info=True)
        self._serving_then_done(inst.id, since)

    # -- resume after a taskmanager died ----------------------------------------------
    def _progress(self, instance_id: str, step: str, old_id: str | None = None,
                  new_id: str | None = None, info: dict[str, Any] | None = None) -> None:
        """Record the step the upgrade reached (a new row when old_id is given)."""
        with self.flows.db.session() as s:
            row = s.get(models.UpgradeProgress, instance_id)
            if old_id is not None:
                if row is not None:
                    s.delete(row)
                    s.flush()
                row = models.UpgradeProgress(instance_id=instance_id, old_version_id=old_id,
                                             new_version_id=new_id)
                s.add(row)
            assert row is not None, "the first step (given old_id) makes the row"
            row.step = step
            row.updated_at = flows_mod.utcnow()
            if info is not None:
                row.info = json.dumps(info)

    def _progress_done(self, instance_id: str) -> None:
        with self.flows.db.session() as s:
            row = s.get(models.UpgradeProgress, instance_id)
            if row is not None:
                s.delete(row)

    def resume(self, instance_id: str) -> None:
        """Continue an upgrade whose taskmanager died: the set's, if ``instance_id``
        is a source whose set upgrade was cut off, else its own (``_resume_one``)."""
        if not self.resume_set(instance_id):
            self._resume_one(instance_id)

    def _resume_one(self, instance_id: str) -> None:
        """Continue one instance's upgrade from the step it reached:

        pre_upgrade  the guest was asked to stop: if the database still serves,
                     nothing changed (a fault says the upgrade was cut off); if
                     not, roll back (old image, the saved datadir copy)
        rebuild      stopped and saved: rebuild onto the new image again and go on
                     (a rebuild is repeatable; post_upgrade restores from the
                     volume, whose rollback copy stays until finish)
        finish       the new version is recorded: drop the copy, wait for serving
        """
        f = self.flows
        with f.db.session() as s:
            row = s.get(models.UpgradeProgress, instance_id)
            if row is None:
                return
            step, info = row.step, json.loads(row.info) if row.info else {}
            old_id, new_id, stepped_at = row.old_version_id, row.new_version_id, row.updated_at
        inst = f.load(instance_id)
        old, new = self._version(old_id), self._version(new_id)
        what = "Upgrade from %s to %s" % (old["name"], new["name"])
        LOG.info("instance %s: resuming the upgrade cut off at step %s", instance_id, step)
        if step == "finish":
            self._finish(inst, flows_mod.utcnow())
        elif step == "rebuild":
            self._from_rebuild(inst, old, new, info, time.monotonic())
        elif _serving_since(f.service_status(instance_id), stepped_at):
            f.add_fault(instance_id, "%s was cut off before the database stopped (its "
                        "taskmanager died); nothing changed" % what)
            self._serving_then_done(instance_id, flows_mod.utcnow())
        else:
            self._rollback(inst, old, info, "%s was cut off while the database stopped (its "
                           "taskmanager died) and was rolled back" % what)

    def _record_version(self, instance_id: str, version_id: str) -> None:
        """The instance runs ``version_id`` now; its configuration group follows.

        A group belongs to one version (as an RDS parameter group to one family),
        and its values already passed the new version's rules (the API checked).
        A group no other instance uses moves to the new version. A group other
        instances (still on its version) use stays where it is, and the upgraded
        instance takes the group's copy for the new version: same values, named
        "<name> (<version>)", made on first need and shared by every instance of
        the group that upgrades after (a replication set ends on one copy). The
        server's values do not change either way."""
        with self.flows.db.session() as s:
            inst = flows_mod.existing(s, models.Instance, instance_id)
            inst.datastore_version_id = version_id
            progress = s.get(models.UpgradeProgress, instance_id)
            if progress is not None:
                progress.step = "finish"
            if not inst.configuration_id:
                return
            group = flows_mod.existing(s, models.Configuration, inst.configuration_id)
            if group.datastore_version_id == version_id:
                return
            shared = s.execute(select(func.count()).select_from(models.Instance).where(
                models.Instance.configuration_id == group.id,
                models.Instance.id != instance_id,
                models.Instance.deleted.is_(False))).scalar()
            copy = _copy_for(s, group, version_id, make=bool(shared))
            if copy is None:
                group.datastore_version_id = version_id
                return
            inst.configuration_id = copy.id
            applied = s.get(models.ConfigurationApply, instance_id)
            if applied is not None and applied.configuration_id == group.id:
                applied.configuration_id = copy.id
            LOG.info("instance %s: configuration group %s stays on its version for the "
                     "instances using it; this one now has its copy %s (%s)", instance_id,
                     group.id, copy.id, copy.name)

    def _device(self, inst: models.Instance) -> str | None:
        if not inst.volume_id:
            return None
        return self.flows.volumes.get_volume(inst.volume_id).device

    def _rebuild(self, inst: models.Instance, image_id: str,
                 extra_files: dict[str, str] | None = None) -> None:
        f = self.flows
        files = {flows_mod.GUEST_CONF_PATH: f.guest_conf(inst.id), **(extra_files or {})}
        server_id = flows_mod.server_of(inst)
        f.compute.rebuild_server(server_id, image_id, files=files)
        f.compute.wait_for_status(server_id, "ACTIVE",
                                  f.conf.taskmanager.state_change_wait_time)

    def _rollback(self, inst: models.Instance, old: dict[str, Any], info: dict[str, Any],
                  fault: str) -> None:
        f = self.flows
        guest = f.guest_factory(inst.id)
        try:
            self._rebuild(inst, old["image_id"])
            device = (f._attach(inst.volume_id, flows_mod.server_of(inst)) if inst.volume_id
                      else None)
            since = flows_mod.utcnow()
            guest.rollback_upgrade(info, volume_device=device)
        except Exception as e:
            LOG.exception("instance %s: rollback failed", inst.id)
            f.fail(inst.id, TaskStatus.UPGRADE_ERROR,
                   "%s; the rollback failed too: %s" % (fault, _msg(e)))
            self._progress_done(inst.id)
            return
        f.add_fault(inst.id, fault)
        self._serving_then_done(inst.id, since)

    def _start_again(self, instance_id: str, guest: guest_rpc.GuestAPI) -> None:
        since = flows_mod.utcnow()
        try:
            guest.start_db()
        except exceptions.TroveLiteError:
            LOG.exception("instance %s: could not start the database again", instance_id)
        self._serving_then_done(instance_id, since)

    def _serving_then_done(self, instance_id: str, since: datetime.datetime) -> None:
        """Wait for a heartbeat newer than ``since`` saying the database serves."""
        f = self.flows
        try:
            f.wait_for_service(instance_id, ServiceStatus.SERVING, f._state_deadline(),
                               since=since)
        except flows_mod.FlowError as e:
            f.add_fault(instance_id, "After the upgrade: %s" % e.message)
        self._progress_done(instance_id)
        f.set_task(instance_id, TaskStatus.NONE)


def copy_name(name: str, version_name: str) -> str:
    """The name of a group's copy for another version (pure)."""
    suffix = " (%s)" % version_name
    return name[:255 - len(suffix)] + suffix


def _copy_for(s: Session, group: models.Configuration, version_id: str,
              make: bool) -> models.Configuration | None:
    """``group``'s copy for ``version_id``: an undeleted group of its tenant with the
    copy's name, that version and the same values; made when missing and ``make``."""
    values = _stored_values(s, group.id)
    name = copy_name(group.name, flows_mod.existing(s, models.DatastoreVersion, version_id).name)
    for candidate in s.execute(select(models.Configuration).where(
            models.Configuration.tenant_id == group.tenant_id,
            models.Configuration.datastore_version_id == version_id,
            models.Configuration.name == name,
            models.Configuration.deleted.is_(False))).scalars():
        if _stored_values(s, candidate.id) == values:
            return candidate
    if not make:
        return None
    copy = models.Configuration(name=name, description=group.description,
                                tenant_id=group.tenant_id, datastore_version_id=version_id)
    s.add(copy)
    s.flush()
    for key, value in values.items():
        s.add(models.ConfigurationParameter(configuration_id=copy.id, key=key, value=value))
    return copy


def _stored_values(s: Session, configuration_id: str) -> dict[str, str]:
    return {p.key: p.value for p in s.execute(select(models.ConfigurationParameter).where(
        models.ConfigurationParameter.configuration_id == configuration_id)).scalars()}


def _serving_since(service: tuple[str | None, str | None, datetime.datetime | None],
                   when: datetime.datetime) -> bool:
    """A heartbeat newer than ``when`` says the database serves (pure)."""
    status, _, updated_at = service
    return status in ServiceStatus.SERVING and updated_at is not None and updated_at > when


def _msg(e: BaseException) -> str:
    return getattr(e, "message", None) or str(e)
