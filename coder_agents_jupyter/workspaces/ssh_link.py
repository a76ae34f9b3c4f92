"""One live SSH connection to a workspace host: opening it (jump hosts, proxy command, host-key
policy, agent forwarding), opening sessions on it, and noticing when it drops.

``open_link`` makes exactly one attempt and turns every failure into a ``WorkspaceError`` that
names the hop, the reason and what would help. A ``Link`` is dead once its connection to the
workspace host is lost; the workspace then opens a new one on the next call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import asyncssh

from ..errors import WorkspaceError
from .ssh_agent import KeyAgent, load_agent_keys
from .ssh_target import SSHTarget, expand_proxy_command, hops

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_CONNECTIONS = 8  # connections per link once the host's MaxSessions is reached
KEEPALIVE_COUNT_MAX = 3  # unanswered keepalives before a silent connection counts as dropped


class SessionsExhausted(WorkspaceError):
    pass


@dataclass
class HostKeyPins:
    """Host keys accepted on first use, kept for later connections of the same workspace."""

    keys: dict[tuple[str, int], asyncssh.SSHKey] = field(default_factory=dict)


def _known_pattern(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


def _known_hosts_data(hop: SSHTarget, pins: HostKeyPins) -> bytes | tuple[()]:
    """What asyncssh checks the host key against: the admin's file plus pinned keys.

    ``()`` lets asyncssh read ``~/.ssh/known_hosts`` itself (nothing configured, no TOFU).
    """
    pinned = pins.keys.get((hop.host, hop.port))
    if hop.known_hosts is None and not hop.insecure_accept_new_host_key:
        return ()
    data = b""
    if hop.known_hosts is not None:
        path = os.path.expanduser(hop.known_hosts)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            if not hop.insecure_accept_new_host_key:
                raise _unreachable(
                    hop, f"the known_hosts file {path} does not exist", _ADMIN_KNOWN_HOSTS
                ) from None
        except OSError as exc:
            raise _unreachable(
                hop, f"cannot read the known_hosts file {path}: {exc.strerror}", _ADMIN_KNOWN_HOSTS
            ) from None
    if pinned is not None:
        line = f"{_known_pattern(hop.host, hop.port)} {pinned.export_public_key().decode()}"
        data += b"\n" + line.encode()
    return data


def _has_entries(known: bytes | tuple[()], host: str, addr: str, port: int) -> bool:
    """Whether known_hosts says anything about this host (a key or a CA)."""
    if isinstance(known, tuple):
        path = os.path.expanduser("~/.ssh/known_hosts")
        if not os.path.isfile(path):
            return False
        matcher: Any = path
    else:
        matcher = known
    try:
        found = asyncssh.match_known_hosts(matcher, host, addr, None if port == 22 else port)
    except (OSError, ValueError):
        return False
    return bool(found[0] or found[1])


class _Client(asyncssh.SSHClient):
    """Applies the host-key policy and reports the loss of the connection."""

    def __init__(
        self,
        hop: SSHTarget,
        known: bytes | tuple[()],
        pins: HostKeyPins,
        on_lost: Callable[[Exception | None], None] | None,
    ) -> None:
        self._hop = hop
        self._known = known
        self._pins = pins
        self._on_lost = on_lost

    def validate_host_public_key(
        self, host: str, addr: str, port: int, key: asyncssh.SSHKey
    ) -> bool:
        # Only reached for a key known_hosts does not list. A host known_hosts speaks for
        # with another key is never trusted anew: that is what an attack looks like.
        hop = self._hop
        if not hop.insecure_accept_new_host_key or _has_entries(self._known, host, addr, port):
            return False
        self._pins.keys[(hop.host, hop.port)] = key
        log.warning(
            "accepting the new host key of %s:%s on first use (%s)",
            hop.host,
            hop.port,
            key.get_fingerprint(),
        )
        if hop.known_hosts is not None:
            line = f"{_known_pattern(hop.host, hop.port)} {key.export_public_key().decode()}"
            try:
                with open(os.path.expanduser(hop.known_hosts), "a", encoding="ascii") as f:
                    f.write(line if line.endswith("\n") else line + "\n")
            except OSError:
                log.warning("could not record the host key in %s", hop.known_hosts, exc_info=True)
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        if self._on_lost is not None:
            self._on_lost(exc)


_CONNECT_ERRORS = (
    asyncssh.Error,
    asyncssh.KeyImportError,
    asyncssh.KeyExportError,
    OSError,
    TimeoutError,
)
_CHECK_RUNNING = "check the workspace is running."
_ADMIN_KNOWN_HOSTS = "an admin must fix the workspace's known_hosts setting."


def _unreachable(hop: SSHTarget, reason: str, hint: str, via: str = "") -> WorkspaceError:
    return WorkspaceError(f"Cannot reach {hop.address} as {hop.user}{via}: {reason}; {hint}")


def _connect_failure(
    exc: BaseException, hop: SSHTarget, known: bytes | tuple[()], via: str
) -> WorkspaceError:
    """A readable reason for a failed connection attempt, with what would help."""
    hint = _CHECK_RUNNING
    if isinstance(exc, asyncssh.HostKeyNotVerifiable):
        where = hop.known_hosts or "~/.ssh/known_hosts"
        if _has_entries(known, hop.host, "", hop.port):
            recorded = f"the one recorded in {where}"
            if hop.known_hosts is None and hop.insecure_accept_new_host_key:
                recorded = "the one it presented when first accepted"
            reason = (
                f"its host key does not match {recorded} (the host was rebuilt, or someone "
                "is intercepting the connection)"
            )
            hint = "an admin must verify the new key and update known_hosts."
        else:
            reason = f"its host key is not in {where}"
            hint = (
                "an admin must add it to known_hosts after verifying it (e.g. ssh-keyscan), "
                "or set insecure_accept_new_host_key."
            )
    elif isinstance(exc, asyncssh.PermissionDenied):
        reason = "the server refused the login (permission denied)"
        hint = "check the key_file/certificate_file settings and the user's authorized_keys."
    elif isinstance(exc, asyncssh.KeyImportError | asyncssh.KeyExportError):
        reason = f"cannot load the client key: {exc}"
        hint = "an admin must fix the key_file setting."
    elif isinstance(exc, TimeoutError):
        reason = f"no answer within {hop.connect_timeout:g} s"
    elif isinstance(exc, socket.gaierror):
        reason = f"unknown host name ({exc.strerror})"
    elif isinstance(exc, asyncssh.ChannelOpenError):
        reason = f"the jump host could not open a connection to it ({exc.reason})"
    elif isinstance(exc, asyncssh.DisconnectError):
        reason = exc.reason or "the server closed the connection"
    elif isinstance(exc, OSError):
        # asyncio words refusals as "connect call failed (addr)": the errno says it better.
        said = os.strerror(exc.errno) if exc.errno else exc.strerror
        reason = (said or str(exc) or type(exc).__name__).lower()
        if isinstance(exc, FileNotFoundError) and exc.filename:
            reason = f"{exc.filename}: {reason}"
    else:
        reason = str(exc) or type(exc).__name__
    return _unreachable(hop, reason, hint, via)


# AES-GCM first: with AES-NI it costs asyncssh about a third less CPU per packet than its
# default ChaCha20-Poly1305, and tool calls are many small packets. All stay allowed.
_GCM = ["aes128-gcm@openssh.com", "aes256-gcm@openssh.com"]
ENCRYPTION_ALGS = _GCM + [
    name
    for name in (alg.decode() for alg in asyncssh.encryption.get_default_encryption_algs())
    if name not in _GCM
]


def _client_options(hop: SSHTarget) -> dict[str, Any]:
    options: dict[str, Any] = {
        "username": hop.user,
        "encryption_algs": ENCRYPTION_ALGS,
        "config": None,  # no ~/.ssh/config of the Jupyter server's user: only these settings
        "env": None,  # nothing of the control plane's environment travels (commands export
        "send_env": None,  # their variables themselves; see ssh_process)
        "connect_timeout": hop.connect_timeout,
        "keepalive_interval": hop.keepalive_interval,
        "keepalive_count_max": KEEPALIVE_COUNT_MAX,
    }
    if hop.key_file:
        options["client_keys"] = [os.path.expanduser(hop.key_file)]
        options["agent_path"] = None  # the key given, not whatever agent Jupyter runs with
        if hop.certificate_file:
            options["client_certs"] = [os.path.expanduser(hop.certificate_file)]
    return options


class Link:
    """The connections of one workspace (the first one carries SFTP) and what hangs off them."""

    def __init__(self, target: SSHTarget, pins: HostKeyPins) -> None:
        self.target = target
        self._pins = pins
        self._chain: list[SSHTarget] = hops(target)
        self._tunnels: list[asyncssh.SSHClientConnection] = []  # jump host connections
        self.conns: list[asyncssh.SSHClientConnection] = []  # to the target; [0] is primary
        self.sftp: asyncssh.SFTPClient | None = None
        self.agent: KeyAgent | None = None
        self.alive = False
        self.lost = False
        self.closing = False
        self._closer: asyncio.Task[None] | None = None

    # ----- opening -----

    async def open(self) -> None:
        """Connect through every hop, start SFTP; one attempt, a ``WorkspaceError`` if it fails."""
        try:
            if self.target.agent_forward_keys:
                try:
                    keys = load_agent_keys(self.target.agent_forward_keys)
                except ValueError as exc:
                    raise _unreachable(
                        self.target, str(exc), "an admin must fix agent_forward_keys."
                    ) from None
                self.agent = KeyAgent(keys)
                await self.agent.start()
            tunnel: asyncssh.SSHClientConnection | None = None
            for hop in self._chain[:-1]:
                via = f" (jump host to {self.target.address})"
                tunnel = await self._connect(hop, tunnel, via, primary=False)
                self._tunnels.append(tunnel)
            self.conns.append(await self._connect(self.target, tunnel, "", primary=True))
            self.alive = True
            try:
                self.sftp = await self.conns[0].start_sftp_client(path_errors="surrogateescape")
            except (asyncssh.Error, OSError) as exc:
                raise _unreachable(
                    self.target,
                    f"the SFTP subsystem is not available ({exc})",
                    "the host's sshd must allow SFTP (Subsystem sftp).",
                ) from None
        except BaseException:
            await self.close()
            raise

    async def _connect(
        self,
        hop: SSHTarget,
        tunnel: asyncssh.SSHClientConnection | None,
        via: str,
        *,
        primary: bool,
    ) -> asyncssh.SSHClientConnection:
        known = _known_hosts_data(hop, self._pins)
        options = _client_options(hop)
        options["known_hosts"] = known
        is_target = hop is self.target
        lost = self._primary_lost if primary else (self._extra_lost if is_target else None)
        if tunnel is not None:
            options["tunnel"] = tunnel
        elif hop.proxy_command:
            options["proxy_command"] = expand_proxy_command(hop)
        if is_target and self.agent is not None:
            options["agent_forwarding"] = self.agent.path
        try:
            async with asyncio.timeout(hop.connect_timeout + 5):  # asyncssh's own is per phase
                conn = await asyncssh.connect(
                    hop.host,
                    hop.port,
                    client_factory=lambda: _Client(hop, known, self._pins, lost),
                    **options,
                )
        except _CONNECT_ERRORS as exc:  # anything else is a bug and must show as one
            log.debug("connecting to %s failed", hop.address, exc_info=True)
            raise _connect_failure(exc, hop, known, via) from None
        return conn

    # ----- losing -----

    def _primary_lost(self, exc: Exception | None) -> None:
        if not self.alive:
            return
        self.alive = False
        self.lost = True
        if not self.closing:
            log.info("SSH connection to %s lost: %s", self.target.address, exc)
        # Sessions on the other connections are abandoned with this one: the workspace
        # reconnects from scratch (their processes are reported lost as their channels close).
        self._closer = asyncio.get_running_loop().create_task(self.close())

    def _extra_lost(self, exc: Exception | None) -> None:
        self.conns = [c for c in self.conns if not c.is_closed()]

    def mark_dead(self) -> None:
        """An operation failed at the transport level: stop using this link."""
        self._primary_lost(None)

    async def close(self) -> None:
        self.closing = True
        self.alive = False
        if self.sftp is not None:
            self.sftp.exit()
            self.sftp = None
        for conn in [*reversed(self.conns), *reversed(self._tunnels)]:
            if self.lost:
                conn.abort()  # a polite close would wait on a peer that may never answer
            else:
                conn.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await conn.wait_closed()
        self.conns, self._tunnels = [], []
        if self.agent is not None:
            await self.agent.aclose()
            self.agent = None

    # ----- sessions -----

    async def with_session(
        self, start: Callable[[asyncssh.SSHClientConnection], Coroutine[Any, Any, T]]
    ) -> T:
        """Run ``start`` (which opens one session channel) on a connection that has room.

        An sshd allows ``MaxSessions`` (10 by default) sessions per connection; SFTP and
        every running command take one. When the host refuses another, a further connection
        to it is opened, so the process limit is the workspace's, not sshd's.
        """
        for conn in list(self.conns):
            try:
                return await start(conn)
            except asyncssh.ChannelOpenError:
                # OpenSSH refuses a session over MaxSessions with a plain "open failed".
                if conn.is_closed():
                    raise
        if len(self.conns) >= MAX_CONNECTIONS:
            raise SessionsExhausted(
                f"{self.target.address} refuses more sessions on all {len(self.conns)} "
                "connections of this workspace; stop some processes with process_signal "
                "(see process_list) and try again."
            )
        tunnel = self._tunnels[-1] if self._tunnels else None
        conn = await self._connect(self.target, tunnel, "", primary=False)
        self.conns.append(conn)
        return await start(conn)

    async def run(self, command: str, timeout: float) -> asyncssh.SSHCompletedProcess:
        """Run a short helper command (no tracking), with merged output as text."""

        async def start(conn: asyncssh.SSHClientConnection) -> asyncssh.SSHCompletedProcess:
            return await conn.run(
                command, stdin=asyncssh.DEVNULL, stderr=asyncssh.STDOUT, errors="replace"
            )

        async with asyncio.timeout(timeout):
            return await self.with_session(start)


def transport_failure(exc: BaseException) -> bool:
    """Whether ``exc`` means the connection (not the operation) failed."""
    if isinstance(exc, asyncssh.SFTPError):
        return exc.code in (asyncssh.FX_NO_CONNECTION, asyncssh.FX_CONNECTION_LOST)
    return isinstance(
        exc,
        asyncssh.DisconnectError | asyncssh.ChannelOpenError | ConnectionError | EOFError,
    )


def lost_process_message(target: SSHTarget, process_id: str, command: str) -> str:
    shown = command if len(command) <= 80 else command[:77] + "..."
    return (
        f"The SSH connection to {target.address} dropped while process {process_id} "
        f"({shown}) was running; it may still be running on the host. The next call "
        "reconnects: check with execute (e.g. `ps`) before running it again."
    )
