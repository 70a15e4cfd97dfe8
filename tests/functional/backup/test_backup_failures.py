"""A backup that dies or loses its store leaves nothing once cleanup runs."""

import json
import os
import select
import signal
import subprocess
import sys

import pytest

from tests.functional.backup.conftest import AREA, SEGMENT, load_shop, stored_names, swift_storage
from trove_lite import exceptions
from trove_lite.drivers.storage.local import LocalStorage
from trove_lite.guestagent.backup import runner

pytestmark = pytest.mark.slow

# The child backs up with codec 'none' (so there is plenty to store) and its
# progress callback, which runs in the streaming thread, hangs once some data is
# stored: the backup is stuck mid-way when the test kills it.
CHILD = r"""
import json, sys, time
from trove_lite.guestagent.backup import runner
from trove_lite.guestagent.datastore.mariadb.server import MariaDBServer
from tests.functional.backup.conftest import swift_storage
from trove_lite.drivers.storage.local import LocalStorage
args = json.loads(sys.argv[1])
runner.PROGRESS_INTERVAL = 0
server = MariaDBServer(args["base_dir"], datadir=args["datadir"])
if args["kind"] == "local":
    storage = LocalStorage(args["root"])
else:
    class Aio: pass
    aio = Aio(); aio.auth_url, aio.user, aio.key = args["auth"]
    storage = swift_storage(aio)
def hang(report):
    # reads are up to 1 MiB: past 4 MiB, several 256 KiB segments are complete
    if report["bytes_stored"] > 4 * 1024 * 1024:
        print("STUCK", flush=True)
        time.sleep(600)
runner.run_backup(server, storage, "killed", key="k", codec="none",
                  container=args["container"], progress_cb=hang)
"""


def test_killed_backup_leaves_nothing_after_cleanup(store, mariadb_factory, tmp_state_dir):
    storage, container = store
    source = mariadb_factory(area=AREA)
    load_shop(source, rows=5000)
    args = {"base_dir": source.base_dir, "datadir": source.datadir, "container": container,
            "segment": SEGMENT, "kind": "local" if isinstance(storage, LocalStorage) else "swift"}
    if args["kind"] == "local":
        args["root"] = storage.root
    else:
        aio = storage  # credentials come from the fixture-built connection
        conn = aio.conn
        args["auth"] = [conn.authurl, conn.user, conn.key]
    child = subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(args)],
                             stdout=subprocess.PIPE, start_new_session=True,
                             # its work dir (LSN files) must not outlive the test
                             env=dict(os.environ, TMPDIR=tmp_state_dir),
                             cwd=os.path.dirname(os.path.dirname(os.path.dirname(
                                 os.path.dirname(os.path.abspath(__file__))))))
    try:
        ready, _, _ = select.select([child.stdout], [], [], 60)
        assert ready and child.stdout.readline().strip() == b"STUCK"
    finally:
        os.killpg(child.pid, signal.SIGKILL)     # the runner and its pipeline
        child.wait()
        child.stdout.close()
    location = storage.location_for(container + "/killed.xbstream.enc")
    assert not storage.exists(location)
    assert stored_names(storage, container) != []        # partial data was left
    assert storage.cleanup_partial(location) is True
    assert stored_names(storage, container) == []


def test_swift_stopped_during_backup_fails_with_the_reason(swift_aio, mariadb_factory,
                                                            monkeypatch):
    storage, container = swift_storage(swift_aio), "stopped"
    source = mariadb_factory(area=AREA)
    load_shop(source, rows=5000)
    monkeypatch.setattr(runner, "PROGRESS_INTERVAL", 0)

    def pull_the_plug(report):
        if report["bytes_stored"] > 2 * 1024 * 1024 and swift_aio.procs["proxy"].poll() is None:
            swift_aio.stop()

    try:
        with pytest.raises(exceptions.BackupError) as err:
            runner.run_backup(source, storage, "unlucky", key="k", codec="none",
                              container=container, progress_cb=pull_the_plug)
    finally:
        swift_aio.start()
    message = err.value.message
    assert "Swift failed while uploading segment" in message
    assert "Connection refused" in message or "Connection reset" in message \
        or "Connection aborted" in message, message
    location = err.value.kwargs["location"]
    assert not storage.exists(location)
    storage.cleanup_partial(location)       # what the runner could not do while Swift was down
    assert stored_names(storage, container) == []
