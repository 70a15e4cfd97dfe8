"""Replication flows of the taskmanager: seed request, promote, eject, detach.

Each flow is a linear script over the members' guest agents (guestagent
manager's replication methods, see datastore/mariadb/replication.py); the
instance rows' ``slave_of_id`` change only once the servers follow the new
topology. A failure ends with the task cleared and a fault on the instance the
user acted on.

Promote (planned switchover, zero loss): the old source stops its heartbeat and
turns read_only, and reports its final coordinates; the chosen replica, in one
call (``take_over``), applies up to them, notes ITS coordinates (binlog
positions are per server), opens for writes with its semi-sync source side on,
then stops replicating; rw moves to it at once, while the siblings (each having
applied up to the same coordinates) follow it, then the old source. If the
chosen replica cannot catch up in time the old source is reopened and nothing
else changed. Every role change carries the set's new term (a guest refuses
an older one). The phases are timed (``Phases``) into the log and the event.

Eject (the source is dead): the replica that received the most becomes the
source once it applied all of it (``take_over``; rw moves to it at once); the
others apply what they received and
follow it (GTID: from their own position; binlog: from the winner's binlog
position of the first transaction they lack, found by its GTID, which MariaDB
records on every replica whatever the strategy); the dead source leaves the set
and is fenced: ``fenced_by`` names its replacement and a ``fence`` cast waits in
its queue. It stays fenced (BLOCKED, read_only) until a detach releases it,
unless the eject was an automatic failover's: that records a rejoin
(taskmanager/ha.py), which takes the fenced server from there, makes it follow
the new source and clears ``fenced_by``.

Fencing: an agent that (re)starts as a source holds writes (read_only, from its
option file too) and says so in its report; every ``fence_check_interval`` the
taskmanager decides (``decide_returning_source``, pure) to open it (still the
set's source) or fence it (ejected meanwhile: read-only for good, no heartbeat,
shown as role ``fenced``). MariaDB has no super_read_only or offline_mode:
read_only stops every account without READ_ONLY ADMIN, which no account the
API creates holds; only the agent's local root can write.

Seeding from a stored backup (scale-out without load on the source's disk): a
new replica restores the set's latest COMPLETED backup (of the source or of a
replica, within ``seed_backup_max_age``) and replicates from the snapshot's
GTID, provided the source's binlogs still hold what came after it (binlog
strategy: from the source's file/position of the next transaction, found by its
GTID); the account password alone comes over a data-less seed connection.
"""

from __future__ import annotations

import concurrent.futures
import datetime
import json
import logging
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence, Union

from sqlalchemy import select

from trove_lite import exceptions
from trove_lite.common import steps
from trove_lite.db import models
from trove_lite.instance import events, replication
from trove_lite.status import TaskStatus
from trove_lite.taskmanager import backup_flows
from trove_lite.rpc import guest as guest_rpc
from trove_lite.taskmanager.ha import REJOIN_DETACHED, REJOIN_PENDING, Phases, SeedTarget
from trove_lite.taskmanager.instance_flows import existing

if TYPE_CHECKING:
    from trove_lite.taskmanager.instance_flows import InstanceFlows

LOG = logging.getLogger(__name__)
PORT = 3306
# where a member starts following: coordinates, or a function of the member
Coords = Union[dict[str, Any], Callable[[models.Instance], dict[str, Any]]]


class ReplicationFlowError(exceptions.TroveLiteError):
    """A step of promote, eject or a replica's create failed (recorded as a fault)."""

    code = "replication_flow_failed"


class ReplicationFlows:
    def __init__(self, flows: InstanceFlows) -> None:
        """``flows``: the InstanceFlows (state helpers and the guest factory)."""
        self.flows = flows
        self.conf = flows.conf
        self.db = flows.db
        replication.register(self.conf)

    def _guest(self, instance_id: str) -> guest_rpc.GuestAPI:
        return self.flows.guest_factory(instance_id)

    def strategy(self, inst: models.Instance) -> str:
        with self.db.session() as s:
            version = existing(s, models.DatastoreVersion, inst.datastore_version_id)
            name, manager = version.name, version.manager
        return replication.strategy_for(self.conf, name, manager)

    def members(self, source_id: str) -> Sequence[models.Instance]:
        with self.db.session() as s:
            rows = s.execute(select(models.Instance).where(
                models.Instance.slave_of_id == source_id,
                models.Instance.deleted.is_(False)).order_by(models.Instance.id)
            ).scalars().all()
            for r in rows:
                s.expunge(r)
            return rows

    # -- create ----------------------------------------------------------------------
    def seed_request(self, inst: models.Instance | SeedTarget) -> dict[str, Any]:
        """What a replica's prepare needs: the source, strategy, a seed stream, and
        (``seed_backup``, ``coords``) the stored backup it restores instead."""
        assert inst.slave_of_id is not None, "a replica's create"
        source = self.flows.load(inst.slave_of_id)
        strategy = self.strategy(source)
        guest = self._guest(source.id)
        with self.db.session() as s:
            st = s.execute(select(models.ServiceStatus).where(
                models.ServiceStatus.instance_id == source.id)).scalar_one_or_none()
            report = _report(st.replication) if st else None
        try:
            if needs_enable(report, strategy):
                guest.enable_as_source(strategy)
            from_backup = self._seed_backup(source, strategy, guest)
            stream = guest.offer_seed(data=from_backup is None)
        except exceptions.TroveLiteError as e:
            raise ReplicationFlowError("The replication source %s could not offer a "
                                       "snapshot: %s" % (source.id, _msg(e)))
        # the replica starts with its semi-sync side in place: set_durability
        # after the create then changes nothing (no IO thread restart)
        request: dict[str, Any] = {"source_id": source.id, "source_host": source.address,
                   "source_port": PORT, "strategy": strategy, "stream": stream,
                   "durability": self.conf.replication.durability,
                   "semisync_timeout_ms": self.conf.replication.semisync_timeout_ms}
        if from_backup:
            request.update(seed_backup=from_backup[0], coords=from_backup[1])
        LOG.info("replica %s: seeding from %s with strategy %s", inst.id,
                 "backup %s, then %s's binlog" % (from_backup[0], source.id)
                 if from_backup else "%s (%s)" % (source.id, source.address), strategy)
        return request

    def _seed_backup(self, source: models.Instance, strategy: str,
                     guest: guest_rpc.GuestAPI) -> tuple[str, dict[str, Any]] | None:
        """(backup id, coords to replicate from) of the set's backup to seed from,
        or None to stream from the source (decided by ``choose_seed_backup``)."""
        max_age = self.conf.replication.seed_backup_max_age
        if max_age <= 0:
            return None
        members = [source.id] + [m.id for m in self.members(source.id)]
        with self.db.session() as s:
            rows = s.execute(select(models.Backup).where(
                models.Backup.instance_id.in_(members), models.Backup.deleted.is_(False),
                models.Backup.status == "COMPLETED")).scalars().all()
            candidates = [(r.id, r.created, _meta(r)) for r in rows]
        backup_id, gtid, reason = choose_seed_backup(candidates, models.utcnow(), max_age)
        if backup_id is None or gtid is None:
            LOG.info("set of %s: streaming a new seed: %s", source.id, reason)
            return None
        try:
            if strategy == "binlog":
                coords = dict(guest.coords_after(gtid), gtid=gtid)
            elif guest.binlogs_cover(gtid):
                coords = {"gtid": gtid}
            else:
                raise ReplicationFlowError("the source's binlogs begin after %s" % gtid)
        except (exceptions.TroveLiteError, ReplicationFlowError) as e:
            LOG.info("set of %s: backup %s not used to seed (%s): streaming instead",
                     source.id, backup_id, _msg(e))
            return None
        LOG.info("set of %s: seeding from backup %s (%s)", source.id, backup_id, reason)
        return backup_id, coords

    def apply_durability(self, source_id: str) -> None:
        """Give every member of the set the semi-sync side of its role (the
        source waits for an ack only while it has a replica); a member that cannot
        is logged, not fatal: the set still replicates, only asynchronously.
        Members whose last report shows that side already are not asked (a new
        replica starts with it: the create does not wait on N calls)."""
        members = self.members(source_id)
        ha = self.flows.ha
        durability = "async"
        if members:
            durability = ha.durability(source_id) if ha else self.conf.replication.durability
        fence_after = self.conf.ha.source_fence_after if ha else None
        # replicas first: a semi-sync source whose replicas do not ack yet would
        # hold its commits (and fence itself after [ha] source_fence_after)
        ids = [m.id for m in members] + [source_id]
        with self.db.session() as s:
            reports = {st.instance_id: _report(st.replication) for st in s.execute(
                select(models.ServiceStatus).where(
                    models.ServiceStatus.instance_id.in_(ids))).scalars()}
        started, asked = time.monotonic(), 0
        for member_id in ids:
            role = "source" if member_id == source_id else "replica"
            if not needs_durability(reports.get(member_id), role, durability):
                continue
            asked += 1
            try:
                self._guest(member_id).set_durability(
                    durability, self.conf.replication.semisync_timeout_ms, fence_after)
            except exceptions.TroveLiteError as e:
                LOG.warning("instance %s: could not set durability %s: %s", member_id,
                            durability, _msg(e))
        LOG.info("set of %s: durability %s; %d of %d members asked (%.2f s)", source_id,
                 durability, asked, len(ids), time.monotonic() - started)

    # -- promote -----------------------------------------------------------------------
    def promote(self, replica_id: str) -> None:
        ph = Phases()
        try:
            self.switchover(replica_id, ph)
        except Exception as e:
            if not isinstance(e, (ReplicationFlowError, exceptions.TroveLiteError)):
                LOG.exception("promote of %s failed", replica_id)
            self.flows.add_fault(replica_id, "Promote failed: %s" % _msg(e))
            self.flows.set_task(replica_id, TaskStatus.NONE)
            return
        self.flows.set_task(replica_id, TaskStatus.NONE)
        events.record(self.db, replica_id, "promote", "promoted to replication source "
                      "in %.2f s; %s" % (ph.total(), ph))
        LOG.info("instance %s promoted to replication source in %.2f s; %s", replica_id,
                 ph.total(), ph)

    def switchover(self, replica_id: str, phases: Phases | None = None) -> None:
        """The planned promote of ``replica_id`` (zero loss); raises on failure,
        the old source reopened if the chosen replica could not catch up. rw
        moves as soon as the new source is writable: the siblings and the old
        source, off the write path, are repointed after it (a commit on the new
        source waits for the first sibling's semi-sync ack meanwhile). Used by
        promote and by the set upgrade; ``phases`` gets each step's time."""
        ph = phases if phases is not None else Phases()
        new = self.flows.load(replica_id)
        if new.slave_of_id is None:
            raise ReplicationFlowError("instance %s is not a replica" % replica_id)
        old = self.flows.load(new.slave_of_id)
        siblings = [m for m in self.members(old.id) if m.id != new.id]
        strategy = self.strategy(old)
        timeout = self.conf.replication.switchover_timeout
        term = self._new_term(old.id, [old.id, new.id] + [m.id for m in siblings])
        old_guest = self._guest(old.id)
        ph.mark("prepare")
        coords = old_guest.demote_begin(term)
        ph.mark("demote (old source read_only)")
        steps.mark("promote", "source_demoted", replica_id)
        with concurrent.futures.ThreadPoolExecutor(len(siblings) + 2) as pool:
            # the chosen replica catches up and opens in one call; the siblings
            # catch up on their own servers meanwhile
            taking = pool.submit(self._guest(new.id).take_over, coords, timeout, term,
                                 planned=True)
            waits = {m.id: pool.submit(self._guest(m.id).wait_applied, coords, timeout)
                     for m in siblings}
            try:
                took = taking.result()
            except exceptions.GuestTimeout as e:
                # it may have opened: reopening the old source could make two
                raise ReplicationFlowError("the new source did not answer: %s; the old "
                                           "source stays read_only" % _msg(e))
            except Exception as e:
                old_guest.demote_abort()
                raise ReplicationFlowError("the replica did not catch up with the source "
                                           "within %d s; the source was reopened: %s"
                                           % (timeout, _msg(e)))
            for step, seconds in (took.get("phases") or {}).items():
                ph.add("  new source: %s" % step, seconds)
            ph.mark("catch-up and promote (new source writable)")
            steps.mark("promote", "replicas_caught_up", replica_id)
            steps.mark("promote", "replica_promoted", replica_id)
            # the siblings first: the new source's first commits wait for one's ack
            following = pool.submit(self._follow_after, waits, siblings, new,
                                    took["coords"], strategy, term)
            moved = self.flows.move_rw(new.id, new.address,
                                       lambda: self._record_topology(new, siblings + [old]))
            if moved is not None:
                ph.add("  rw moved (admin socket)", moved)
            ph.mark("rw moved, topology recorded")
            errors = following.result()
            ph.mark("siblings repointed")
        # siblings first: once the old source follows the new one it relays the
        # new source's writes, which a sibling still attached to it would then
        # receive twice (in binlog mode nothing drops the duplicates)
        self._follow([old], new, took["coords"], strategy, term)
        ph.mark("old source repointed")
        steps.mark("promote", "members_followed", replica_id)
        self.flows.set_changed(replica_id)
        ph.mark("endpoints and durability")
        if errors:
            raise ReplicationFlowError("these members did not follow the new source: "
                                       + "; ".join(errors))

    def _new_term(self, source_id: str, member_ids: list[str]) -> int | None:
        """The set's next term (every role change of this flow carries it), or
        None when this taskmanager keeps no HA record."""
        ha = self.flows.ha
        return ha.new_term(ha.set_id_of(source_id), member_ids) if ha else None

    def _follow_after(self, waits: dict[str, concurrent.futures.Future[Any]],
                      members: Sequence[models.Instance], new: models.Instance,
                      coords: Coords, strategy: str, term: int | None) -> list[str]:
        """Each of ``members`` follows ``new`` once its catch-up wait returned;
        the errors, not raised (the write path moved already)."""
        for member in members:
            try:
                waits[member.id].result()
            except Exception as e:      # GTID: it resumes from what it applied
                LOG.warning("%s did not catch up before following %s: %s", member.id,
                            new.id, _msg(e))
        return self._follow_all(members, new, coords, strategy, term)

    def _record_topology(self, new: models.Instance, followers: Iterable[models.Instance],
                         fenced: models.Instance | None = None) -> None:
        """``new`` is the source of ``followers`` (and ``fenced`` left the set,
        fenced by it), before they follow it: the endpoints move on it."""
        with self.db.session() as s:
            existing(s, models.Instance, new.id).slave_of_id = None
            for member in followers:
                existing(s, models.Instance, member.id).slave_of_id = new.id
            if fenced is not None:
                row = existing(s, models.Instance, fenced.id)
                row.slave_of_id, row.fenced_by = None, new.id

    def _follow(self, followers: Sequence[models.Instance], new: models.Instance,
                coords: Coords, strategy: str, term: int | None = None) -> None:
        """Point ``followers`` at ``new`` (from ``coords``, or ``coords(member)``)
        and record the topology; raises naming the members that did not."""
        errors = self._follow_all(followers, new, coords, strategy, term)
        if errors:
            raise ReplicationFlowError("these members did not follow the new source: "
                                       + "; ".join(errors))

    def _follow_all(self, followers: Sequence[models.Instance], new: models.Instance,
                    coords: Coords, strategy: str, term: int | None = None) -> list[str]:
        """``_follow`` returning the errors ("member: why") instead."""
        errors: list[str] = []

        def follow(member: models.Instance) -> None:
            try:
                start = coords(member) if callable(coords) else coords
                self._guest(member.id).follow_source(_address(new), PORT, start, strategy,
                                                     new.id, term)
            except exceptions.TroveLiteError as e:
                errors.append("%s: %s" % (member.id, _msg(e)))
        _each(followers, follow)     # each repoints its own server: at once
        with self.db.session() as s:
            existing(s, models.Instance, new.id).slave_of_id = None
            for member in followers:
                existing(s, models.Instance, member.id).slave_of_id = new.id
        return errors

    # -- eject ---------------------------------------------------------------------------
    def eject(self, replica_id: str, term: int | None = None, phases: Phases | None = None,
              prelude: Callable[[], int | None] | None = None) -> None:
        """The source of ``replica_id``'s set is dead: its most advanced replica
        takes over (``term``: the failover's, else a new one). rw moves as soon
        as the winner is writable; the others follow it meanwhile. ``prelude``
        (a failover's fence, returning its term) runs while the replicas are
        asked where they are."""
        ph = phases if phases is not None else Phases()
        try:
            asked = self.flows.load(replica_id)
            dead_id = asked.slave_of_id
            if dead_id is None:
                raise ReplicationFlowError("instance %s is not a replica" % replica_id)
            members = self.members(dead_id)
            dead = self.flows.load(dead_id)
            strategy = self.strategy(dead)
            reports: dict[str, Any] = {}
            errors: list[str] = []

            def status(member: models.Instance) -> None:
                try:
                    reports[member.id] = self._guest(member.id).replication_status()
                except exceptions.TroveLiteError as e:
                    errors.append("%s: %s" % (member.id, _msg(e)))
            with concurrent.futures.ThreadPoolExecutor(1) as pre:
                fencing = pre.submit(prelude) if prelude is not None else None
                _each(members, status)      # each answers for its own server: at once
                ph.mark("replicas' status")
                if fencing is not None:
                    term = fencing.result()
            if term is None:
                term = self._new_term(dead.id, [dead.id] + [m.id for m in members])
            steps.mark("eject", "members_reported", replica_id)
            winner_id = replication_winner(reports)
            if winner_id is None:
                raise ReplicationFlowError("no replica answered: %s" % "; ".join(errors))
            winner = next(m for m in members if m.id == winner_id)
            others = [m for m in members if m.id != winner_id and m.id in reports]
            timeout = self.conf.replication.switchover_timeout
            with concurrent.futures.ThreadPoolExecutor(len(others) + 2) as pool:
                taking = pool.submit(self._guest(winner.id).take_over,
                                     _received(reports[winner.id]), timeout, term)
                waits = {m.id: pool.submit(self._guest(m.id).wait_applied,
                                           _received(reports[m.id]), timeout)
                         for m in others}
                took = taking.result()
                for step, seconds in (took.get("phases") or {}).items():
                    ph.add("  new source: %s" % step, seconds)
                ph.mark("catch-up and promote (new source writable)")
                steps.mark("eject", "winner_promoted", replica_id)
                coords: Coords = took["coords"]
                if strategy == "binlog":
                    # a replica that had received less than the winner resumes at the
                    # winner's copy of its next transaction
                    coords = self._binlog_resume_point(winner)
                following = pool.submit(self._follow_after, waits, others, winner, coords,
                                        strategy, term)
                moved = self.flows.move_rw(winner.id, winner.address,
                                           lambda: self._record_topology(winner, others,
                                                                         fenced=dead))
                if moved is not None:
                    ph.add("  rw moved (admin socket)", moved)
                ph.mark("rw moved, topology recorded")
                follow_errors = following.result()
                ph.mark("others repointed")
                steps.mark("eject", "members_followed", replica_id)
            self._fence(dead.id, winner.id, term)
            steps.mark("eject", "source_fenced", replica_id)
            self.flows.set_changed(winner.id)
            ph.mark("endpoints and durability")
            LOG.info("source %s ejected; %s is the new source (%.2f s; %s)", dead.id,
                     winner.id, ph.total(), ph)
            events.record(self.db, winner.id, "eject", "source %s ejected in %.2f s; %s"
                          % (dead.id, ph.total(), ph))
            if follow_errors:
                raise ReplicationFlowError("these members did not follow the new source: "
                                           + "; ".join(follow_errors))
        except Exception as e:
            if not isinstance(e, (ReplicationFlowError, exceptions.TroveLiteError)):
                LOG.exception("eject of %s's source failed", replica_id)
            self.flows.add_fault(replica_id, "Eject failed: %s" % _msg(e))
        finally:
            self.flows.set_task(replica_id, TaskStatus.NONE)

    def _binlog_resume_point(
            self, winner: models.Instance) -> Callable[[models.Instance], dict[str, Any]]:
        def coords(member: models.Instance) -> dict[str, Any]:
            executed = (self._guest(member.id).replication_status() or {}).get(
                "gtid_slave_pos")
            if executed is None:
                raise ReplicationFlowError("%s reports no executed GTID position" % member.id)
            return self._guest(winner.id).coords_after(executed)
        return coords

    # -- fencing ---------------------------------------------------------------------------
    def _fence(self, instance_id: str, replaced_by: str | None,
              term: int | None = None) -> None:
        """Cast ``fence`` to an ejected source: its agent is dead or cut off, so the
        cast waits in its queue; the fence check covers an agent that reports
        holding writes before it consumed it."""
        try:
            self._guest(instance_id).fence(
                "ejected from its replication set; %s replaced it as the source"
                % replaced_by, replaced_by, term)
        except Exception as e:       # the check loop fences it when it reports
            LOG.warning("fence of %s not sent: %s", instance_id, _msg(e))

    def check_returning_sources(self) -> None:
        """Open or fence each source whose agent came back holding writes."""
        with self.db.session() as s:
            rows = s.execute(select(models.Instance, models.ServiceStatus).join(
                models.ServiceStatus,
                models.ServiceStatus.instance_id == models.Instance.id).where(
                models.Instance.deleted.is_(False),
                models.ServiceStatus.replication.like('%writes_held%'))).all()
            snaps = [(i.id, i.fenced_by, i.slave_of_id, i.task,
                      _report(st.replication)) for i, st in rows]
        for instance_id, fenced_by, slave_of, task, report in snaps:
            action, reason = decide_returning_source(report, fenced_by, slave_of, task)
            if action == NOTHING:
                continue
            LOG.info("source %s: %s (%s)", instance_id, action, reason)
            try:
                if action == OPEN:
                    self._guest(instance_id).open_source()
                else:
                    self._fence(instance_id, fenced_by)
            except Exception as e:
                LOG.warning("source %s: %s not sent: %s", instance_id, action, _msg(e))

    def start_fence_checks(self, stop: threading.Event) -> None:
        def loop() -> None:
            while not stop.wait(self.conf.replication.fence_check_interval):
                try:
                    self.check_returning_sources()
                except Exception:
                    LOG.exception("Unexpected exception raised, please report it as a BUG")
        threading.Thread(target=loop, name="fence-checks", daemon=True).start()

    # -- detach ----------------------------------------------------------------------------
    def _cancel_rejoin(self, instance_id: str) -> None:
        """A fenced former source released by detach stands alone: a rejoin an
        automatic failover recorded for it (taskmanager/ha.py) is not done."""
        with self.db.session() as s:
            row = s.get(models.HARejoin, instance_id)
            if row is not None and row.state == REJOIN_PENDING:
                row.state, row.reason = REJOIN_DETACHED, ("released by a detach: it "
                                                          "stands alone")

    def detach(self, replica_id: str) -> None:
        try:
            source_id = self.flows.load(replica_id).slave_of_id
            self._guest(replica_id).detach_replica()
            self.flows.update(replica_id, slave_of_id=None, fenced_by=None)
            self._cancel_rejoin(replica_id)
            events.record(self.db, replica_id, "detach", "detached from %s" % source_id)
            if source_id:
                self.flows.set_changed(source_id)
        except Exception as e:
            if not isinstance(e, exceptions.TroveLiteError):
                LOG.exception("detach of %s failed", replica_id)
            self.flows.add_fault(replica_id, "Detach failed: %s" % _msg(e))
        finally:
            self.flows.set_task(replica_id, TaskStatus.NONE)


OPEN = "open"
FENCE = "fence"
NOTHING = "nothing"


def needs_enable(report: dict[str, Any] | None, strategy: str) -> bool:
    """Whether a source must be (re)enabled before it seeds a replica (pure): not
    when its last report shows it serving as a source of ``strategy`` (account,
    heartbeat writer and role in place), which spares each further replica's
    create a round of statements on the source."""
    return not (report and report.get("role") == "source"
                and report.get("strategy") == strategy and not report.get("writes_held")
                and not report.get("error") and report.get("read_only") is False)


def needs_durability(report: dict[str, Any] | None, role: str, durability: str) -> bool:
    """Whether a member with the last replication ``report`` must be asked to
    take the semi-sync side of ``role`` under ``durability`` (pure). Asked
    unless the report shows that role with that durability and side enabled as
    it should be; a stale report only costs an idempotent call."""
    semi = (report or {}).get("semisync") or {}
    if not report or report.get("role") != role or semi.get("durability") != durability:
        return True
    want = durability == "semisync"
    return bool(semi.get("enabled")) != want or semi.get("side") != role


def decide_returning_source(report: dict[str, Any] | None, fenced_by: str | None,
                            slave_of_id: str | None,
                            task_status: str | None) -> tuple[str, str]:
    """(action, reason) for an instance whose agent reports a replication block
    ``report`` (pure). A source holding writes after its agent restarted is
    opened if the control plane still has it as a source, fenced if it was
    ejected meanwhile (``fenced_by``); anything else is left as it is."""
    if not report or report.get("role") != "source" or not report.get("writes_held"):
        return NOTHING, "not a source holding writes"
    if fenced_by:
        return FENCE, ("it was ejected while away and %s replaced it: kept read-only"
                       % fenced_by)
    if slave_of_id:
        return NOTHING, ("the control plane has it as a replica of %s: left read-only "
                         "for a flow or an operator" % slave_of_id)
    if task_status not in (None, TaskStatus.NONE):
        return NOTHING, "task %s in progress: its flow decides" % task_status
    return OPEN, "still the source of its set: writes open"


def choose_seed_backup(
        candidates: Sequence[tuple[str, datetime.datetime | None, dict[str, Any]]],
        now: datetime.datetime, max_age: float) -> tuple[str | None, str | None, str]:
    """(backup id, GTID, reason) of the newest of ``candidates`` [(id, created,
    meta)] that is younger than ``max_age`` seconds and records its GTID
    position; (None, None, reason) when none is (pure)."""
    fresh = [(created, bid, meta) for bid, created, meta in candidates
             if created is not None and (now - created).total_seconds() <= max_age]
    for created, bid, meta in sorted(fresh, key=lambda c: c[0], reverse=True):
        gtid = replication.snapshot_gtid(meta)
        if gtid:
            age = (now - created).total_seconds()
            return bid, gtid, "backup %s taken %.0f s ago at GTID %s" % (bid, age, gtid)
    if not candidates:
        return None, None, "the set has no completed backup"
    if not fresh:
        return None, None, "no backup of the set is younger than %d s" % max_age
    return None, None, "no recent backup records its GTID position"


def _meta(row: models.Backup) -> dict[str, Any]:
    return backup_flows._meta(row)


def _report(raw: str | None) -> dict[str, Any] | None:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def replication_winner(reports: dict[str, dict[str, Any] | None]) -> str | None:
    """The member that executed the most of the dead source's changes (pure)."""
    from trove_lite.guestagent.datastore.mariadb.replication import most_advanced
    return most_advanced({mid: (r or {}).get("received_coords")
                          for mid, r in reports.items() if r and r.get("received_coords")})


def _received(report: dict[str, Any]) -> dict[str, Any]:
    """What a replica received of the dead source: it applies all of it before it
    is repointed (its relay log is dropped by CHANGE MASTER)."""
    return dict(report.get("received_coords") or {})


def _each(members: Sequence[models.Instance], fn: Callable[[models.Instance], None]) -> None:
    """``fn(member)`` for every member at once (each is a call to its own guest);
    the first exception raised is raised again once all returned."""
    if len(members) < 2:
        for member in members:
            fn(member)
        return
    with concurrent.futures.ThreadPoolExecutor(len(members)) as pool:
        futures = [pool.submit(fn, m) for m in members]
    for future in futures:
        future.result()


def _address(inst: models.Instance) -> str:
    if not inst.address:
        raise ReplicationFlowError("instance %s has no address yet" % inst.id)
    return inst.address


def _msg(e: BaseException) -> str:
    return getattr(e, "message", None) or str(e)
