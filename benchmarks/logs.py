"""Log publish throughput: ours beside a raw upload of the same bytes.

Writes ``--mb`` MB of general-log-like text to a guest's log file, then per round:

  raw       LocalStorage.save of the same bytes, in the same [logs] object_size
            pieces, unencrypted, no metafile
  ours      LogService publish: the guest's GuestLogs reads each piece (base64,
            as it crosses RPC), the control plane AES-256-GCM-encrypts it, saves
            the numbered object and rewrites the metafile

The guest is called in-process (no RabbitMQ hop: that is measured by the
functional tests' wall time, not here). MB/s are of the log bytes; medians over
``--rounds``. Each ours round publishes a fresh log (discard, new file).

    .venv/bin/python benchmarks/logs.py [--mb 64 --rounds 3 --object-mb 4]

With ``--api``, the same through the whole control plane (trove-lite-aio, local
store, python-troveclient, the guest over RabbitMQ): an instance whose general
log is filled with ``--mb`` MB of queries, one ``publish`` timed, beside a raw
upload of that log file in the same pieces in the same run.

    .venv/bin/python benchmarks/logs.py --api [--mb 16]

With ``--swift``, ``[logs] store = tenant_swift`` into a real Swift all-in-one
(tests/support/swift_aio.py: keymaster + encryption in the proxy, tempauth
account ``AUTH_test`` standing in for the tenant's) beside raw ``PUT``s of the
same pieces into the same account with the same token, in the same run.

    .venv/bin/python benchmarks/logs.py --swift [--mb 32 --rounds 3]
"""

import argparse
import io
import os
import shutil
import statistics
import sys
import tempfile
import time
import types

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from trove_lite.config import make_conf  # noqa: E402
from trove_lite.drivers.storage.local import LocalStorage  # noqa: E402
from trove_lite.guestagent.logs import GuestLogs  # noqa: E402
from trove_lite.guestagent.state import GuestState  # noqa: E402
from trove_lite.instance.logs import LogService  # noqa: E402


class _InProcessGuest:
    """GuestAPI's log calls answered by a real GuestLogs, without the bus."""

    def __init__(self, logs):
        self.logs = logs

    def guest_log_list(self):
        return self.logs.list()

    def guest_log_read(self, name, offset, limit, file_id=None):
        return self.logs.read(name, offset, limit, file_id)


class _Guests:
    def __init__(self, guest):
        self._guest = guest

    def guest(self, tenant_id, instance_id, action):
        return self._guest


class _Keys:
    def get(self, tenant_id):
        return "benchmark-tenant-key-5f0e"


def make_log(path, megabytes):
    line = b"2026-12-06T04:00:00.000000Z\t   42 Query\tSELECT * FROM t WHERE id = %d\n"
    with open(path, "wb") as f:
        written, i = 0, 0
        while written < megabytes * 1024 * 1024:
            data = b"".join(line % (i + k) for k in range(1000))
            f.write(data)
            written += len(data)
            i += 1000
    return os.path.getsize(path)


def through_api(args):
    import pymysql

    from tests.functional.controlplane.conftest import destroy_everything
    from tests.support.controlplane import ControlPlane, wait_for_status
    base = tempfile.mkdtemp(prefix="tl-bl-")  # short: mariadbd's socket path is <= 107
    cp = ControlPlane(base, extra_conf="[logs]\nobject_size = %d\nmax_size = %d\n"
                      % (args.object_mb << 20, 1 << 30)).start_aio()
    try:
        trove = cp.client("demo")
        inst = trove.instances.create("bench-logs", "1", volume={"size": 1},
                                      datastore="mariadb", datastore_version="10.11",
                                      databases=[{"name": "b"}],
                                      users=[{"name": "b", "password": "b-Pw-1",
                                              "databases": [{"name": "b"}]}])
        inst = wait_for_status(trove, inst.id, {"ACTIVE", "ERROR"}, timeout=180)
        if inst.status != "ACTIVE":
            raise SystemExit("instance failed: %s" % getattr(inst, "fault", None))
        trove.instances.log_action(inst, "general", enable=True)
        conn = pymysql.connect(host=inst.ip[0], user="b", password="b-Pw-1",
                               autocommit=True)
        with conn.cursor() as cur:
            cur.execute("SELECT @@general_log_file")
            log_file = cur.fetchone()[0]
            filler = "x" * 200
            while os.path.getsize(log_file) < args.mb << 20:
                for i in range(2000):
                    cur.execute("SELECT %d, '%s'" % (i, filler))
                print("filled %d MB" % (os.path.getsize(log_file) >> 20), end="\r",
                      flush=True)
        conn.close()
        store = LocalStorage(os.path.join(base, "raw-store"))
        size = os.path.getsize(log_file)
        start = time.monotonic()
        with open(log_file, "rb") as f:
            for n, data in enumerate(iter(lambda: f.read(args.object_mb << 20), b"")):
                store.save("raw/%06d" % n, io.BytesIO(data), {})
        raw = size / 1e6 / (time.monotonic() - start)
        start = time.monotonic()
        log = trove.instances.log_action(inst, "general", publish=True)
        ours = log.published / 1e6 / (time.monotonic() - start)
        print("publish through the API, %d MB general log in %d MB objects: ours %.0f "
              "MB/s, raw upload %.0f MB/s (%.2f x raw)"
              % (size >> 20, args.object_mb, ours, raw, ours / raw))
    finally:
        destroy_everything(cp)
        shutil.rmtree(base, ignore_errors=True)


def through_swift(args, base, conf, logs, log_path):
    import swiftclient

    from tests.support.swift_aio import SwiftAIO
    from trove_lite.instance.logs import UserAuth
    swift = SwiftAIO(area=203)
    try:
        swift.start()
        url, token = swift.token()
        conf.set_override("store", "tenant_swift", group="logs")
        conf.set_override("swift_url", url[:-len("test")], group="logs")  # .../AUTH_
        service = LogService(conf, None, _Guests(_InProcessGuest(logs)))
        auth = UserAuth(token=token)
        conn = swiftclient.Connection(preauthurl=url, preauthtoken=token)
        conn.put_container("raw")
        raw, ours = rounds(
            args, log_path, conf.logs.object_size,
            lambda r, n, data: conn.put_object(
                "raw", "r%d/%06d" % (r, n), data,
                headers={"X-Object-Meta-Lines": str(data.count(b"\n"))}),
            lambda r: service.action("test", "inst-%d" % r, "guest", ["publish"], auth))
        print("tenant Swift publish %d MB in %d MB objects: ours %.0f MB/s, raw PUT %.0f MB/s "
              "(%.2f x raw)" % (args.mb, args.object_mb, ours, raw, ours / raw))
    finally:
        swift.shutdown()


def rounds(args, log_path, piece, raw_put, publish):
    """Median MB/s of (raw uploads of the log's pieces, our publish of it) over
    ``args.rounds`` fresh logs; ``raw_put(round, n, bytes)``, ``publish(round)``."""
    raw_rates, our_rates = [], []
    for r in range(args.rounds):
        if os.path.exists(log_path):
            os.unlink(log_path)
        size = make_log(log_path, args.mb)
        start = time.monotonic()
        with open(log_path, "rb") as f:
            for n, data in enumerate(iter(lambda: f.read(piece), b"")):
                raw_put(r, n, data)
        raw_rates.append(size / 1e6 / (time.monotonic() - start))
        start = time.monotonic()
        log = publish(r)
        our_rates.append(size / 1e6 / (time.monotonic() - start))
        assert log["published"] == size and log["pending"] == 0, log
        print("round %d: raw %.0f MB/s, ours %.0f MB/s (%d MB)"
              % (r + 1, raw_rates[-1], our_rates[-1], size >> 20), flush=True)
    return statistics.median(raw_rates), statistics.median(our_rates)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--object-mb", type=int, default=4)
    parser.add_argument("--api", action="store_true", default=False)
    parser.add_argument("--swift", action="store_true", default=False)
    args = parser.parse_args()
    if args.api:
        return through_api(args)
    base = tempfile.mkdtemp(prefix="trove-lite-bench-logs-")
    try:
        conf = make_conf(overrides={"state_dir": base,
                                    "logs.object_size": args.object_mb * 1024 * 1024,
                                    "logs.max_size": 1 << 40})
        store = LocalStorage(os.path.join(base, "store"))
        guest_dir = os.path.join(base, "guest")
        os.makedirs(guest_dir)
        log_path = os.path.join(guest_dir, "guest.log")
        no_server = types.SimpleNamespace(
            server=types.SimpleNamespace(error_log=os.path.join(guest_dir, "error.log")))
        logs = GuestLogs(lambda: no_server, GuestState(os.path.join(base, "state.json")),
                         lambda: guest_dir, lambda: log_path,
                         conf.logs.max_size, conf.logs.keep)
        if args.swift:
            return through_swift(args, base, conf, logs, log_path)
        service = LogService(conf, None, _Guests(_InProcessGuest(logs)), storage=store)
        service._keys = _Keys()

        def publish(r):
            service.action("bench", "inst-%d" % r, "guest", ["discard"])
            return service.action("bench", "inst-%d" % r, "guest", ["publish"])
        raw, ours = rounds(
            args, log_path, conf.logs.object_size,
            lambda r, n, data: store.save("raw/r%d/%06d" % (r, n), io.BytesIO(data), {}),
            publish)
        print("publish %d MB in %d MB objects: ours %.0f MB/s, raw upload %.0f MB/s "
              "(%.2f x raw)" % (args.mb, args.object_mb, ours, raw, ours / raw))
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
