"""A workspace that is a folder on the Jupyter server's own machine.

File operations run in worker threads so a large read, an fsync or a hung network mount never
stalls the server's event loop. A thread hand-off costs a tenth of a millisecond or more, more
than the work when that is a stat or a small read from a local disk's page cache, so those two
run in place when the file is inside the workspace folder and that folder is on a local
filesystem (``LOCAL_FILESYSTEMS``, with no other mount below it); so do small writes when it is
a memory filesystem, where nothing waits for a disk. A symlink in the folder that points to
another filesystem is the case this cannot see.

Commands run as ``/bin/sh -c`` in their own session (so ``terminate``/``kill`` reach
everything a command started) with stdin on /dev/null and an environment stripped of the
control plane's credentials.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal as signals
import stat as stat_mod
import subprocess
import tempfile
from collections.abc import Iterable, Mapping

from ..errors import WorkspaceError
from .base import (
    DirEntry,
    FileStat,
    PartialWriteError,
    PathProblem,
    SignalName,
    Workspace,
    closed_error,
    path_error,
)
from .processes import (
    OUTPUT_GRACE_S,
    ExitReporter,
    ProcessInfo,
    ProcessRecord,
    ProcessTable,
    build_env,
    signal_number,
)

__all__ = ["OUTPUT_GRACE_S", "LocalWorkspace"]

MEMORY_FILESYSTEMS = frozenset({"ramfs", "tmpfs"})
"""Filesystem types where no file operation waits for a disk: small writes, fsync included,
run in place too."""
LOCAL_FILESYSTEMS = MEMORY_FILESYSTEMS | {
    "btrfs",
    "ext2",
    "ext3",
    "ext4",
    "f2fs",
    "overlay",
    "xfs",
    "zfs",
}
"""Filesystem types whose stat and small reads are served from memory or a local disk."""
INLINE_READ_BYTES = 64 * 1024
"""The largest read done in place (see above)."""
INLINE_WRITE_BYTES = 256 * 1024
"""The most bytes one write puts in place on a memory filesystem."""


@functools.lru_cache(maxsize=1)
def _mounts() -> tuple[tuple[str, str, str], ...]:
    """(device "major:minor", mount point, filesystem type) of every mount, from Linux's
    /proc/self/mountinfo (read once: a later mount is taken for its parent's filesystem);
    empty elsewhere."""
    mounts = []
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                head, sep, tail = line.partition(" - ")
                fields = head.split()
                if sep and len(fields) >= 5 and tail.split():
                    point = fields[4].replace("\\040", " ")
                    mounts.append((fields[2], point, tail.split()[0]))
    except OSError:
        pass
    return tuple(mounts)


def filesystem_type(folder: str) -> str | None:
    """The type of the filesystem ``folder`` (absolute) is on; None when unknown or when
    another filesystem is mounted below it (then its files are not all of that type)."""
    try:
        dev = os.stat(folder).st_dev
    except OSError:
        return None
    device = f"{os.major(dev)}:{os.minor(dev)}"
    mounts = _mounts()
    below = folder.rstrip("/") + "/"
    if any(p.startswith(below) for _, p, _ in mounts):
        return None
    return next((t for d, _, t in mounts if d == device), None)


def _os_error(exc: OSError, path: str, action: str) -> WorkspaceError:
    """One phrasing of filesystem failures, naming the path and what would help."""
    problem: PathProblem = "other"
    if isinstance(exc, PermissionError):
        problem = "permission"
    elif isinstance(exc, FileNotFoundError):
        problem = "missing"
    elif isinstance(exc, IsADirectoryError):
        problem = "is_dir"
    elif isinstance(exc, NotADirectoryError | FileExistsError):  # makedirs meets a file
        problem = "not_dir"
    return path_error(path, action, problem, exc.strerror or str(exc))


def _current_umask() -> int:
    # os.umask can only be read by setting it, which races with other threads; Linux shows it.
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


class _ProcessProtocol(asyncio.SubprocessProtocol):
    """Feeds one subprocess's merged output into its record and reports its exit.

    ``process_exited`` is used instead of ``Process.wait()``: on Python 3.11 the latter only
    returns once every pipe is closed, i.e. never while a background child holds stdout.
    """

    def __init__(self, record: ProcessRecord, loop: asyncio.AbstractEventLoop) -> None:
        self.record = record
        self.exit = ExitReporter(record, loop)
        self.transport: asyncio.SubprocessTransport | None = None

    @property
    def pipe_open(self) -> bool:
        return self.exit.output_open

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.SubprocessTransport)
        self.transport = transport

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        self.record.output.write(data if isinstance(data, bytes) else data.encode())

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        self.exit.output_closed()

    def process_exited(self) -> None:
        assert self.transport is not None
        code = self.transport.get_returncode()
        self.exit.exited(code if code is not None else -1)

    def connection_lost(self, exc: Exception | None) -> None:
        # Both the process and its pipe are gone: release the transport.
        if self.transport is not None:
            self.transport.close()


class LocalWorkspace(Workspace):
    """A folder on this machine.

    ``env_remove`` names variables of the server's environment that commands must not see
    (the provider key variables); any name looking like a secret is removed as well.
    ``env_extra`` is added to every command's environment.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        env_remove: Iterable[str] = (),
        env_extra: Mapping[str, str] | None = None,
    ) -> None:
        path = os.path.abspath(os.path.expanduser(os.fspath(root)))
        if not os.path.isdir(path):
            raise WorkspaceError(f"The workspace folder {path} does not exist.")
        self._root = path
        self._inside = path.rstrip("/") + "/"
        kind = filesystem_type(path)
        self._in_place = kind in LOCAL_FILESYSTEMS
        self._writes_in_place = kind in MEMORY_FILESYSTEMS
        self._env_remove = tuple(env_remove)
        self._env_extra = dict(env_extra or {})
        self._table = ProcessTable()
        self._protocols: dict[str, _ProcessProtocol] = {}
        self._closed = False

    def __repr__(self) -> str:
        return f"LocalWorkspace({self._root!r})"

    @property
    def root(self) -> str:
        return self._root

    def resolve(self, path: str) -> str:
        if path.startswith("~"):
            path = os.path.expanduser(path)
        return os.path.normpath(os.path.join(self._root, path))

    # ----- files -----

    def _here(self, path: str) -> bool:
        """Whether file work on ``path`` (resolved) may run in place (see the module doc)."""
        return self._in_place and path.startswith(self._inside)

    async def stat(self, path: str) -> FileStat | None:
        resolved = self.resolve(path)
        if self._here(resolved):
            return self._stat(resolved)
        return await asyncio.to_thread(self._stat, resolved)

    @staticmethod
    def _stat(path: str) -> FileStat | None:
        try:
            st = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise _os_error(exc, path, "inspect") from None
        return FileStat(
            path=path,
            is_dir=stat_mod.S_ISDIR(st.st_mode),
            is_file=stat_mod.S_ISREG(st.st_mode),
            size=st.st_size,
            mode=stat_mod.S_IMODE(st.st_mode),
            mtime=st.st_mtime,
        )

    async def read_bytes(self, path: str, max_bytes: int | None = None, offset: int = 0) -> bytes:
        resolved = self.resolve(path)
        if max_bytes is not None and max_bytes <= INLINE_READ_BYTES and self._here(resolved):
            data = self._read_regular(resolved, max_bytes, offset)
            if data is not None:
                return data
        return await asyncio.to_thread(self._read, resolved, max_bytes, offset)

    @staticmethod
    def _read_regular(path: str, max_bytes: int, offset: int) -> bytes | None:
        """``_read`` of a regular file; None for anything else (reading a FIFO or a device
        could block)."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            raise _os_error(exc, path, "read") from None
        try:
            if not stat_mod.S_ISREG(os.fstat(fd).st_mode):
                return None
            return os.pread(fd, max_bytes, offset)
        except OSError as exc:
            raise _os_error(exc, path, "read") from None
        finally:
            os.close(fd)

    @staticmethod
    def _read(path: str, max_bytes: int | None, offset: int) -> bytes:
        try:
            with open(path, "rb") as f:
                if offset:
                    f.seek(offset)
                return f.read(-1 if max_bytes is None else max_bytes)
        except OSError as exc:
            raise _os_error(exc, path, "read") from None

    async def list_dir(self, path: str) -> list[DirEntry]:
        return await asyncio.to_thread(self._list_dir, self.resolve(path))

    @staticmethod
    def _list_dir(path: str) -> list[DirEntry]:
        entries = []
        try:
            with os.scandir(path) as it:
                for e in it:
                    try:
                        is_dir = e.is_dir()
                        size = None if is_dir else e.stat().st_size
                    except OSError:
                        is_dir, size = False, None
                    entries.append(DirEntry(e.name, is_dir, e.is_symlink(), size))
        except OSError as exc:
            raise _os_error(exc, path, "list") from None
        entries.sort(key=lambda e: e.name)
        return entries

    async def write_files_atomic(self, files: Mapping[str, bytes]) -> None:
        resolved = {self.resolve(p): data for p, data in files.items()}
        if (
            self._writes_in_place
            and sum(len(d) for d in resolved.values()) <= INLINE_WRITE_BYTES
            and all(self._here(p) for p in resolved)
        ):
            self._write_atomic(resolved)
        else:
            await asyncio.to_thread(self._write_atomic, resolved)

    @staticmethod
    def _write_atomic(files: Mapping[str, bytes]) -> None:
        staged: list[tuple[str, str]] = []  # (temporary, target)
        try:
            for path, data in files.items():
                # Through a symlink to its file, keeping the link (a linked directory on the
                # way needs nothing: the kernel follows it).
                target = os.path.realpath(path) if os.path.islink(path) else path
                parent = os.path.dirname(target)
                try:
                    try:
                        st: os.stat_result | None = os.stat(target)
                    except (FileNotFoundError, NotADirectoryError):
                        st = None
                    if st is None:
                        os.makedirs(parent, exist_ok=True)
                        mode = 0o666 & ~_current_umask()
                    elif stat_mod.S_ISDIR(st.st_mode):
                        raise WorkspaceError(f"Cannot write {path}: it is a directory.")
                    else:
                        mode = stat_mod.S_IMODE(st.st_mode)
                    fd, tmp = tempfile.mkstemp(
                        prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=parent
                    )
                    staged.append((tmp, target))
                    with os.fdopen(fd, "wb") as f:
                        f.write(data)
                        f.flush()
                        os.fsync(f.fileno())
                    os.chmod(tmp, mode)  # mkstemp creates 0600
                except OSError as exc:
                    raise _os_error(exc, path, "write") from None
        except BaseException:
            for tmp, _ in staged:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            raise
        done: list[str] = []
        for i, (tmp, target) in enumerate(staged):
            try:
                os.replace(tmp, target)
            except OSError as exc:
                for leftover, _ in staged[i:]:
                    with contextlib.suppress(OSError):
                        os.unlink(leftover)
                written = ", ".join(done) or "none"
                raise PartialWriteError(
                    f"Writing {target} failed while renaming the staged files ({exc.strerror}); "
                    f"files already replaced: {written}. Check them before retrying."
                ) from None
            done.append(target)

    async def remove(self, path: str) -> None:
        await asyncio.to_thread(self._remove, self.resolve(path))

    @staticmethod
    def _remove(path: str) -> None:
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                os.rmdir(path)
            else:
                os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise _os_error(exc, path, "remove") from None

    # ----- processes -----

    async def _workdir(self, workdir: str | None) -> str:
        # Checked by the start itself (a missing directory fails it): no thread hand-off
        # for a stat before every command.
        return self.resolve(workdir) if workdir else self._root

    async def start_process(
        self,
        command: str,
        *,
        workdir: str | None = None,
        env: Mapping[str, str] | None = None,
        background: bool = False,
    ) -> str:
        if self._closed:
            raise closed_error()
        cwd = await self._workdir(workdir)
        full_env = build_env(
            os.environ, remove=self._env_remove, extra=self._env_extra, overrides=env
        )
        record = self._table.create(command, cwd, background)
        loop = asyncio.get_running_loop()
        try:
            transport, protocol = await loop.subprocess_exec(
                lambda: _ProcessProtocol(record, loop),
                "/bin/sh",
                "-c",
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=full_env,
                start_new_session=True,  # own process group: signals reach its children
            )
        except OSError as exc:
            self._table.discard(record)
            if exc.filename == cwd:  # the chdir into it failed
                raise WorkspaceError(f"The working directory {cwd} does not exist.") from None
            raise WorkspaceError(f"Could not start the command: {exc.strerror or exc}.") from None
        record.pid = transport.get_pid()
        self._protocols[record.id] = protocol
        return record.id

    async def wait(self, process_id: str, timeout: float = 0) -> ProcessInfo:
        return await self._table.wait(process_id, timeout)

    async def list_processes(self) -> list[ProcessInfo]:
        return self._table.list()

    async def signal(self, process_id: str, signal: SignalName) -> ProcessInfo:
        signum = signal_number(signal)
        record = self._table.get(process_id)
        self._kill_group(record, signum)
        return record.info()

    def _kill_group(self, record: ProcessRecord, signum: int) -> None:
        protocol = self._protocols.get(record.id)
        # Once the shell has exited and its pipe closed, nothing of the group can remain; the
        # group id may even be reused, so don't signal it then.
        alive = record.running or (protocol is not None and protocol.pipe_open)
        if record.pid is None or not alive:
            return
        try:
            os.killpg(record.pid, signum)
        except ProcessLookupError:
            pass
        except PermissionError as exc:
            raise WorkspaceError(
                f"Not allowed to signal process {record.id} (pid {record.pid}): {exc.strerror}."
            ) from None

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        records = self._table.records()
        for record in records:
            with contextlib.suppress(WorkspaceError):
                self._kill_group(record, signals.SIGKILL)
        # Let the exits be reported before the transports go, so no callback outlives them.
        await asyncio.gather(*(r.wait(2.0) for r in records if r.running))
        for protocol in self._protocols.values():
            if protocol.transport is not None:
                protocol.transport.close()
