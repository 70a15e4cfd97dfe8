"""The guest agent's side of backups: run one in the background and report it,
restore a chain before the first start, clean up after a restart.

Reporting: every change goes to the conductor as ``update_backup`` (status,
progress, location, then size/checksum/meta or fail_reason), in send order (one
lock, strictly increasing ``sent``), and at least every ``[backup]
progress_interval`` while the backup runs, so the taskmanager can tell a slow
backup (reports keep coming) from a dead agent (they stop).

State: the running backup's id and location are kept in GuestState
(``running_backup``) before anything is stored, so an agent that was killed
removes the partial objects when it starts again (``recover``) and reports the
backup FAILED (the conductor ignores that if the taskmanager already did).

Secrets: the key arrives in the request and goes only to runner.py (which hands
it to openssl through a pipe); it is never logged or reported.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from trove_lite import exceptions
from trove_lite.common import backup_opts
from trove_lite.drivers import storage as storage_drivers
from trove_lite.drivers.storage import base as storage_base
from trove_lite.guestagent.backup import runner
from trove_lite.guestagent.state import GuestState

if TYPE_CHECKING:
    from oslo_config import cfg

    from trove_lite.guestagent.datastore.mariadb.server import MariaDBServer
    from trove_lite.rpc.conductor import ConductorAPI

LOG = logging.getLogger(__name__)
GB = 1024 ** 3


def _message(exc: BaseException) -> str:
    return getattr(exc, "message", None) or str(exc) or type(exc).__name__


class Reporter:
    """Ordered, throttled ``update_backup`` casts for one backup."""

    def __init__(self, conductor: ConductorAPI, instance_id: str, backup_id: str,
                 interval: float) -> None:
        self.conductor, self.instance_id, self.backup_id = conductor, instance_id, backup_id
        self.interval = interval
        self.fields: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._last_sent = 0.0
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def send(self, **fields: Any) -> None:
        with self._lock:
            self.fields.update(fields)
            sent = max(time.time(), self._last_sent + 1e-6)
            self._last_sent = sent
            try:
                self.conductor.update_backup(self.instance_id, self.backup_id, sent=sent,
                                             **self.fields)
            except Exception:
                LOG.exception("backup %s: report to the conductor failed", self.backup_id)

    def progress(self, report: Mapping[str, Any]) -> None:
        """runner's progress_cb: BUILDING until data is stored, then SAVING."""
        status = "SAVING" if report.get("bytes_stored") else "BUILDING"
        if report.get("phase") == "COMPLETED":
            return
        changed = status != self.fields.get("status")
        if changed or time.time() - self._last_sent >= self.interval:
            self.send(status=status, progress=report.get("percent", 0.0))
        else:
            self.fields["progress"] = report.get("percent", 0.0)

    def start_ticker(self) -> None:
        def tick() -> None:
            while not self._stop.wait(self.interval):
                if time.time() - self._last_sent >= self.interval * 0.9:
                    self.send()
        ticker = self._ticker = threading.Thread(target=tick, name="backup-report",
                                                 daemon=True)
        ticker.start()

    def stop_ticker(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()


class _RateLimitedStream:
    def __init__(self, stream: Any, rate: float) -> None:
        self.stream, self.rate = stream, rate
        self.started, self.count = time.monotonic(), 0

    def read(self, n: int = 1 << 20) -> bytes:
        data = self.stream.read(n)
        self.count += len(data)
        ahead = self.count / self.rate - (time.monotonic() - self.started)
        if ahead > 0:
            time.sleep(ahead)
        return data


class RateLimitedStorage(storage_base.StorageDriver):
    """A store whose ``save`` consumes at most ``rate`` bytes/s (the pipeline
    behind it then stalls on its pipes, so the backup tool reads slower too).
    Everything else is the wrapped store's."""

    def __init__(self, store: storage_base.StorageDriver, rate: float) -> None:
        self.store, self.rate = store, rate
        self.scheme = store.scheme

    def save(self, location_hint: str, stream: Any, metadata: dict,
             progress: Callable[[int], None] | None = None) -> storage_base.StoredObject:
        return self.store.save(location_hint, _RateLimitedStream(stream, self.rate),
                               metadata, progress=progress)

    def location_for(self, location_hint: str) -> str:
        return self.store.location_for(location_hint)

    def load(self, location: str) -> storage_base.VerifyingReader:
        return self.store.load(location)

    def metadata(self, location: str) -> storage_base.StoredObject:
        return self.store.metadata(location)

    def delete(self, location: str) -> bool:
        return self.store.delete(location)

    def exists(self, location: str) -> bool:
        return self.store.exists(location)

    def cleanup_partial(self, location: str) -> bool:
        return self.store.cleanup_partial(location)

    def list_objects(self, prefix: str) -> list[str]:
        return self.store.list_objects(prefix)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


class BackupAgent:
    """Runs at most one backup at a time on this guest."""

    def __init__(self, conf: cfg.ConfigOpts, instance_id: str, state: GuestState,
                 conductor_fn: Callable[[], ConductorAPI],
                 notify_fn: Callable[[], None] = lambda: None) -> None:
        """``conductor_fn()`` returns the ConductorAPI; ``notify_fn()`` asks for a
        heartbeat now (the instance's shown status follows the backup)."""
        backup_opts.register(conf)
        self.conf, self.instance_id, self.state = conf, instance_id, state
        self.conductor_fn, self.notify_fn = conductor_fn, notify_fn
        self._lock = threading.Lock()
        self.running: str | None = None

    def storage(self) -> storage_base.StorageDriver:
        store = storage_drivers.get_storage(self.conf)
        rate = self.conf.backup.max_rate_mb
        return RateLimitedStorage(store, rate * 1024 * 1024) if rate > 0 else store

    def start(self, request: dict[str, Any], server: MariaDBServer) -> None:
        """Start ``request`` (from the taskmanager) in a thread; returns at once."""
        with self._lock:
            busy, self.running = self.running, self.running or request["id"]
        if busy:
            Reporter(self.conductor_fn(), self.instance_id, request["id"], 0).send(
                status="FAILED", fail_reason="backup %s is still running on this "
                                             "instance" % busy)
            return
        threading.Thread(target=self._run, args=(request, server),
                         name="backup-%s" % request["id"][:8], daemon=True).start()

    def _run(self, request: dict[str, Any], server: MariaDBServer) -> None:
        bid = request["id"]
        reporter = Reporter(self.conductor_fn(), self.instance_id, bid,
                            self.conf.backup.progress_interval)
        LOG.info("backup %s: starting (%s%s into %s)", bid,
                 "incremental of %s" % request["parent"]["id"] if request.get("parent")
                 else "full", ", encrypted" if request.get("key") else "",
                 request["container"])
        try:
            storage = self.storage()
            location = storage.location_for(location_hint(request))
            self.state.update(running_backup={"id": bid, "location": location})
            reporter.send(status="BUILDING", location=location, progress=0.0)
            reporter.start_ticker()
            result = runner.run_backup(
                server, storage, bid, parent=request.get("parent"), key=request.get("key"),
                codec=request["codec"], progress_cb=reporter.progress,
                strategy=request["strategy"], container=request["container"],
                backup_args=request.get("backup_args") or (),
                extra_meta=request.get("extra_meta"))
        except Exception as e:
            reporter.stop_ticker()
            if not isinstance(e, exceptions.TroveLiteError):
                LOG.exception("backup %s failed unexpectedly", bid)
            reporter.send(status="FAILED", fail_reason=_message(e)[:1000])
        else:
            reporter.stop_ticker()
            reporter.send(status="COMPLETED", progress=100.0, location=result["location"],
                          size=round(result["size"] / GB, 6), checksum=result["checksum"],
                          backup_type=result["type"], meta=report_meta(result))
        finally:
            self.state.update(running_backup=None)
            with self._lock:
                self.running = None
            self.notify_fn()

    def recover(self) -> None:
        """After an agent restart: remove what a backup cut off by it left, report it."""
        running = self.state.read().get("running_backup")
        if not running:
            return
        LOG.warning("backup %s was running when the agent stopped; cleaning up",
                    running["id"])
        try:
            removed = self.storage().cleanup_partial(running["location"])
            detail = "partial data removed" if removed else "no partial data was left"
        except Exception as e:
            detail = "its partial data could not be removed: %s" % _message(e)
        Reporter(self.conductor_fn(), self.instance_id, running["id"], 0).send(
            status="FAILED", fail_reason="the guest agent restarted while the backup "
                                         "was running; %s" % detail)
        self.state.update(running_backup=None)


def location_hint(request: Mapping[str, Any]) -> str:
    """Where run_backup will store ``request`` (its plan_backup's hint), known
    before it starts. Planned without the key: that would derive a key check
    value (PBKDF2, tens of ms) only to throw it away; an encrypted object's name
    ends in .enc."""
    hint, _ = runner.plan_backup(request["id"], request.get("parent"), None,
                                 request["codec"], request["strategy"], request["container"])
    return hint + (".enc" if request.get("key") else "")


def report_meta(result: Mapping[str, Any]) -> dict[str, Any]:
    """What the control plane keeps of a finished backup (no secret: key_check is a
    salted PBKDF2 value)."""
    return {"lsn": result["lsn"], "binlog": result["binlog"],
            "metadata": result["metadata"], "size_bytes": result["size"],
            "raw_size": result["raw_size"], "duration_s": result["duration_s"],
            "checksum_algorithm": result.get("checksum_algorithm")}


def chain_progress(chain: Sequence[Mapping[str, Any]],
                   callback: runner.ProgressCallback) -> runner.ProgressCallback:
    """A run_restore progress callback reporting percent of the chain's stored bytes."""
    sizes = [item.get("size") or 0 for item in chain]
    total = max(sum(sizes), 1)

    def progress(info: Mapping[str, Any]) -> None:
        done = sum(sizes[:info["index"]]) + info["bytes_read"]
        callback({"phase": "restoring backup", "bytes_read": done, "bytes_total": total,
                  "percent": round(min(100.0, 100.0 * done / total), 1)})
    return progress


def restore(conf: cfg.ConfigOpts, request: Mapping[str, Any], server: MariaDBServer,
            progress: runner.ProgressCallback | None = None) -> dict[str, Any] | None:
    """Restore ``request`` (restore_request of the taskmanager: chain, key) into
    ``server.datadir`` before its first start. A datadir already holding a
    database was restored by an earlier, cut-off prepare: kept. Raises
    RestoreError naming the backup; the datadir is then left empty."""
    datadir = server.datadir
    if os.path.isdir(os.path.join(datadir, "mysql")):
        LOG.info("restore of %s: the datadir already holds a database", request["id"])
        return None
    if os.path.isdir(datadir):
        for name in os.listdir(datadir):   # leftovers of a cut-off restore
            path = os.path.join(datadir, name)
            shutil.rmtree(path) if os.path.isdir(path) else os.unlink(path)
    try:
        result = runner.run_restore(request["chain"], storage_drivers.get_storage(conf),
                                    request.get("key"), datadir, server.binaries,
                                    progress_cb=chain_progress(request["chain"], progress)
                                    if progress else None)
    except Exception as e:
        # short: the guest's status description keeps 250 characters, and the
        # inner message already names the backup (and the location if corrupted)
        raise exceptions.RestoreError(reason="Restore failed: %s" % _message(e))
    LOG.info("restored backup chain %s in %.1f s", result["restored"], result["duration_s"])
    return result
