"""Transport-independent process bookkeeping shared by every workspace.

A workspace implementation (local subprocesses, SSH channels) only spawns a process, feeds its
merged output into ``ProcessRecord.output`` and calls ``ProcessRecord.mark_exited``; the table,
the bounded output capture, waiting and the ``ProcessInfo`` snapshots live here so that the
tools see exactly the same behaviour whatever the transport.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import functools
import itertools
import signal as signals
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase

from ..errors import WorkspaceError

HEAD_BYTES = 16 * 1024
TAIL_BYTES = 16 * 1024

# After the shell exits, a child it put in the background may still hold the output pipe open.
# Wait this long for the pipe to close so the last output is captured, then report the exit
# anyway (the output of such a child keeps being collected).
OUTPUT_GRACE_S = 0.5

SIGNALS: Mapping[str, signals.Signals] = {"terminate": signals.SIGTERM, "kill": signals.SIGKILL}


def signal_number(name: str) -> signals.Signals:
    """The signal a ``SignalName`` stands for; a readable error for anything else."""
    signum = SIGNALS.get(name)
    if signum is None:
        raise WorkspaceError(f'Unknown signal {name!r}; use "terminate" or "kill".')
    return signum


# Commands run unattended: anything that would open an editor, a pager or a credential prompt
# must fall through immediately instead of hanging until the timeout.
NON_INTERACTIVE_ENV: Mapping[str, str] = {
    "GIT_EDITOR": "true",
    "EDITOR": "true",
    "VISUAL": "true",
    "GIT_TERMINAL_PROMPT": "0",
    "PAGER": "cat",
    "GIT_PAGER": "cat",  # git prefers GIT_PAGER/core.pager over PAGER
    "NO_COLOR": "1",
    "TERM": "dumb",
    "CODER_AGENTS": "1",
    # An agent edits a module and re-runs it within the same second; cached bytecode with the
    # old (same-size, same-mtime) source would run instead.
    "PYTHONDONTWRITEBYTECODE": "1",
}

# A safety net under the explicit list of provider key names: credentials of the control plane
# must never leak into a workspace, even ones nobody thought of listing.
SECRET_ENV_PATTERNS: tuple[str, ...] = (
    "*_API_KEY",
    "*_KEY",
    "*_TOKEN",
    "*_SECRET*",
    "*_PASSWORD",
    "AWS_SECRET_ACCESS_KEY",
)


@functools.lru_cache(maxsize=4096)  # the server's variable names repeat on every command
def is_secret_env_name(name: str) -> bool:
    upper = name.upper()
    return any(fnmatchcase(upper, pattern) for pattern in SECRET_ENV_PATTERNS)


def build_env(
    inherited: Mapping[str, str],
    *,
    remove: Iterable[str] = (),
    extra: Mapping[str, str] | None = None,
    overrides: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment of a workspace command.

    ``inherited`` minus ``remove`` and minus secret-looking names, then the non-interactive
    settings, then the admin's ``extra``, then the per-call ``overrides`` (later wins).
    """
    removed = {n.upper() for n in remove}
    env = {
        k: v for k, v in inherited.items() if k.upper() not in removed and not is_secret_env_name(k)
    }
    env.update(NON_INTERACTIVE_ENV)
    env.update(extra or {})
    env.update(overrides or {})
    return env


class OutputBuffer:
    """Bounded capture of a process's merged output: the first and last bytes, counting the rest.

    The head shows how a command started (the invocation, early errors), the tail how it ended
    (the summary, the final error); the middle of a long build log is rarely worth context.
    """

    def __init__(self, head_limit: int = HEAD_BYTES, tail_limit: int = TAIL_BYTES) -> None:
        self.head_limit = head_limit
        self.tail_limit = tail_limit
        self._head = bytearray()
        self._tail = bytearray()
        self.total_bytes = 0

    def write(self, data: bytes) -> None:
        self.total_bytes += len(data)
        room = self.head_limit - len(self._head)
        if room > 0:
            self._head += data[:room]
            data = data[room:]
        if not data:
            return
        if len(data) >= self.tail_limit:
            self._tail = bytearray(data[-self.tail_limit :])
        else:
            self._tail += data
            excess = len(self._tail) - self.tail_limit
            if excess > 0:
                del self._tail[:excess]

    @property
    def omitted_bytes(self) -> int:
        return self.total_bytes - len(self._head) - len(self._tail)

    def text(self) -> str:
        """The captured output as text, with a marker where the middle was dropped."""
        if self.omitted_bytes == 0:
            return bytes(self._head + self._tail).decode("utf-8", errors="replace")
        # Cut points may split a multi-byte character: drop the partial bytes at each cut.
        head = codecs.getincrementaldecoder("utf-8")("replace").decode(bytes(self._head))
        tail = bytes(self._tail)
        skip = 0
        while skip < min(3, len(tail)) and 0x80 <= tail[skip] < 0xC0:
            skip += 1
        marker = (
            f"\n[... {self.omitted_bytes} bytes of output omitted; kept the first "
            f"{len(self._head)} and the last {len(self._tail)} bytes ...]\n"
        )
        return head + marker + tail[skip:].decode("utf-8", errors="replace")


@dataclass(frozen=True)
class ProcessInfo:
    """A snapshot of one tracked process.

    ``exit_code`` is None while running; a negative code -N means it was killed by signal N.
    ``output`` is the bounded capture (head + tail); ``omitted_bytes`` says how much was dropped.
    ``lost`` is set (and ``running`` False, ``exit_code`` None) when the workspace lost track of
    the process, e.g. its SSH connection dropped: it says why, and that it may still run.
    """

    id: str
    command: str
    workdir: str
    background: bool
    pid: int | None
    running: bool
    exit_code: int | None
    started_at: float  # epoch seconds
    ended_at: float | None
    duration_s: float
    output: str
    output_bytes: int
    omitted_bytes: int
    lost: str | None = None

    @property
    def truncated(self) -> bool:
        return self.omitted_bytes > 0


class ProcessRecord:
    """The mutable state of one tracked process, fed by the transport."""

    def __init__(self, id: str, command: str, workdir: str, background: bool) -> None:
        self.id = id
        self.command = command
        self.workdir = workdir
        self.background = background
        self.pid: int | None = None
        self.output = OutputBuffer()
        self.exit_code: int | None = None
        self.started_at = time.time()
        self._started_mono = time.monotonic()
        self.ended_at: float | None = None
        self._ended_mono: float | None = None
        self.lost: str | None = None
        self._exited = asyncio.Event()

    @property
    def running(self) -> bool:
        return not self._exited.is_set()

    def mark_exited(self, exit_code: int) -> None:
        if self._exited.is_set():
            return
        self.exit_code = exit_code
        self.ended_at = time.time()
        self._ended_mono = time.monotonic()
        self._exited.set()

    def mark_lost(self, reason: str) -> None:
        """The process can no longer be followed (its connection is gone); ``reason`` says so."""
        if self._exited.is_set():
            return
        self.lost = reason
        self.ended_at = time.time()
        self._ended_mono = time.monotonic()
        self._exited.set()

    async def wait(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the process to exit (0 = don't wait)."""
        if timeout <= 0 or not self.running:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):  # no task per wait, unlike wait_for on 3.11
                await self._exited.wait()

    def info(self) -> ProcessInfo:
        end = self._ended_mono if self._ended_mono is not None else time.monotonic()
        return ProcessInfo(
            id=self.id,
            command=self.command,
            workdir=self.workdir,
            background=self.background,
            pid=self.pid,
            running=self.running,
            exit_code=self.exit_code,
            started_at=self.started_at,
            ended_at=self.ended_at,
            duration_s=end - self._started_mono,
            output=self.output.text(),
            output_bytes=self.output.total_bytes,
            omitted_bytes=self.output.omitted_bytes,
            lost=self.lost,
        )


class ExitReporter:
    """Reports a process's exit to its record once its output has ended.

    Transports learn of the exit and of the end of the output separately, in either order. A
    child the command left in the background can hold the output open long after the exit:
    then the exit is reported ``OUTPUT_GRACE_S`` later anyway (output keeps being collected).
    """

    def __init__(self, record: ProcessRecord, loop: asyncio.AbstractEventLoop) -> None:
        self.record = record
        self._loop = loop
        self.output_open = True
        self.exit_code: int | None = None
        self._grace: asyncio.TimerHandle | None = None

    def output_closed(self) -> None:
        self.output_open = False
        if self.exit_code is not None:
            self._finish()

    def exited(self, code: int) -> None:
        self.exit_code = code
        if self.output_open:
            self._grace = self._loop.call_later(OUTPUT_GRACE_S, self._finish)
        else:
            self._finish()

    def _finish(self) -> None:
        if self._grace is not None:
            self._grace.cancel()
            self._grace = None
        if self.exit_code is not None:
            self.record.mark_exited(self.exit_code)


class ProcessNotFound(WorkspaceError):
    def __init__(self, process_id: str) -> None:
        super().__init__(
            f"There is no process {process_id!r} in this workspace. "
            "Use process_list to see the tracked processes."
        )
        self.process_id = process_id


class ProcessTable:
    """The processes of one workspace connection, by id (``p1``, ``p2``, ...).

    Finished records are kept (up to ``keep_finished``) so their output can still be read;
    running ones are capped so a looping model cannot fork-bomb the workspace.
    """

    def __init__(self, *, max_running: int = 64, keep_finished: int = 64) -> None:
        self.max_running = max_running
        self.keep_finished = keep_finished
        self._records: dict[str, ProcessRecord] = {}
        self._ids = itertools.count(1)

    def create(self, command: str, workdir: str, background: bool) -> ProcessRecord:
        running = sum(1 for r in self._records.values() if r.running)
        if running >= self.max_running:
            raise WorkspaceError(
                f"{running} processes are already running in this workspace. Stop some with "
                "process_signal (see process_list) before starting another."
            )
        self._evict_finished()
        record = ProcessRecord(f"p{next(self._ids)}", command, workdir, background)
        self._records[record.id] = record
        return record

    def discard(self, record: ProcessRecord) -> None:
        self._records.pop(record.id, None)

    def get(self, process_id: str) -> ProcessRecord:
        record = self._records.get(process_id.strip())
        if record is None:
            raise ProcessNotFound(process_id)
        return record

    def records(self) -> list[ProcessRecord]:
        return list(self._records.values())

    def __contains__(self, process_id: str) -> bool:
        return process_id in self._records

    async def wait(self, process_id: str, timeout: float) -> ProcessInfo:
        record = self.get(process_id)
        await record.wait(timeout)
        return record.info()

    def list(self) -> list[ProcessInfo]:
        return [r.info() for r in self._records.values()]

    def _evict_finished(self) -> None:
        finished = [r for r in self._records.values() if not r.running]
        for record in finished[: max(0, len(finished) - self.keep_finished)]:
            del self._records[record.id]
