"""A fork server for guest agents: the local "hypervisor" boots guests pre-loaded.

Starting a guest agent the plain way (a new interpreter importing oslo.messaging,
oslo.config and the agent) costs each guest about 0.4 s of CPU before it can say
anything on the bus; five guests booting at once on two cores spend seconds
there. The launcher is one process per compute driver that imports the agent's
modules once and then forks a guest for each request, so a guest starts with
everything loaded (copy-on-write) and goes straight to work.

Protocol (pipes to the driver): one JSON line per request on stdin,
``{"argv": [...], "env": {...}, "server_dir": D, "log": path}``; one line back
on stdout, the PID of the new guest's session leader (or ``error: ...``). The
launcher exits when its stdin closes (the driver's process ended); guests live
on in their own sessions, like VMs.

Each request forks a session leader that plays the part of the driver's shell
wrapper: it forks the guest itself (which runs ``guestagent.main(argv)`` with
the request's environment), waits for it and writes its exit status to
``guest.exit``. Killing the session leader's process group stops both.

The process runs trove_lite/cmd/guest_launcher.py, which loads the agent; this
module (the driver's side and the fork loop) imports nothing of the guest.
The launcher never starts a thread, so forking it is safe; a guest's own
processes (mariadbd) are started with exec and so carry the server's marker in
their environment as before.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import traceback
from typing import Any, Callable, Mapping, Sequence, TextIO

from trove_lite.drivers import localutil


def _run_guest(guest_main: Callable[[list[str]], object], argv: list[str],
               env: Mapping[str, str]) -> None:
    os.environ.clear()
    os.environ.update(env)
    code = 1
    try:
        result = guest_main(argv)
        code = result if isinstance(result, int) else 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


def _session_leader(request: dict[str, Any], guest_main: Callable[[list[str]], object]) -> None:
    """In the forked child: become the guest's session leader and wrapper."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.setsid()
    os.chdir(request["server_dir"])
    # recorded here too: a driver that dies right after the request still leaves
    # the server's group leader on record
    me = os.getpid()
    with open("guest.pid.tmp", "w") as f:
        f.write("%d %s\n" % (me, localutil.start_time(me)))
    os.replace("guest.pid.tmp", "guest.pid")
    log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    os.close(null)
    try:
        os.unlink("guest.exit")
    except FileNotFoundError:
        pass
    pid = os.fork()
    if pid == 0:
        _run_guest(guest_main, request["argv"], request["env"])
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    with open("guest.exit", "w") as f:
        f.write("%d\n" % _exit_code(status))
    os._exit(0)


def _exit_code(status: int) -> int:
    # as a shell reports it: 128 + signal for a killed process
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def serve(stdin: TextIO, stdout: TextIO, guest_main: Callable[[list[str]], object]) -> None:
    """Answer spawn requests until ``stdin`` closes; ``guest_main(argv)`` runs a guest
    in each forked child (trove_lite/cmd/guest_launcher.py passes the agent's main)."""
    # the session leaders are reaped by the kernel, never by us
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    while True:
        line = stdin.readline()
        if not line:
            return
        try:
            if threading.active_count() > 1:   # a fork would copy held locks
                raise OSError("the launcher has threads; it cannot fork safely")
            request = json.loads(line)
            pid = os.fork()
        except (ValueError, OSError) as e:
            stdout.write("error: %s\n" % e)
            stdout.flush()
            continue
        if pid == 0:
            try:
                _session_leader(request, guest_main)
            finally:
                os._exit(127)
        stdout.write("%d\n" % pid)
        stdout.flush()


class Launcher:
    """The driver's handle on its launcher process (started on first use).

    ``spawn`` returns the PID of the guest's session leader, or raises OSError
    if the launcher cannot be reached (the driver then starts the guest the
    plain way).
    """

    def __init__(self) -> None:
        self._proc: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()

    def spawn(self, argv: Sequence[str], env: Mapping[str, str], server_dir: str,
              log: str) -> int:
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._proc = subprocess.Popen(
                    [sys.executable, "-m", "trove_lite.cmd.guest_launcher"],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                    start_new_session=True, close_fds=True)
            request = {"argv": list(argv), "env": dict(env), "server_dir": server_dir,
                       "log": log}
            # pipes requested above
            assert self._proc.stdin is not None and self._proc.stdout is not None
            try:
                self._proc.stdin.write(json.dumps(request) + "\n")
                self._proc.stdin.flush()
                answer = self._proc.stdout.readline().strip()
            except (OSError, ValueError) as e:
                self._proc = None
                raise OSError("guest launcher unreachable: %s" % e) from e
        if not answer.isdigit():
            raise OSError("guest launcher: %s" % (answer or "exited"))
        return int(answer)

    def stop(self) -> None:
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                assert self._proc.stdin is not None   # a pipe (see spawn)
                self._proc.stdin.close()
                self._proc.wait(timeout=10)
            self._proc = None
