"""Replication flows of the taskmanager: seed request, promote, eject, detach.

Each flow is a linear script over the members' guest agents (guestagent
manager's replication methods, see datastore/mariadb/replication.py); the
instance rows' ``slave_of_id`` change only once the servers follow the new
topology. A failure ends with the task cleared and a fault on the instance the
user acted on.

Promote (planned switchover, zero loss): the old source stops its heartbeat and
turns read_only, and reports its final coordinates; every replica applies up to
them; the chosen one stops replicating and reports ITS coordinates before it
takes a write (binlog positions are per server); the old source and the siblings
follow it from there. If a replica cannot catch up in time the old source is
reopened and nothing else changed.

Eject (the source is dead): the replica that received the most becomes the
source once it applied all of it; the others apply what they received and
follow it (GTID: from their own position; binlog: from the winner's binlog
position of the first transaction they lack, found by its GTID, which MariaDB
records on every replica whatever the strategy); the dead source leaves the set.
"""

import logging
import time

from sqlalchemy import select

from trove_lite import exceptions
from trove_lite.db import models
from trove_lite.instance import replication
from trove_lite.status import TaskStatus

LOG = logging.getLogger(__name__)
PORT = 3306


class ReplicationFlowError(Exception):
    pass


class ReplicationFlows:
    def __init__(self, flows):
        """``flows``: the InstanceFlows (state helpers and the guest factory)."""
        self.flows = flows
        self.conf = flows.conf
        self.db = flows.db
        replication.register(self.conf)

    def _guest(self, instance_id):
        return self.flows.guest_factory(instance_id)

    def strategy(self, inst):
        with self.db.session() as s:
            name = s.get(models.DatastoreVersion, inst.datastore_version_id).name
        return replication.strategy_for(self.conf, name)

    def members(self, source_id):
        with self.db.session() as s:
            rows = s.execute(select(models.Instance).where(
                models.Instance.slave_of_id == source_id,
                models.Instance.deleted.is_(False)).order_by(models.Instance.id)
            ).scalars().all()
            for r in rows:
                s.expunge(r)
            return rows

    # -- create ----------------------------------------------------------------------
    def seed_request(self, inst):
        """What a replica's prepare needs: the source, strategy, a seed stream."""
        source = self.flows.load(inst.slave_of_id)
        strategy = self.strategy(source)
        guest = self._guest(source.id)
        try:
            guest.enable_as_source(strategy)
            stream = guest.offer_seed()
        except exceptions.TroveLiteError as e:
            raise ReplicationFlowError("The replication source %s could not offer a "
                                       "snapshot: %s" % (source.id, _msg(e)))
        LOG.info("replica %s: seeding from %s (%s) with strategy %s", inst.id, source.id,
                 source.address, strategy)
        return {"source_id": source.id, "source_host": source.address,
                "source_port": PORT, "strategy": strategy, "stream": stream}

    def apply_durability(self, source_id):
        """Give every member of the set the semi-sync side of its role (the
        source waits for an ack only while it has a replica); a member that cannot is logged, not fatal: the
        set still replicates, only asynchronously."""
        members = self.members(source_id)
        durability = self.conf.replication.durability if members else "async"
        for member_id in [source_id] + [m.id for m in members]:
            try:
                self._guest(member_id).set_durability(
                    durability, self.conf.replication.semisync_timeout_ms)
            except exceptions.TroveLiteError as e:
                LOG.warning("instance %s: could not set durability %s: %s", member_id,
                            durability, _msg(e))

    # -- promote -----------------------------------------------------------------------
    def promote(self, replica_id):
        started = time.monotonic()
        try:
            self.switchover(replica_id)
        except Exception as e:
            if not isinstance(e, (ReplicationFlowError, exceptions.TroveLiteError)):
                LOG.exception("promote of %s failed", replica_id)
            self.flows.add_fault(replica_id, "Promote failed: %s" % _msg(e))
            self.flows.set_task(replica_id, TaskStatus.NONE)
            return
        self.flows.set_task(replica_id, TaskStatus.NONE)
        LOG.info("instance %s promoted to replication source in %.2f s", replica_id,
                 time.monotonic() - started)

    def switchover(self, replica_id: str) -> None:
        """The planned promote of ``replica_id`` (zero loss); raises on failure,
        the old source reopened if the replicas could not catch up. The endpoints
        move before it returns. Used by promote and by the set upgrade."""
        new = self.flows.load(replica_id)
        old = self.flows.load(new.slave_of_id)
        siblings = [m for m in self.members(old.id) if m.id != new.id]
        strategy = self.strategy(old)
        timeout = self.conf.replication.switchover_timeout
        old_guest = self._guest(old.id)
        coords = old_guest.demote_begin()
        try:
            for member in [new] + siblings:
                self._guest(member.id).wait_applied(coords, timeout)
        except Exception as e:
            old_guest.demote_abort()
            raise ReplicationFlowError("the replicas did not catch up with the source "
                                       "within %d s; the source was reopened: %s"
                                       % (timeout, _msg(e)))
        new_coords = self._guest(new.id).promote_to_source()
        # siblings first: once the old source follows the new one it relays the
        # new source's writes, which a sibling still attached to it would then
        # receive twice (in binlog mode nothing drops the duplicates)
        self._follow(siblings + [old], new, new_coords, strategy)
        self.flows.set_changed(replica_id)     # rw moved before the promote shows done

    def _follow(self, followers, new, coords, strategy):
        """Point ``followers`` at ``new`` (from ``coords``, or ``coords(member)``)
        and record the topology."""
        errors = []
        for member in followers:
            try:
                start = coords(member) if callable(coords) else coords
                self._guest(member.id).follow_source(new.address, PORT, start, strategy,
                                                     new.id)
            except exceptions.TroveLiteError as e:
                errors.append("%s: %s" % (member.id, _msg(e)))
        with self.db.session() as s:
            s.get(models.Instance, new.id).slave_of_id = None
            for member in followers:
                s.get(models.Instance, member.id).slave_of_id = new.id
        if errors:
            raise ReplicationFlowError("these members did not follow the new source: "
                                       + "; ".join(errors))

    # -- eject ---------------------------------------------------------------------------
    def eject(self, replica_id):
        started = time.monotonic()
        try:
            asked = self.flows.load(replica_id)
            dead_id = asked.slave_of_id
            members = self.members(dead_id)
            dead = self.flows.load(dead_id)
            strategy = self.strategy(dead)
            reports, errors = {}, []
            for member in members:
                try:
                    reports[member.id] = self._guest(member.id).replication_status()
                except exceptions.TroveLiteError as e:
                    errors.append("%s: %s" % (member.id, _msg(e)))
            winner_id = replication_winner(reports)
            if winner_id is None:
                raise ReplicationFlowError("no replica answered: %s" % "; ".join(errors))
            winner = next(m for m in members if m.id == winner_id)
            others = [m for m in members if m.id != winner_id and m.id in reports]
            for member in [winner] + others:
                self._guest(member.id).wait_applied(
                    _received(reports[member.id]), self.conf.replication.switchover_timeout)
            coords = self._guest(winner.id).promote_to_source()
            if strategy == "binlog":
                # a replica that had received less than the winner resumes at the
                # winner's copy of its next transaction
                coords = self._binlog_resume_point(winner)
            self._follow(others, winner, coords, strategy)
            with self.db.session() as s:
                s.get(models.Instance, dead.id).slave_of_id = None
            LOG.info("source %s ejected; %s is the new source (%.2f s)", dead.id, winner.id,
                     time.monotonic() - started)
            self.flows.set_changed(winner.id)
        except Exception as e:
            if not isinstance(e, (ReplicationFlowError, exceptions.TroveLiteError)):
                LOG.exception("eject of %s's source failed", replica_id)
            self.flows.add_fault(replica_id, "Eject failed: %s" % _msg(e))
        finally:
            self.flows.set_task(replica_id, TaskStatus.NONE)

    def _binlog_resume_point(self, winner):
        def coords(member):
            executed = (self._guest(member.id).replication_status() or {}).get(
                "gtid_slave_pos")
            return self._guest(winner.id).coords_after(executed)
        return coords

    # -- detach ----------------------------------------------------------------------------
    def detach(self, replica_id):
        try:
            source_id = self.flows.load(replica_id).slave_of_id
            self._guest(replica_id).detach_replica()
            self.flows.update(replica_id, slave_of_id=None)
            if source_id:
                self.flows.set_changed(source_id)
        except Exception as e:
            if not isinstance(e, exceptions.TroveLiteError):
                LOG.exception("detach of %s failed", replica_id)
            self.flows.add_fault(replica_id, "Detach failed: %s" % _msg(e))
        finally:
            self.flows.set_task(replica_id, TaskStatus.NONE)


def replication_winner(reports):
    """The member that executed the most of the dead source's changes (pure)."""
    from trove_lite.guestagent.datastore.mariadb.replication import most_advanced
    return most_advanced({mid: (r or {}).get("received_coords")
                          for mid, r in reports.items() if r and r.get("received_coords")})


def _received(report):
    """What a replica received of the dead source: it applies all of it before it
    is repointed (its relay log is dropped by CHANGE MASTER)."""
    return dict(report.get("received_coords") or {})


def _msg(e):
    return getattr(e, "message", None) or str(e)
