"""Commands on an SSH host: the shell text that starts them and the session that follows them.

sshd runs every command through the user's login shell, in a fresh session whose environment
is the host's, not ours. The wrapper built here makes a command behave like a local one: stdin
from /dev/null, stderr merged into stdout, the non-interactive variables exported (values
quoted; sshd's ``AcceptEnv`` is not relied on), secret-looking variables of the host unset,
then ``exec /bin/sh -c command`` in the working directory. Before that it prints a marker
with its pid, which is also its process group (sshd makes each session's shell a session
leader; where it does not, ``setsid`` is used), so ``kill -- -PGID`` reaches everything the
command started. Whatever a login script prints before the marker is dropped.
"""

from __future__ import annotations

import asyncio
import re
import shlex
import signal as signals
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import asyncssh

from ..errors import WorkspaceError
from .processes import ExitReporter, ProcessRecord, is_secret_env_name

PID_MARKER = b"@@coder-agents-pid:"
PROBE_MARKER = "@@coder-agents-probe@@"
_PRE_OUTPUT_LIMIT = 64 * 1024  # what a chatty login script may print before the marker
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# Facts about the host the wrappers depend on, gathered once per connection. Reading
# /proc/$$/stat avoids a `ps` fork on Linux; elsewhere `ps` answers.
PROBE_SCRIPT = (
    f"printf '\\n%s\\n' '{PROBE_MARKER}'; "
    'printf \'home=%s\\npid=%s\\n\' "$HOME" "$$"; '
    "if [ -r /proc/$$/stat ]; then read -r s < /proc/$$/stat; s=${s##*) }; set -- $s; "
    "printf 'pgid=%s\\n' \"$3\"; else printf 'pgid=%s\\n' \"$(ps -o pgid= -p $$)\"; fi; "
    "command -v setsid >/dev/null 2>&1 && echo setsid=1; "
    "echo @@env@@; env"
)


@dataclass(frozen=True)
class HostFacts:
    home: str
    group_mode: str  # "leader": the shell leads its group; "setsid": make it; "pid": neither
    env_names: frozenset[str]  # variables a command's environment starts with


def parse_probe(output: str) -> HostFacts:
    _, found, body = output.partition(PROBE_MARKER + "\n")
    if not found:
        raise ValueError("the host's login shell did not run the probe")
    head, _, env_text = body.partition("@@env@@\n")
    facts = dict(line.split("=", 1) for line in head.splitlines() if "=" in line)
    home = facts.get("home", "")
    if not home.startswith("/"):
        raise ValueError(f"the home directory {home!r} is not an absolute path")
    pid, pgid = facts.get("pid", "").strip(), facts.get("pgid", "").strip()
    if pid and pid == pgid:
        mode = "leader"
    elif facts.get("setsid"):
        mode = "setsid"
    else:
        mode = "pid"
    # A multi-line value can yield a stray "NAME=" line: unsetting a name that is not set is
    # harmless, so over-matching costs nothing.
    names = frozenset(
        line.split("=", 1)[0]
        for line in env_text.splitlines()
        if "=" in line and _IDENTIFIER.match(line.split("=", 1)[0])
    )
    return HostFacts(home=home.rstrip("/") or "/", group_mode=mode, env_names=names)


def names_to_unset(env_names: Iterable[str], remove: Iterable[str]) -> list[str]:
    """The host's variables a command must not see: the listed ones and secret-looking ones."""
    removed = {n.upper() for n in remove}
    candidates = set(env_names) | {n for n in remove if _IDENTIFIER.match(n)}
    return sorted(n for n in candidates if n.upper() in removed or is_secret_env_name(n))


def command_script(
    command: str, cwd: str, exports: Mapping[str, str], unset: Iterable[str], group_mode: str
) -> str:
    """The text sent as the exec request: see the module docstring."""
    bad = [k for k in exports if not _IDENTIFIER.match(k)]
    if bad:
        raise WorkspaceError(
            f"Cannot set environment variable {bad[0]!r} on an SSH host: not a valid name."
        )
    parts = ["exec </dev/null 2>&1", f"printf '{PID_MARKER.decode()}%s\\n' \"$$\""]
    dropped = [n for n in unset if n not in exports]
    if dropped:
        parts.append("unset " + " ".join(dropped))
    if exports:
        parts.append("export " + " ".join(f"{k}={shlex.quote(v)}" for k, v in exports.items()))
    parts.append(f"cd -- {shlex.quote(cwd)} || exit 126")
    launcher = "exec setsid /bin/sh -c" if group_mode == "setsid" else "exec /bin/sh -c"
    parts.append(f"{launcher} {shlex.quote(command)}")
    return "; ".join(parts)


def kill_script(pids: Iterable[int], signum: signals.Signals, group: bool) -> str:
    targets = " ".join(f"-{pid}" if group else str(pid) for pid in pids)
    return f"kill -s {signum.name.removeprefix('SIG')} -- {targets}"


def exit_code_of_signal(name: str) -> int:
    """sshd reports a signal death by name ("TERM"); locally it is -15."""
    try:
        return -int(signals.Signals[f"SIG{name}"])
    except KeyError:
        return -1


class RemoteProcess(asyncssh.SSHClientSession[bytes]):
    """One command's exec channel: finds the pid marker, then feeds output and exit to its record.

    ``started`` resolves to the pid once the marker arrived, or fails with the login shell's
    words if the channel closed first. ``lost_message`` phrases a connection lost mid-run.
    """

    def __init__(
        self,
        record: ProcessRecord,
        loop: asyncio.AbstractEventLoop,
        lost_message: Callable[[], str],
    ) -> None:
        self.record = record
        self.exit = ExitReporter(record, loop)
        self.started: asyncio.Future[int] = loop.create_future()
        self._lost_message = lost_message
        self._pre = bytearray()
        self.channel: asyncssh.SSHClientChannel[bytes] | None = None

    def connection_made(self, chan: asyncssh.SSHClientChannel[bytes]) -> None:
        self.channel = chan

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        if self.started.done():
            self.record.output.write(data)
            return
        self._pre += data
        at = self._pre.find(PID_MARKER)
        end = self._pre.find(b"\n", at) if at >= 0 else -1
        if end < 0:
            if len(self._pre) > _PRE_OUTPUT_LIMIT:
                del self._pre[: len(self._pre) - len(PID_MARKER) - 32]
            return
        try:
            pid = int(self._pre[at + len(PID_MARKER) : end])
        except ValueError:
            pid = 0
        rest = bytes(self._pre[end + 1 :])
        self._pre.clear()
        self.record.pid = pid or None
        self.started.set_result(pid)
        if rest:
            self.record.output.write(rest)

    def eof_received(self) -> bool:
        self.exit.output_closed()
        return False

    def exit_status_received(self, status: int) -> None:
        self.exit.exited(status)

    def exit_signal_received(self, signal: str, core_dumped: bool, msg: str, lang: str) -> None:
        self.exit.exited(exit_code_of_signal(signal))

    def connection_lost(self, exc: Exception | None) -> None:
        self.exit.output_closed()
        if not self.started.done():
            said = self._pre.decode("utf-8", errors="replace").strip()
            reason = said[-500:] if said else "the login shell exited before running it"
            self.started.set_exception(WorkspaceError(f"Could not start the command: {reason}."))
            self.started.exception()  # retrieved: no "never retrieved" warning if unawaited
        elif self.exit.exit_code is None:
            self.record.mark_lost(self._lost_message())
