"""Streaming pipelines: a chain of filter processes joined by kernel pipes.

Backup: ``mariadb-backup --stream | zstd | openssl enc`` with Python reading the
last stdout and handing it to a storage driver. Restore: Python writes what the
store returns into ``openssl enc -d | zstd -d | mbstream -x``. The data never
touches local disk on the way and never passes through Python between filters
(each pipe is enlarged to 1 MiB so a stalled upload stalls the chain smoothly).

Secrets (the encryption key) reach a process through an inherited pipe: the
stage's argv names only ``fd:N`` (``{secret_fd}`` in a Stage's argv is replaced
by N), so the key is never in argv, /proc/*/cmdline, the environment or logs.

Failure: each stage's stderr is drained by a thread (last 40 lines kept). When a
stage fails, the ones after it see EOF and the ones before it a broken pipe;
``failure()`` names the stage that failed first in that sense (a broken pipe is
a consequence, not a cause).
"""

import collections
import dataclasses
import fcntl
import logging
import os
import signal
import subprocess
import threading
from collections.abc import Iterable, Sequence
from typing import IO, cast

from trove_lite import exceptions

LOG = logging.getLogger(__name__)
F_SETPIPE_SZ = 1031
PIPE_SIZE = 1 << 20


@dataclasses.dataclass(frozen=True)
class Stage:
    name: str
    argv: tuple
    env: dict | None = None
    secret: bytes | None = None      # written to the pipe named by {secret_fd}
    ok_marker: str | None = None     # a line stderr must contain for success


class PipelineError(exceptions.TroveLiteError):
    """A stage failed; ``stage`` is its name, ``detail`` the tail of its stderr."""

    code = "pipeline_stage_failed"

    def __init__(self, stage: str, returncode: int | None, detail: str) -> None:
        self.stage, self.returncode, self.detail = stage, returncode, detail
        super().__init__("%s exited with %s: %s" % (stage, returncode, detail))


def _enlarge(fd: int) -> None:
    try:
        fcntl.fcntl(fd, F_SETPIPE_SZ, PIPE_SIZE)
    except OSError:
        pass     # pipe-max-size lower than 1 MiB: keep the default


class Pipeline:
    """Start ``stages`` chained stdin->stdout.

    ``feed=True`` gives the first stage a pipe from Python (``write``/``close_input``);
    otherwise its stdin is /dev/null. ``collect=True`` gives Python the last
    stage's stdout (``read``); otherwise it goes to /dev/null.
    """

    def __init__(self, stages: Iterable[Stage], feed: bool=False, collect: bool=True,
                 cwd: str | None = None) -> None:
        self.stages = list(stages)
        if not self.stages:
            raise ValueError("a pipeline needs at least one stage")
        self.procs: list[subprocess.Popen[bytes]] = []
        self._stderr: list[collections.deque[str]] = []
        self._threads: list[threading.Thread] = []
        self._feed, self._collect, self._cwd = feed, collect, cwd
        self.stdin: IO[bytes] | None = None
        self.stdout: IO[bytes] | None = None

    @property
    def argvs(self) -> list[list[str]]:
        """The argv of every stage as started (contains no secret)."""
        return [list(cast(Sequence[str], p.args)) for p in self.procs]   # _spawn's lists

    def start(self) -> "Pipeline":
        prev: int | IO[bytes] | None = subprocess.PIPE if self._feed else subprocess.DEVNULL
        try:
            for i, stage in enumerate(self.stages):
                last = i == len(self.stages) - 1
                out = subprocess.PIPE if (not last or self._collect) else subprocess.DEVNULL
                proc = self._spawn(stage, prev, out)
                if i == 0 and self._feed:
                    assert proc.stdin is not None   # stdin=PIPE
                    _enlarge(proc.stdin.fileno())
                    self.stdin = proc.stdin
                if i > 0 and self.procs[-1].stdout is not None:
                    self.procs[-1].stdout.close()   # so the writer gets EPIPE if we die
                self.procs.append(proc)
                if proc.stdout is not None:
                    _enlarge(proc.stdout.fileno())
                prev = proc.stdout
        except BaseException:
            self.kill()
            raise
        if self._collect:
            self.stdout = self.procs[-1].stdout
        return self

    def _spawn(self, stage: Stage, stdin: int | IO[bytes] | None,
               stdout: int) -> subprocess.Popen[bytes]:
        argv: list[str] = list(stage.argv)
        pass_fds: tuple[int, ...] = ()
        rfd: int | None = None
        if stage.secret is not None:
            rfd, wfd = os.pipe()
            os.write(wfd, stage.secret + b"\n")
            os.close(wfd)
            argv = [a.replace("{secret_fd}", str(rfd)) for a in argv]
            pass_fds = (rfd,)
        try:
            proc = subprocess.Popen(argv, stdin=stdin, stdout=stdout,
                                    stderr=subprocess.PIPE, env=stage.env,
                                    pass_fds=pass_fds, cwd=self._cwd)
        finally:
            if rfd is not None:
                os.close(rfd)
        tail: collections.deque[str] = collections.deque(maxlen=40)
        thread = threading.Thread(target=_drain, args=(proc.stderr, tail),
                                  name="stderr-%s" % stage.name, daemon=True)
        thread.start()
        self._stderr.append(tail)
        self._threads.append(thread)
        return proc

    # -- data ----------------------------------------------------------------
    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes of the last stage's output; b'' at EOF."""
        if self.stdout is None:
            raise ValueError("the pipeline does not collect its output (collect=False)")
        return os.read(self.stdout.fileno(), n)

    def write(self, data: bytes | memoryview) -> None:
        """Write to the first stage; raises BrokenPipeError if it has stopped reading."""
        if self.stdin is None:
            raise ValueError("the pipeline takes no input (feed=False)")
        view = memoryview(data)
        fd = self.stdin.fileno()
        while view:
            view = view[os.write(fd, view):]

    def close_input(self) -> None:
        if self.stdin is not None and not self.stdin.closed:
            try:
                self.stdin.close()
            except BrokenPipeError:
                pass

    # -- outcome -------------------------------------------------------------
    def wait(self, timeout: float | None = None) -> list[int]:
        """Wait for every stage to exit; return their return codes."""
        self.close_input()
        codes = [p.wait(timeout) for p in self.procs]
        for t in self._threads:
            t.join(5)
        if self.stdout is not None:
            self.stdout.close()
        return codes

    def stderr_tail(self, index: int, lines: int=8) -> str:
        return "".join(list(self._stderr[index])[-lines:]).strip()

    def failure(self) -> tuple[str, int | None, str] | None:
        """(stage name, return code, stderr tail) of the causing failure, or None.

        Call after ``wait``. A stage killed by SIGPIPE or complaining of a broken
        pipe only reacted to a failure after it; a stage whose ``ok_marker`` is
        missing failed even with exit code 0.
        """
        failed = []
        for i, (stage, proc) in enumerate(zip(self.stages, self.procs)):
            text = "".join(self._stderr[i])
            bad = proc.returncode != 0 or (stage.ok_marker and stage.ok_marker not in text)
            if bad:
                consequence = (proc.returncode == -signal.SIGPIPE
                               or "Broken pipe" in text or "broken pipe" in text)
                failed.append((consequence, i))
        if not failed:
            return None
        failed.sort()
        i = failed[0][1]
        return self.stages[i].name, self.procs[i].returncode, self.stderr_tail(i)

    def raise_for_failure(self) -> None:
        found = self.failure()
        if found:
            raise PipelineError(*found)

    def kill(self) -> None:
        """SIGKILL every stage still running and reap it."""
        self.close_input()
        for proc in self.procs:
            if proc.poll() is None:
                try:
                    proc.kill()
                except ProcessLookupError:
                    pass
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                LOG.warning("stage pid %s did not exit after SIGKILL", proc.pid)
        for proc in self.procs:
            if proc.stdout is not None and not proc.stdout.closed:
                proc.stdout.close()


def _drain(stream: IO[bytes], tail: collections.deque[str]) -> None:
    for raw in iter(stream.readline, b""):
        tail.append(raw.decode("utf-8", "replace"))
    stream.close()


def io_counter(pid: int, field: str) -> int | None:
    """``rchar``/``wchar`` of a process from /proc (bytes through read/write), or None."""
    try:
        with open("/proc/%d/io" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None
