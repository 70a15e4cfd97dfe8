"""A stand-in guest agent for the compute contract tests (the real one is separate).

Started by the local compute driver as ``<python> stand_in_guest.py --server-dir D
[--config-file F ...]``. It behaves like a guest as far as the driver can see:

- reads ``server.json`` and listens on ``<address>:3306``; each connection gets
  one JSON line {server_id, image_id, boot, config} and is closed;
- starts a "database" in its own session (so it would survive an agent restart)
  and registers it under ``pids/db.pid``; starts a second one in its own session
  WITHOUT registering it (the driver must find it by its environment marker);
- a config file containing ``fail_at_boot = true`` makes it exit 3 at once.
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys

DB_CODE = "import time\nwhile True: time.sleep(1)\n"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server-dir", required=True)
    parser.add_argument("--config-file", action="append", default=[])
    args = parser.parse_args()
    config = "".join(open(path).read() for path in args.config_file)
    if "fail_at_boot = true" in config:
        print("stand-in guest: refusing to boot (fail_at_boot = true)", file=sys.stderr)
        sys.exit(3)
    with open(os.path.join(args.server_dir, "server.json")) as f:
        server = json.load(f)
    boots_file = os.path.join(args.server_dir, "boots")
    boot = int(open(boots_file).read()) + 1 if os.path.exists(boots_file) else 1
    with open(boots_file, "w") as f:
        f.write(str(boot))

    listener = socket.create_server((server["address"], 3306))
    for name, register in (("db", True), ("stray", False)):
        proc = subprocess.Popen([sys.executable, "-c", DB_CODE, "stand-in-" + name],
                                start_new_session=True, stdin=subprocess.DEVNULL)
        if register:
            with open(os.path.join(args.server_dir, "pids", "db.pid"), "w") as f:
                f.write("%d\n" % proc.pid)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    print("stand-in guest up on %s:3306 (boot %d)" % (server["address"], boot), flush=True)
    while True:
        conn, _ = listener.accept()
        with conn:
            conn.sendall((json.dumps({"server_id": server["id"], "image_id": server["image_id"],
                                      "boot": boot, "config": config}) + "\n").encode())


if __name__ == "__main__":
    main()
