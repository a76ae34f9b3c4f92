"""The Workspace interface: the few primitives every workspace tool is written on.

A workspace is plain compute (a local folder, an SSH host) with no AI awareness. Tools call only
these methods, so a tool behaves identically wherever the workspace lives; a transport
implements them once (``local.LocalWorkspace``; the SSH workspace over asyncssh/SFTP).

Paths are POSIX strings. Every method accepts a relative path (relative to ``root``) or one
starting with ``~``; ``resolve`` shows what it will mean. Operation failures (permission
denied, a path that is a directory...) raise ``WorkspaceError`` with a message the model can
act on; "does not exist" is reported by ``stat`` returning None rather than by an exception.

Processes are tracked by the workspace (``processes.ProcessTable``): ``start_process`` returns
an id at once, ``wait`` returns a ``ProcessInfo`` snapshot after the process exits or the
timeout passes (the process keeps running), ``aclose`` kills whatever is still running.
"""

from __future__ import annotations

import abc
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Literal

from ..errors import WorkspaceError
from .processes import ProcessInfo

SignalName = Literal["terminate", "kill"]
"""``terminate`` is SIGTERM, ``kill`` is SIGKILL; both go to the process's whole group."""


class PartialWriteError(WorkspaceError):
    """``write_files_atomic`` failed after some targets were already replaced."""


PathProblem = Literal["permission", "missing", "is_dir", "not_dir", "other"]


def path_error(path: str, action: str, problem: PathProblem, detail: str = "") -> WorkspaceError:
    """The one phrasing of a failed file operation, whatever the transport found out.

    ``action`` is a verb ("read", "write", "list"...); ``detail`` is the system's own words,
    used only when ``problem`` is "other".
    """
    if problem == "permission":
        return WorkspaceError(f"Permission denied: cannot {action} {path}.")
    if problem == "missing":
        return WorkspaceError(f"Cannot {action} {path}: it does not exist.")
    if problem == "is_dir":
        return WorkspaceError(f"Cannot {action} {path}: it is a directory.")
    if problem == "not_dir":
        return WorkspaceError(
            f"Cannot {action} {path}: a component of the path is not a directory."
        )
    return WorkspaceError(f"Cannot {action} {path}: {detail.rstrip('.') or 'failed'}.")


def closed_error() -> WorkspaceError:
    return WorkspaceError("This workspace connection is closed.")


def join_path(root: str, home: str, path: str) -> str:
    """``path`` made absolute against ``root`` (``~``, ``~/...`` against ``home``), normalised."""
    if path == "~" or path.startswith("~/"):
        path = home + path[1:]
    return posixpath.normpath(posixpath.join(root, path))


@dataclass(frozen=True)
class FileStat:
    """What ``stat`` knows about an existing path (symlinks followed)."""

    path: str  # resolved absolute path
    is_dir: bool
    is_file: bool
    size: int
    mode: int  # permission bits, e.g. 0o644
    mtime: float  # epoch seconds


@dataclass(frozen=True)
class DirEntry:
    name: str
    is_dir: bool
    is_symlink: bool
    size: int | None  # None when it could not be read (broken link, no permission)


class Workspace(abc.ABC):
    """Files and processes of one workspace, async, transport-agnostic."""

    @property
    @abc.abstractmethod
    def root(self) -> str:
        """Absolute path of the workspace folder; relative paths and default workdirs use it."""

    @abc.abstractmethod
    def resolve(self, path: str) -> str:
        """The absolute, normalised path ``path`` refers to (``~`` expanded, no symlink lookup)."""

    # ----- files -----

    @abc.abstractmethod
    async def stat(self, path: str) -> FileStat | None:
        """Stat ``path`` following symlinks; None if it does not exist."""

    @abc.abstractmethod
    async def read_bytes(self, path: str, max_bytes: int | None = None, offset: int = 0) -> bytes:
        """Up to ``max_bytes`` bytes of a file starting at byte ``offset`` (None = to the end)."""

    @abc.abstractmethod
    async def list_dir(self, path: str) -> list[DirEntry]:
        """The entries of a directory, sorted by name."""

    @abc.abstractmethod
    async def write_files_atomic(self, files: Mapping[str, bytes]) -> None:
        """Write several files so that either all are replaced or none is.

        Every file is first staged as a temporary file in its target directory (creating
        missing parent directories, keeping an existing file's permission bits, writing
        through a symlink to its target); only when all are staged are they renamed over
        their targets. If staging fails, the temporary files are removed, no target changes,
        and ``WorkspaceError`` is raised. A failure during the renames themselves (it takes a
        disk vanishing mid-call) can leave earlier renames done: ``PartialWriteError`` then
        names the files already replaced.
        """

    @abc.abstractmethod
    async def remove(self, path: str) -> None:
        """Remove a file, a symlink or an empty directory; a missing path is not an error."""

    # ----- processes -----

    @abc.abstractmethod
    async def start_process(
        self,
        command: str,
        *,
        workdir: str | None = None,
        env: Mapping[str, str] | None = None,
        background: bool = False,
    ) -> str:
        """Start ``sh -c command`` non-interactively (stdin empty, output captured); its id.

        ``workdir`` defaults to ``root``; ``env`` adds to the workspace environment;
        ``background`` is only recorded (for listings): every process is tracked alike.
        """

    @abc.abstractmethod
    async def wait(self, process_id: str, timeout: float = 0) -> ProcessInfo:
        """Wait up to ``timeout`` seconds for the process to exit; a snapshot either way."""

    @abc.abstractmethod
    async def list_processes(self) -> list[ProcessInfo]:
        """Every tracked process, oldest first."""

    @abc.abstractmethod
    async def signal(self, process_id: str, signal: SignalName) -> ProcessInfo:
        """Send SIGTERM/SIGKILL to the process and everything it started; a snapshot."""

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Kill every tracked process and release the connection. Idempotent."""

    async def connect(self) -> None:
        """Make sure the workspace is reachable, opening its connection if needed.

        Idempotent and cheap once connected. ``ToolContext.workspace`` calls it, so a tool
        always gets a workspace whose ``root`` and ``resolve`` are known; a transport with
        nothing to open (a local folder) keeps this default.
        """
        return None  # noqa: B027 - deliberately a no-op default, not abstract

    async def _workdir(self, workdir: str | None) -> str:
        """The absolute working directory of a new process; an error if it is not a directory."""
        cwd = self.resolve(workdir) if workdir else self.root
        st = await self.stat(cwd)
        if st is None or not st.is_dir:
            raise WorkspaceError(f"The working directory {cwd} does not exist.")
        return cwd

    async def __aenter__(self) -> Workspace:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
