"""A workspace on a host reached over SSH (asyncssh): files over SFTP, commands over exec channels.

It behaves like ``LocalWorkspace`` down to the error texts: the same ``ProcessTable`` and
output capture, the same phrasing of file errors (``base.path_error``), the same environment
rules. What SSH adds is a connection that can fail: it is opened on first use, kept, and opened
again on the next call after it dropped. Reads are retried once on a fresh connection when the
old one turns out dead; a command that was running when its connection dropped is reported as
lost (it may still run on the host) instead of leaving its caller waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import posixpath
import secrets
import signal as signals
import stat as stat_mod
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TypeVar

import asyncssh

from ..errors import WorkspaceError
from .base import (
    DirEntry,
    FileStat,
    PartialWriteError,
    PathProblem,
    SignalName,
    Workspace,
    closed_error,
    join_path,
    path_error,
)
from .processes import ProcessInfo, ProcessRecord, ProcessTable, build_env, signal_number
from .ssh_link import (
    HostKeyPins,
    Link,
    lost_process_message,
    transport_failure,
)
from .ssh_process import (
    PROBE_SCRIPT,
    HostFacts,
    RemoteProcess,
    command_script,
    kill_script,
    names_to_unset,
    parse_probe,
)
from .ssh_target import SSHTarget

__all__ = ["SSHTarget", "SSHWorkspace"]

log = logging.getLogger(__name__)

T = TypeVar("T")

FIRST_READ = 64 * 1024
_MISSING = (asyncssh.FX_NO_SUCH_FILE, asyncssh.FX_NO_SUCH_PATH)
_PROBLEMS: dict[int, PathProblem] = {
    asyncssh.FX_NO_SUCH_FILE: "missing",
    asyncssh.FX_NO_SUCH_PATH: "missing",
    asyncssh.FX_PERMISSION_DENIED: "permission",
    asyncssh.FX_FILE_IS_A_DIRECTORY: "is_dir",
    asyncssh.FX_NOT_A_DIRECTORY: "not_dir",
}


def _file_stat(path: str, attrs: asyncssh.SFTPAttrs) -> FileStat:
    mode = attrs.permissions or 0
    return FileStat(
        path=path,
        is_dir=stat_mod.S_ISDIR(mode),
        is_file=stat_mod.S_ISREG(mode),
        size=attrs.size or 0,
        mode=stat_mod.S_IMODE(mode),
        mtime=float(attrs.mtime or 0),
    )


def _is_missing(exc: asyncssh.SFTPError) -> bool:
    return exc.code in _MISSING


async def _read_direct(f: asyncssh.SFTPClientFile, size: int, offset: int) -> bytes:
    """Up to ``size`` bytes at ``offset`` of ``f`` (opened with ``block_size=0``: one request
    per read); fewer only at the end of the file. A server may answer a request with less
    than asked without being at the end: the rest is asked for, as asyncssh's reader does."""
    parts: list[bytes] = []
    while size > 0:
        data = await f.read(size, offset)
        if not data:
            break
        parts.append(data)
        size -= len(data)
        offset += len(data)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _temp_name(path: str) -> str:
    parent, name = posixpath.split(path)
    return posixpath.join(parent, f".{name}.{secrets.token_hex(4)}.tmp")


class SSHWorkspace(Workspace):
    """A folder (``target.workdir``, default the home directory) on an SSH host.

    ``env_remove`` names variables commands must not see (besides secret-looking names, which
    are always removed); ``env_extra`` is added to every command's environment (e.g. the git
    identity). Nothing is connected until the first call that needs the host.
    """

    def __init__(
        self,
        target: SSHTarget,
        env_remove: Iterable[str] = (),
        env_extra: Mapping[str, str] | None = None,
    ) -> None:
        self.target = target
        self._env_remove = tuple(env_remove)
        self._env_extra = dict(env_extra or {})
        self._pins = HostKeyPins()
        self._link: Link | None = None
        self._lock = asyncio.Lock()
        self._facts: HostFacts | None = None
        self._root: str | None = None
        if target.workdir.startswith("/"):
            self._root = posixpath.normpath(target.workdir)
        self._table = ProcessTable()
        self._procs: dict[str, RemoteProcess] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self._closed = False

    def __repr__(self) -> str:
        return f"SSHWorkspace({self.target.user}@{self.target.address}:{self.target.workdir})"

    # ----- connection -----

    async def connect(self) -> None:
        await self._ensure()

    async def _ensure(self) -> Link:
        """The live link, opening one (a single attempt) when there is none or it dropped."""
        if self._closed:
            raise closed_error()
        link = self._link
        if link is not None and link.alive:
            return link
        async with self._lock:
            if self._closed:
                raise closed_error()
            if self._link is not None and self._link.alive:
                return self._link
            if self._link is not None:
                await self._link.close()
                self._link = None
            link = Link(self.target, self._pins)
            await link.open()
            try:
                await self._learn_host(link)
            except BaseException:
                await link.close()
                raise
            self._link = link
            return link

    async def _learn_host(self, link: Link) -> None:
        """Home, process-group support and environment of the host; check the workspace folder."""
        try:
            result = await link.run(PROBE_SCRIPT, self.target.connect_timeout)
            facts = parse_probe(str(result.stdout or ""))
        except (asyncssh.Error, OSError, TimeoutError, ValueError) as exc:
            reason = str(exc) or type(exc).__name__
            raise WorkspaceError(
                f"Cannot reach {self.target.address} as {self.target.user}: running a command "
                f"failed ({reason}); check the workspace is running."
            ) from None
        self._facts = facts
        self._root = join_path(facts.home, facts.home, self.target.workdir)
        assert link.sftp is not None
        try:
            attrs = await link.sftp.stat(self._root)
        except asyncssh.SFTPError as exc:
            if not _is_missing(exc):
                raise self._fs_error(exc, self._root, "open") from None
            attrs = None
        if attrs is None or not stat_mod.S_ISDIR(attrs.permissions or 0):
            raise WorkspaceError(f"The workspace folder {self._root} does not exist.")

    def _dropped(self) -> WorkspaceError:
        return WorkspaceError(
            f"The SSH connection to {self.target.address} dropped during the operation; "
            "the next call reconnects. Check the workspace is running."
        )

    async def _sftp(
        self, operation: Callable[[asyncssh.SFTPClient], Awaitable[T]], *, retry: bool
    ) -> T:
        """Run an SFTP operation; a dead connection is replaced (and, if ``retry``, re-run)."""
        for attempt in range(2):
            link = await self._ensure()
            assert link.sftp is not None
            try:
                return await operation(link.sftp)
            except Exception as exc:
                if not transport_failure(exc):
                    raise
                link.mark_dead()
                if not retry or attempt:
                    raise self._dropped() from None
        raise AssertionError("unreachable")

    # ----- paths -----

    @property
    def root(self) -> str:
        if self._root is None:
            raise WorkspaceError(
                f"The SSH workspace on {self.target.address} is not connected yet; "
                "its folder is not known."
            )
        return self._root

    def resolve(self, path: str) -> str:
        user = self.target.user
        if path.startswith(f"~{user}") and path[len(user) + 1 :][:1] in ("", "/"):
            path = "~" + path[len(user) + 1 :]  # ~user is ~ for the user we log in as
        if path.startswith("/"):
            return posixpath.normpath(path)
        home = self._facts.home if self._facts else None
        if home is None and (path == "~" or path.startswith("~/")):
            raise WorkspaceError(
                f"The SSH workspace on {self.target.address} is not connected yet; "
                "its home directory is not known."
            )
        return join_path(self.root, home or "/", path)

    # ----- files -----

    def _fs_error(self, exc: asyncssh.SFTPError, path: str, action: str) -> WorkspaceError:
        return path_error(path, action, _PROBLEMS.get(exc.code, "other"), exc.reason)

    async def _why_missing(self, sftp: asyncssh.SFTPClient, path: str) -> PathProblem:
        """SFTP says "no such file" also when a parent is a file: tell the two apart."""
        parent = posixpath.dirname(path)
        while parent and parent != path:
            try:
                attrs = await sftp.stat(parent)
            except asyncssh.SFTPError as exc:
                if not _is_missing(exc):
                    return "missing"
                path, parent = parent, posixpath.dirname(parent)
                continue
            return "missing" if stat_mod.S_ISDIR(attrs.permissions or 0) else "not_dir"
        return "missing"

    async def _refine(
        self, sftp: asyncssh.SFTPClient, exc: asyncssh.SFTPError, path: str, action: str
    ) -> WorkspaceError:
        """The local wording for an SFTP error; v3 servers say only "Failure" for EISDIR."""
        if transport_failure(exc):
            raise exc
        if _is_missing(exc):
            return path_error(path, action, await self._why_missing(sftp, path))
        if exc.code == asyncssh.FX_FAILURE:
            with contextlib.suppress(asyncssh.SFTPError):
                if await sftp.isdir(path):
                    return path_error(path, action, "is_dir")
        return self._fs_error(exc, path, action)

    async def stat(self, path: str) -> FileStat | None:
        await self._ensure()
        resolved = self.resolve(path)

        async def op(sftp: asyncssh.SFTPClient) -> FileStat | None:
            try:
                return _file_stat(resolved, await sftp.stat(resolved))
            except asyncssh.SFTPError as exc:
                if _is_missing(exc):
                    return None
                if transport_failure(exc):
                    raise
                raise self._fs_error(exc, resolved, "inspect") from None

        return await self._sftp(op, retry=True)

    async def read_bytes(self, path: str, max_bytes: int | None = None, offset: int = 0) -> bytes:
        await self._ensure()
        resolved = self.resolve(path)

        async def op(sftp: asyncssh.SFTPClient) -> bytes:
            # A read that fits in one request (most do: small files, asked for their size) is
            # sent as one: asyncssh's parallel reader costs tasks even for a single block.
            fits = max_bytes is not None and max_bytes <= sftp.limits.max_read_len
            try:
                f = await sftp.open(resolved, "rb", block_size=0 if fits else -1)
            except asyncssh.SFTPError as exc:
                raise await self._refine(sftp, exc, resolved, "read") from None
            try:
                if fits and max_bytes is not None:
                    return await _read_direct(f, max_bytes, offset)
                # One modest request first (asyncssh confirms a short read with a second one)
                # beats asyncssh's parallel requests, whose extra requests past the end of a
                # small file cost more than they save. Bigger files get them.
                first = FIRST_READ if max_bytes is None else min(max_bytes, FIRST_READ)
                data = await f.read(first, offset) if first else b""
                if len(data) == first and (max_bytes is None or max_bytes > first):
                    rest = -1 if max_bytes is None else max_bytes - first
                    data += await f.read(rest, offset + first)
                return data
            except asyncssh.SFTPError as exc:
                raise await self._refine(sftp, exc, resolved, "read") from None
            finally:
                # Nobody needs to wait for the close of a file that was only read: it saves
                # a round trip on every read.
                self._close_later(f)

        return await self._sftp(op, retry=True)

    def _close_later(self, f: asyncssh.SFTPClientFile) -> None:
        async def close() -> None:
            with contextlib.suppress(asyncssh.Error, OSError):
                await f.close()

        task = asyncio.get_running_loop().create_task(close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def list_dir(self, path: str) -> list[DirEntry]:
        await self._ensure()
        resolved = self.resolve(path)

        async def entry(sftp: asyncssh.SFTPClient, name: asyncssh.SFTPName) -> DirEntry:
            mode = name.attrs.permissions or 0
            filename = str(name.filename)
            if not stat_mod.S_ISLNK(mode):
                is_dir = stat_mod.S_ISDIR(mode)
                return DirEntry(filename, is_dir, False, None if is_dir else name.attrs.size)
            try:  # like os.scandir: a link is described by what it points to
                target = await sftp.stat(posixpath.join(resolved, filename))
            except asyncssh.SFTPError as exc:
                if transport_failure(exc):
                    raise
                return DirEntry(filename, False, True, None)
            is_dir = stat_mod.S_ISDIR(target.permissions or 0)
            return DirEntry(filename, is_dir, True, None if is_dir else target.size)

        async def op(sftp: asyncssh.SFTPClient) -> list[DirEntry]:
            try:
                names = await sftp.readdir(resolved)
            except asyncssh.SFTPError as exc:
                if _is_missing(exc):
                    with contextlib.suppress(asyncssh.SFTPError):
                        if await sftp.exists(resolved):  # a file: "no such directory"
                            raise path_error(resolved, "list", "not_dir") from None
                raise await self._refine(sftp, exc, resolved, "list") from None
            listed = [n for n in names if str(n.filename) not in (".", "..")]
            entries = await asyncio.gather(*(entry(sftp, n) for n in listed))
            return sorted(entries, key=lambda e: e.name)

        return await self._sftp(op, retry=True)

    async def write_files_atomic(self, files: Mapping[str, bytes]) -> None:
        await self._ensure()
        resolved = {self.resolve(p): data for p, data in files.items()}
        # Not retried on a fresh connection: renames may have happened before the drop.
        await self._sftp(lambda sftp: self._write_atomic(sftp, resolved), retry=False)

    async def _write_atomic(self, sftp: asyncssh.SFTPClient, files: Mapping[str, bytes]) -> None:
        staged: list[tuple[str, str]] = []  # (temporary, target)
        try:
            for path, data in files.items():
                staged.append(await self._stage(sftp, path, data))
        except BaseException:
            # Shielded: a cancelled call must still not leave temporary files behind.
            await asyncio.shield(self._remove_quietly(sftp, [tmp for tmp, _ in staged]))
            raise
        done: list[str] = []
        for i, (tmp, target) in enumerate(staged):
            try:
                await self._replace(sftp, tmp, target)
            except asyncssh.SFTPError as exc:
                if transport_failure(exc):
                    raise
                await self._remove_quietly(sftp, [leftover for leftover, _ in staged[i:]])
                written = ", ".join(done) or "none"
                raise PartialWriteError(
                    f"Writing {target} failed while renaming the staged files ({exc.reason}); "
                    f"files already replaced: {written}. Check them before retrying."
                ) from None
            done.append(target)

    async def _stage(self, sftp: asyncssh.SFTPClient, path: str, data: bytes) -> tuple[str, str]:
        """Write ``data`` to a temporary file beside the real target of ``path``, closed.

        Round trips are what a remote write costs, so independent requests go out together:
        looking at the target with creating the temporary file, then the write, the chmod
        that keeps an existing file's mode, the fsync and the close. The server runs them in
        the order they are sent, which is their order here: data that fits in one request
        is written with one (the file is opened with ``block_size=0``), sent as its task
        starts. (asyncssh's parallel writer would send it from a task of its own, after the
        fsync.) Larger data is several requests: all of them are done before the fsync.
        """
        fits = len(data) <= sftp.limits.max_write_len
        try:
            target, attrs, f, tmp = await self._open_beside(sftp, path, 0 if fits else -1)
            try:
                if data and not fits:
                    await f.write(data)
                requests: list[Awaitable[object]] = [f.write(data)] if data and fits else []
                if attrs is not None:  # keep the mode exactly; new files get the umask's
                    requests.append(f.chmod(stat_mod.S_IMODE(attrs.permissions or 0o644)))
                *done, synced, closed = await asyncio.gather(
                    *requests, self._fsync(f), f.close(), return_exceptions=True
                )
                for result in (*done, synced):
                    if isinstance(result, BaseException):
                        raise result
                # Once synced, nothing can be lost any more: a failing close changes nothing.
                if isinstance(closed, BaseException) and synced is not True:
                    raise closed
            except BaseException:
                await asyncio.shield(self._discard_temp(sftp, f, tmp))
                raise
            return tmp, target
        except asyncssh.SFTPError as exc:
            raise await self._refine(sftp, exc, path, "write") from None

    async def _open_beside(
        self, sftp: asyncssh.SFTPClient, path: str, block_size: int
    ) -> tuple[str, asyncssh.SFTPAttrs | None, asyncssh.SFTPClientFile, str]:
        """(target, its attributes or None if new, open temporary file, its path)."""
        tmp = _temp_name(path)
        looked, opened = await asyncio.gather(
            sftp.lstat(path), sftp.open(tmp, "xb", block_size=block_size), return_exceptions=True
        )
        f = opened if isinstance(opened, asyncssh.SFTPClientFile) else None
        try:
            attrs: asyncssh.SFTPAttrs | None = None
            if isinstance(looked, asyncssh.SFTPAttrs):
                attrs = looked
            elif not (isinstance(looked, asyncssh.SFTPError) and _is_missing(looked)):
                raise looked
            target = path
            if attrs is not None and stat_mod.S_ISLNK(attrs.permissions or 0):
                target, attrs = await self._final_target(sftp, path)  # write through the link
            if attrs is not None and stat_mod.S_ISDIR(attrs.permissions or 0):
                raise path_error(path, "write", "is_dir")
            if target == path:
                if f is not None:
                    return target, attrs, f, tmp
                if not (isinstance(opened, asyncssh.SFTPError) and _is_missing(opened)):
                    raise opened  # e.g. no permission to create files there
        except BaseException:
            await asyncio.shield(self._discard_temp(sftp, f, tmp))
            raise
        # The temporary file is in the wrong place (beside a link) or its directory is missing.
        await self._discard_temp(sftp, f, tmp)
        if attrs is None:
            await self._makedirs(sftp, posixpath.dirname(target), path)
        tmp = _temp_name(target)
        return target, attrs, await sftp.open(tmp, "xb", block_size=block_size), tmp

    @staticmethod
    async def _discard_temp(
        sftp: asyncssh.SFTPClient, f: asyncssh.SFTPClientFile | None, tmp: str
    ) -> None:
        if f is None:
            return
        with contextlib.suppress(asyncssh.Error, OSError):
            await f.close()
        with contextlib.suppress(asyncssh.Error, OSError):
            await sftp.remove(tmp)

    @staticmethod
    async def _fsync(f: asyncssh.SFTPClientFile) -> bool:
        try:
            await f.fsync()
        except asyncssh.SFTPOpUnsupported:  # fsync@openssh.com is an optional extension
            return False
        return True

    async def _final_target(
        self, sftp: asyncssh.SFTPClient, path: str
    ) -> tuple[str, asyncssh.SFTPAttrs | None]:
        """Follow symlinks of the last component (write through a link, keep the link)."""
        target = path
        for _ in range(40):  # the kernel's own symlink limit
            try:
                attrs = await sftp.lstat(target)
            except asyncssh.SFTPError as exc:
                if _is_missing(exc):
                    return target, None
                raise
            if not stat_mod.S_ISLNK(attrs.permissions or 0):
                return target, attrs
            link = str(await sftp.readlink(target))
            target = posixpath.normpath(posixpath.join(posixpath.dirname(target), link))
        raise path_error(path, "write", "other", "too many levels of symbolic links")

    async def _makedirs(self, sftp: asyncssh.SFTPClient, directory: str, path: str) -> None:
        missing: list[str] = []
        current = directory
        while True:
            try:
                attrs = await sftp.stat(current)
            except asyncssh.SFTPError as exc:
                if not _is_missing(exc) or current == "/":
                    raise
                missing.append(current)
                current = posixpath.dirname(current)
                continue
            if not stat_mod.S_ISDIR(attrs.permissions or 0):
                raise path_error(path, "write", "not_dir")
            break
        for d in reversed(missing):
            try:
                await sftp.mkdir(d)
            except asyncssh.SFTPError as exc:
                if _is_missing(exc) or not await sftp.isdir(d):  # lost a race: fine if a dir
                    raise
        return None

    async def _replace(self, sftp: asyncssh.SFTPClient, tmp: str, target: str) -> None:
        try:
            await sftp.posix_rename(tmp, target)
        except asyncssh.SFTPOpUnsupported:
            # Servers without posix-rename@openssh.com only rename onto a free name: the
            # replacement is then not atomic, but still never leaves a half-written file.
            with contextlib.suppress(asyncssh.SFTPNoSuchFile):
                await sftp.remove(target)
            await sftp.rename(tmp, target)

    @staticmethod
    async def _remove_quietly(sftp: asyncssh.SFTPClient, paths: list[str]) -> None:
        for p in paths:
            with contextlib.suppress(asyncssh.Error, OSError):
                await sftp.remove(p)

    async def remove(self, path: str) -> None:
        await self._ensure()
        resolved = self.resolve(path)

        async def op(sftp: asyncssh.SFTPClient) -> None:
            try:
                attrs = await sftp.lstat(resolved)
            except asyncssh.SFTPError as exc:
                if _is_missing(exc):
                    if await self._why_missing(sftp, resolved) == "not_dir":
                        raise path_error(resolved, "remove", "not_dir") from None
                    return
                raise await self._refine(sftp, exc, resolved, "remove") from None
            try:
                if stat_mod.S_ISDIR(attrs.permissions or 0):
                    await sftp.rmdir(resolved)
                else:
                    await sftp.remove(resolved)
            except asyncssh.SFTPError as exc:
                if _is_missing(exc):
                    return
                if exc.code == asyncssh.FX_FAILURE and stat_mod.S_ISDIR(attrs.permissions or 0):
                    if await sftp.listdir(resolved):  # v3 servers only say "Failure"
                        raise path_error(
                            resolved, "remove", "other", "Directory not empty"
                        ) from None
                raise await self._refine(sftp, exc, resolved, "remove") from None

        await self._sftp(op, retry=True)

    # ----- processes -----

    async def start_process(
        self,
        command: str,
        *,
        workdir: str | None = None,
        env: Mapping[str, str] | None = None,
        background: bool = False,
    ) -> str:
        link = await self._ensure()
        cwd = await self._workdir(workdir)
        assert self._facts is not None
        script = command_script(
            command,
            cwd,
            build_env({}, extra=self._env_extra, overrides=env),
            names_to_unset(self._facts.env_names, self._env_remove),
            self._facts.group_mode,
        )
        record = self._table.create(command, cwd, background)
        proc = RemoteProcess(record, asyncio.get_running_loop(), lambda: self._lost_message(record))

        async def open_channel(conn: asyncssh.SSHClientConnection) -> None:
            chan, _ = await conn.create_session(lambda: proc, script, encoding=None)
            chan.write_eof()

        timeout = self.target.connect_timeout
        try:
            try:
                async with asyncio.timeout(timeout):  # no answer at all: the link is dead
                    await link.with_session(open_channel)
            except WorkspaceError:
                raise
            except Exception as exc:
                if not (transport_failure(exc) or isinstance(exc, TimeoutError)):
                    raise
                link.mark_dead()
                raise WorkspaceError(
                    f"Could not start the command: the SSH connection to {self.target.address} "
                    "dropped; the next call reconnects. Check the workspace is running."
                ) from None
            try:
                async with asyncio.timeout(timeout):
                    await asyncio.shield(proc.started)
            except TimeoutError:
                raise WorkspaceError(
                    f"The command did not start within {timeout:g} s: the login shell on "
                    f"{self.target.address} does not respond."
                ) from None
        except BaseException:
            self._table.discard(record)
            if proc.channel is not None:
                proc.channel.close()
            raise
        # Forget the channels of records the table has evicted.
        self._procs = {pid: p for pid, p in self._procs.items() if pid in self._table}
        self._procs[record.id] = proc
        return record.id

    def _lost_message(self, record: ProcessRecord) -> str:
        if self._closed:
            return (
                f"The workspace connection was closed while process {record.id} was running; "
                "it may still be running on the host."
            )
        return lost_process_message(self.target, record.id, record.command)

    async def wait(self, process_id: str, timeout: float = 0) -> ProcessInfo:
        record = self._table.get(process_id)
        await record.wait(timeout)
        if record.lost is not None:
            raise WorkspaceError(record.lost)
        return record.info()

    async def list_processes(self) -> list[ProcessInfo]:
        return self._table.list()

    async def signal(self, process_id: str, signal: SignalName) -> ProcessInfo:
        signum = signal_number(signal)
        record = self._table.get(process_id)
        await self._kill([record], signum)
        return record.info()

    def _signallable(self, record: ProcessRecord) -> bool:
        # Once the shell exited and its channel closed, nothing of the group remains (and the
        # id may be reused); a lost process belongs to a connection that is gone.
        proc = self._procs.get(record.id)
        alive = record.running or (proc is not None and proc.exit.output_open)
        return record.pid is not None and alive and record.lost is None

    async def _kill(
        self, records: list[ProcessRecord], signum: signals.Signals, link: Link | None = None
    ) -> None:
        targets = [r for r in records if self._signallable(r)]
        if not targets:
            return
        link = link or await self._ensure()
        assert self._facts is not None
        group = self._facts.group_mode != "pid"
        pids = [r.pid for r in targets if r.pid is not None]
        script = kill_script(pids, signum, group) + " 2>&1"
        try:
            result = await link.run(script, self.target.connect_timeout)
        except (asyncssh.Error, OSError, TimeoutError) as exc:
            raise WorkspaceError(
                f"Could not signal the process on {self.target.address}: {exc or 'timed out'}."
            ) from None
        if result.exit_status == 0:
            return
        said = str(result.stdout or "")
        if "not permitted" in said.lower():
            record = targets[0]
            raise WorkspaceError(
                f"Not allowed to signal process {record.id} (pid {record.pid}): "
                "Operation not permitted."
            )
        # "No such process": it exited meanwhile, which is what was wanted.

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        link = self._link
        records = self._table.records()
        if link is not None and link.alive:
            with contextlib.suppress(WorkspaceError):
                await self._kill(records, signal_number("kill"), link)
            # Let the exits be reported before the connection goes.
            await asyncio.gather(*(r.wait(2.0) for r in records if r.running))
        if self._closing:  # closes of files that were only read, still on their way
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2):
                    await asyncio.gather(*self._closing, return_exceptions=True)
        if link is not None:
            link.closing = True
            await link.close()
        self._link = None
