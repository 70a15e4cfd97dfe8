"""The fault matrix: SIGKILL one process at one logged step of one flow, restart
what a supervisor would, and check the outcome.

Rows are the flows' own step lists (``common/steps.FLOW_STEPS``), columns the
processes (``TARGETS``), so a step added to a flow is a new row with no edit here.
A cell starts the flow, watches the taskmanager's log for ``instance <id>: <flow>
step <key>``, SIGKILLs the target at once, then restarts it as its supervisor
would (api, taskmanager, conductor: the service manager; the guest agent: the
server's init, ``LocalCompute.restart_guest``; mariadbd: nothing, as the agent does
not restart it, so an instance whose database crashed shows SHUTDOWN and the
cell then restarts it through the API, as an operator would). It then checks:

- stuck: the instance (or backup) did not end ACTIVE, SHUTDOWN, or ERROR with a
  fault (deleted, for delete) within the flow's timeout;
- lost: a row committed before the cell is missing once the database serves;
- leaked: once the cell's instances and backups are deleted (and 60 s for the tails
  of their deletes, such as the binlog archive's pruning), a server, volume,
  loop device, mount, mariadbd or guest process, or backup object that was not
  there before the cell.
"""

import dataclasses
import datetime
import glob
import json
import os
import signal
import subprocess
import time
import uuid

import pymysql
import requests

from tests.support.controlplane import ControlPlane
from trove_lite.common.steps import FLOW_STEPS, GUEST_FLOWS

TARGETS = ("api", "taskmanager", "conductor", "guest", "mariadbd")
ROWS = 3
UPGRADE_TO = "11.8"     # the default version's instance is upgraded to this one
# how long a flow may take before its instance counts as stuck
TIMEOUT = {"create": 150, "restore": 150, "upgrade": 300, "promote": 150, "eject": 150}
PASSWORD = "Fault-matrix-pw1"
END = {"ACTIVE", "ERROR", "SHUTDOWN"}


def all_cells() -> list[tuple[str, str, str]]:
    return [(flow, step, target) for flow, keys in FLOW_STEPS.items()
            for step in keys for target in TARGETS]


def sampled_cells(n: int, day: datetime.date | None = None) -> list[tuple[str, str, str]]:
    """``n`` cells spread over the matrix, the slice rotating by date (UTC): every
    cell runs within len(matrix)/n days of CI."""
    cells = all_cells()
    day = day or datetime.datetime.now(datetime.timezone.utc).date()
    start = day.toordinal() % len(cells)
    stride = max(1, len(cells) // n)
    return [cells[(start + i * stride) % len(cells)] for i in range(n)]


@dataclasses.dataclass
class Result:
    cell: tuple[str, str, str]
    killed: bool = False
    reached: bool = False
    stuck: str = ""
    lost: str = ""
    leaked: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.reached and not (self.stuck or self.lost or self.leaked)

    def line(self) -> str:
        flow, step, target = self.cell
        verdict = "ok" if self.ok else "; ".join(
            x for x in ("" if self.reached else "step not reached",
                        self.stuck and "STUCK " + self.stuck,
                        self.lost and "LOST " + self.lost,
                        self.leaked and "LEAKED " + self.leaked) if x)
        return "%-8s %-18s %-12s %-7s %5.1f s  %s" % (
            flow, step, target, "killed" if self.killed else "-", self.seconds, verdict)


def start_plane(base: str) -> ControlPlane:
    plane = ControlPlane(base, usage_timeout=90, heartbeat_interval=1, extra_conf=(
        "\n[taskmanager]\nstate_change_wait_time = 45\nflow_lease_seconds = 3\n"
        # eject needs the source silent this long; the matrix ejects, HA must not
        "[replication]\nsource_heartbeat_expiry = 5\n[ha]\nauto_failover = false\n"))
    plane.start_services()
    plane.wait_taskmanager()
    return plane


class Matrix:
    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane
        self.trove = plane.client("faults")
        from trove_lite.cmd import aio as aio_cmd
        from trove_lite.drivers import factory
        self.conf = aio_cmd.make_aio_conf(plane.state_dir, config_files=[plane.conf_file])
        self.drivers = factory.build_drivers(self.conf)
        self._backup = None     # (source id, backup id) restores are made from
        self._upgrade_ready = False
        self.migration: str | None = None   # the schema migration a cell started

    # -- helpers ---------------------------------------------------------------------
    def log_path(self, flow: str, inst_id: str) -> str:
        """Where ``flow`` logs its steps: the taskmanager's log, or the guest's."""
        if flow in GUEST_FLOWS:
            return os.path.join(self.server_dir(inst_id) or "/nonexistent", "guest.log")
        return os.path.join(self.plane.base_dir, "taskmanager.log")

    def log_size(self, flow: str = "create", inst_id: str = "") -> int:
        try:
            return os.path.getsize(self.log_path(flow, inst_id))
        except OSError:
            return 0

    def wait_log(self, offset: int, pattern: str, timeout: float, path: str = "") -> bool:
        path = path or os.path.join(self.plane.base_dir, "taskmanager.log")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with open(path, errors="replace") as f:
                    f.seek(offset)
                    if pattern in f.read():
                        return True
            except OSError:
                pass
            time.sleep(0.02)
        return False

    def create(self, name: str, **kwargs) -> str:
        """A create; a restore brings its database and user from the backup."""
        if "restorePoint" not in kwargs:
            kwargs.update(databases=[{"name": "d"}], users=[
                {"name": "u", "password": PASSWORD, "databases": [{"name": "d"}]}])
        return self.trove.instances.create(name, "1", volume={"size": 1},
                                           datastore="mariadb", **kwargs).id

    def wait(self, inst_id: str, statuses: set, timeout: float):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                inst = self.trove.instances.get(inst_id)
            except Exception as e:  # the API restarting, or the instance gone
                if "404" in str(e) or "could not be found" in str(e):
                    return None
                time.sleep(0.3)
                continue
            last = inst
            if inst.status in statuses:
                return inst
            time.sleep(0.3)
        return last

    def connect(self, inst_id: str):
        inst = self.trove.instances.get(inst_id)
        return pymysql.connect(host=inst.ip[0], user="u", password=PASSWORD, database="d",
                               connect_timeout=5, autocommit=True)

    def write_rows(self, inst_id: str) -> None:
        with self.connect(inst_id) as c, c.cursor() as cur:
            cur.execute("CREATE TABLE IF NOT EXISTS t (id INT PRIMARY KEY)")
            cur.executemany("INSERT IGNORE INTO t VALUES (%s)", [(i,) for i in range(ROWS)])

    def count_rows(self, inst_id: str) -> int:
        with self.connect(inst_id) as c, c.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM t")
            return cur.fetchone()[0]

    def ready_instance(self, name: str) -> str:
        inst_id = self.create(name)
        inst = self.wait(inst_id, END, 120)
        assert inst is not None and inst.status == "ACTIVE", "setup of %s: %s" % (
            name, inst and inst.status)
        self.write_rows(inst_id)
        return inst_id

    def backup_for_restore(self) -> str:
        if self._backup is None:
            source = self.ready_instance("fm-restore-source")
            bid = self.trove.backups.create("fm-restore", source).id
            deadline = time.monotonic() + 120
            while self.trove.backups.get(bid).status != "COMPLETED":
                assert time.monotonic() < deadline, "setup backup did not complete"
                time.sleep(0.5)
            self._backup = (source, bid)
        return self._backup[1]

    def server_dir(self, inst_id: str) -> str | None:
        try:
            sid = getattr(self.trove.instances.get(inst_id), "server_id", None)
        except Exception:
            sid = None
        for server in self.drivers.compute.list_servers():
            if server.name == "trove-" + inst_id:
                return self.drivers.compute.server_dir(server.id)
        return None if sid is None else self.drivers.compute.server_dir(sid)

    # -- what exists on the machine --------------------------------------------------
    def inventory(self) -> dict[str, set]:
        state = self.plane.state_dir
        loops = subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout
        with open("/proc/mounts") as f:
            mounts = {ln.split()[1] for ln in f if state in ln}
        procs = set()
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    argv = f.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if state in argv and ("mariadbd" in argv or "--server-dir" in argv):
                procs.add("%s %s" % (pid, argv[:80]))
        objects = set()
        for root, _dirs, files in os.walk(os.path.join(state, "backups")):
            objects.update(os.path.join(root, n) for n in files)
        return {"servers": {s.id for s in self.drivers.compute.list_servers()},
                "volumes": {v.id for v in self.drivers.volume.list_volumes()},
                "loops": {ln.split(":")[0] for ln in loops.splitlines() if state in ln},
                "mounts": mounts, "processes": procs, "objects": objects}

    def settled_inventory(self, before: dict[str, set], timeout: float = 60,
                          live_archive: str | None = None) -> dict[str, set]:
        """What is left once the deletes' tails ran: an instance leaves the list when
        its delete is recorded, and its archived binlog is pruned after that (seconds
        later on a loaded machine), so only what outlives ``timeout`` is leaked.
        ``live_archive``: the archive path of an instance that stays (not counted)."""
        deadline = time.monotonic() + timeout
        while True:
            after = self.inventory()
            if live_archive:
                after["objects"] = {o for o in after["objects"] if live_archive not in o}
            if not any(after[k] - before[k] for k in after) or time.monotonic() > deadline:
                return after
            time.sleep(1)

    # -- kill and supervise ----------------------------------------------------------
    def kill(self, target: str, inst_id: str) -> bool:
        plane = self.plane
        if target in ("api", "taskmanager", "conductor"):
            plane.kill(target)
            plane.start_service(target)
            if target == "api":
                plane.wait_api()
            return True
        sdir = self.server_dir(inst_id)
        if sdir is None:
            return False
        if target == "guest":
            try:
                with open(os.path.join(sdir, "guest.pid")) as f:
                    pid = int(f.read().split()[0])
                os.kill(pid, signal.SIGKILL)
            except (OSError, ValueError):
                return False
            time.sleep(0.3)
            self.drivers.compute.restart_guest(os.path.basename(sdir))
            return True
        for pid_file in glob.glob(os.path.join(sdir, "**", "mysqld.pid"), recursive=True):
            try:
                with open(pid_file) as f:
                    os.kill(int(f.read().split()[0]), signal.SIGKILL)
                return True
            except (OSError, ValueError):
                continue
        return False

    # -- one cell ----------------------------------------------------------------------
    def prepare(self, flow: str, tag: str, made: list) -> tuple[str | None, str | None]:
        """What the flow needs before it starts: (the instance it acts on, the
        instance whose committed rows must survive)."""
        if flow == "restore":
            self.backup_for_restore()
            return None, None
        if flow == "create":
            return None, None
        if flow == "upgrade":
            self.upgrade_image()
        inst_id = self.ready_instance(tag)
        made.append(inst_id)
        if flow in ("promote", "eject"):
            replica = self.create_replica(tag + "-r", inst_id)
            made.append(replica)
            return replica, replica
        return inst_id, inst_id

    def start(self, flow: str, tag: str, inst_id: str | None, made: list,
              backups: list) -> str:
        """Start the flow; the instance whose steps are logged."""
        if flow == "create":
            inst_id = self.create(tag)
            made.append(inst_id)
        elif flow == "restore":
            assert self._backup is not None
            inst_id = self.create(tag, restorePoint={"backupRef": self._backup[1]})
            made.append(inst_id)
        assert inst_id is not None
        if flow == "delete":
            self.trove.instances.delete(inst_id)
        elif flow == "restart":
            self.trove.instances.restart(inst_id)
        elif flow == "resize":
            self.trove.instances.resize_instance(inst_id, "2")
        elif flow == "resize_volume":
            self.trove.instances.resize_volume(inst_id, 2)
        elif flow == "backup":
            backups.append(self.trove.backups.create(tag, inst_id).id)
        elif flow == "upgrade":
            self.trove.instances.upgrade(inst_id, UPGRADE_TO)
        elif flow == "promote":
            self.trove.instances.promote_to_replica_source(inst_id)
        elif flow == "eject":
            self.silence_source(inst_id)
        elif flow == "schema_migration":
            self.migration = self.api("POST", inst_id, "/schema_migrations", {
                "schema_migration": {"database": "d", "table": "t",
                                     "alter": "ADD COLUMN c INT"}})["schema_migration"]["id"]
        return inst_id

    def run(self, flow: str, step: str, target: str) -> Result:
        res = Result((flow, step, target))
        t0 = time.monotonic()
        before = self.inventory()
        tag = "fm-%s-%s-%s-%s" % (flow, step, target, uuid.uuid4().hex[:4])
        made, backups = [], []
        self.migration = None
        try:
            inst_id, rows_of = self.prepare(flow, tag, made)
            if flow == "restore":
                before = self.inventory()   # the setup's source and backup stay
            path = self.log_path(flow, inst_id or "")
            offset = self.log_size(flow, inst_id or "")
            inst_id = self.start(flow, tag, inst_id, made, backups)
            if flow == "restore":
                rows_of = inst_id
            res.reached = self.wait_log(offset, "instance %s: %s step %s" % (
                inst_id, flow, step), 120 if flow != "upgrade" else 240, path)
            if res.reached:
                res.killed = self.kill(target, inst_id)
            self.check_end(res, flow, inst_id, backups)
            if rows_of and not res.stuck and flow != "delete":
                self.check_rows(res, rows_of)
        except Exception as e:      # the cell's own setup failed: say so, do not hide it
            res.stuck = res.stuck or "cell error: %r" % (e,)
        finally:
            self.clean(made, backups)
            # the restore setup's source lives on across cells and keeps archiving
            # its binlog (CI saw the first segment of its binlog ship after
            # ``before``): its archive is not the cell's to clean
            live = ("/%s/binlog/" % self._backup[0]
                    if flow == "restore" and self._backup is not None else None)
            after = self.settled_inventory(before, live_archive=live)
            res.leaked = "; ".join("%s %s" % (k, sorted(after[k] - before[k]))
                                   for k in after if after[k] - before[k])
            res.seconds = time.monotonic() - t0
        return res

    # -- the setups of the later flows -------------------------------------------------
    def api(self, method: str, inst_id: str, path: str, body=None) -> dict:
        r = requests.request(method, self.plane.endpoint("faults") + "/instances/%s%s" % (
            inst_id, path), data=None if body is None else json.dumps(body),
            headers={"Content-Type": "application/json"}, timeout=60)
        assert r.status_code < 300, "%s %s: %s %s" % (method, path, r.status_code, r.text)
        return r.json() if r.content else {}

    def upgrade_image(self) -> None:
        if not self._upgrade_ready:
            from tests.support.controlplane import manage
            from trove_lite.drivers import imagebuild
            imagebuild.build("mariadb-" + UPGRADE_TO, progress=lambda line: None)
            manage(self.plane, "image_fetch", "mariadb-" + UPGRADE_TO)
            self._upgrade_ready = True

    def create_replica(self, name: str, source_id: str) -> str:
        replica = self.trove.instances.create(name, "1", replica_of=source_id).id
        inst = self.wait(replica, END, 150)
        assert inst is not None and inst.status == "ACTIVE", "setup of replica %s: %s" % (
            name, inst and inst.status)
        return replica

    def silence_source(self, replica_id: str) -> None:
        """kill -9 the source's whole server (agent and database), then eject once the
        source has been silent long enough."""
        source = self.trove.instances.get(replica_id).replica_of["id"]
        sdir = self.server_dir(source)
        assert sdir is not None, "no server for the source"
        for name in ("guest.pid", os.path.join("mysql", "mysqld.pid")):
            try:
                with open(os.path.join(sdir, name)) as f:
                    os.kill(int(f.read().split()[0]), signal.SIGKILL)
            except (OSError, ValueError):
                pass
        deadline = time.monotonic() + 60
        while True:
            try:
                self.trove.instances.eject_replica_source(replica_id)
                return
            except Exception:   # refused while the source looks alive
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)

    def check_end(self, res: Result, flow: str, inst_id: str, backups: list) -> None:
        timeout = TIMEOUT.get(flow, 90)
        if flow == "delete":
            inst = self.wait(inst_id, {"ERROR"}, timeout)
            if inst is not None:
                res.stuck = "delete ended %s" % inst.status
            return
        inst = self.wait(inst_id, END, timeout)
        if inst is None or inst.status not in END:
            res.stuck = "instance %s after %d s" % (inst and inst.status, timeout)
            return
        if inst.status == "ERROR" and not getattr(inst, "fault", None):
            res.stuck = "ERROR without a fault"
        if self.migration:
            self.check_migration(res, inst_id, timeout)
        for bid in backups:
            deadline = time.monotonic() + timeout
            while self.trove.backups.get(bid).status not in ("COMPLETED", "FAILED"):
                if time.monotonic() > deadline:
                    res.stuck = "backup %s" % self.trove.backups.get(bid).status
                    break
                time.sleep(0.5)

    def check_migration(self, res: Result, inst_id: str, timeout: float) -> None:
        """A schema migration ends COMPLETED, FAILED or ABORTED (never stuck running)."""
        deadline = time.monotonic() + timeout
        status = None
        while time.monotonic() < deadline:
            try:
                status = self.api("GET", inst_id, "/schema_migrations/%s" % self.migration)[
                    "schema_migration"]["status"]
            except (AssertionError, requests.RequestException):
                status = None   # the API restarting
            if status in ("COMPLETED", "FAILED", "ABORTED"):
                return
            time.sleep(0.5)
        res.stuck = "schema migration %s after %d s" % (status, timeout)

    def check_rows(self, res: Result, inst_id: str) -> None:
        inst = self.trove.instances.get(inst_id)
        if inst.status == "SHUTDOWN":   # mariadbd killed: the operator restarts it
            self.trove.instances.restart(inst_id)
            inst = self.wait(inst_id, {"ACTIVE", "ERROR"}, 90)
        if inst is None or inst.status != "ACTIVE":
            return      # an ERROR with a fault: nothing to read
        try:
            n = self.count_rows(inst_id)
        except pymysql.err.OperationalError:
            # mariadbd killed after the flow ended: ACTIVE until the next heartbeat
            # says otherwise; then restart it as an operator would
            inst = self.wait(inst_id, {"SHUTDOWN", "ERROR"}, 15)
            if inst is not None and inst.status == "SHUTDOWN":
                self.trove.instances.restart(inst_id)
                inst = self.wait(inst_id, {"ACTIVE", "ERROR"}, 90)
            if inst is None or inst.status != "ACTIVE":
                return
            n = self.count_rows(inst_id)
        if n != ROWS:
            res.lost = "%d of %d committed rows" % (ROWS - n, ROWS)

    def clean(self, made: list, backups: list) -> None:
        for bid in backups:
            deadline = time.monotonic() + 60
            while True:
                try:
                    self.trove.backups.delete(bid)
                    break
                except Exception as e:
                    if "404" in str(e) or time.monotonic() > deadline:
                        break
                    time.sleep(0.5)
        deadline = time.monotonic() + 90
        asked = set()
        while time.monotonic() < deadline:
            left = {i.id: i.status for i in self.trove.instances.list()
                    if i.id in made}
            for inst_id, status in left.items():
                if inst_id not in asked or status == "ERROR":
                    try:    # refused (409) while a task runs: asked again next round
                        self.trove.instances.delete(inst_id)
                        asked.add(inst_id)
                    except Exception:
                        pass
            gone = all(not self._backup_exists(b) for b in backups)
            if not left and gone:
                break
            time.sleep(0.5)

    def _backup_exists(self, bid: str) -> bool:
        try:
            self.trove.backups.get(bid)
            return True
        except Exception:
            return False


def table(results: list[Result]) -> str:
    lines = [r.line() for r in results]
    ran = [r for r in results if r.reached]
    lines.append("cells %d (step reached %d, killed %d) / stuck %d / leaked %d / lost %d" % (
        len(results), len(ran), sum(r.killed for r in results),
        sum(bool(r.stuck) for r in results), sum(bool(r.leaked) for r in results),
        sum(bool(r.lost) for r in results)))
    return "\n".join(lines)

