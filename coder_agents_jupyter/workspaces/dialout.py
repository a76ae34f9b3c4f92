"""Dial-out workspaces: the workspace connects to the control plane, never the reverse.

The control plane runs a small SSH endpoint (``DialOutServer``, asyncssh) with its own host
key. A workspace joins by running a stock OpenSSH client (``join_command``) that logs in with a
workspace key the admin authorised and a one-time join token as its user name, and asks for
one remote forward: a port on the control plane's loopback interface that leads back to the
workspace's own sshd. The control plane then reaches that sshd through the tunnel like any
other SSH workspace (``DialOutWorkspace``). The workspace needs no inbound port and no agent
software; its only network need is outbound SSH to the control plane.

The endpoint grants nothing else: no shell, no command, no SFTP, no connections out of the
control plane (``-L``/``-D``), no agent or X11 forwarding, no listener anywhere but loopback,
one listener per join. A join token names one workspace, is valid once and for a limited
time; a dropped tunnel is forgotten (the workspace is then reported as disconnected until it
joins again with a new token).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import shlex
import socket
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import asyncssh
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import ConfigError, WorkspaceError
from .ssh import SSHTarget, SSHWorkspace
from .ssh_link import Link

log = logging.getLogger(__name__)

LOOPBACK = {"127.0.0.1": "127.0.0.1", "localhost": "127.0.0.1", "::1": "::1"}
"""Listen addresses a workspace may ask for, and the address the control plane dials."""
LOGIN_TIMEOUT = 30.0
FORWARD_GRACE = 30.0
"""Seconds an authenticated connection has to request its forward before it is closed."""
KEEPALIVE_INTERVAL = 15.0
KEEPALIVE_COUNT_MAX = 3

NOT_CONNECTED = (
    "The workspace {name} is not connected to the control plane (its dial-out tunnel is "
    "down): call start_workspace, which shows the user the command to run on the workspace "
    "to connect it again, then retry."
)
NO_ENDPOINT = (
    "The dial-out endpoint is not running on this server: an admin must set "
    "c.CoderAgents.dial_out (listen, public_host, host_key, authorized_keys)."
)


class DialOutSettings(BaseModel):
    """``c.CoderAgents.dial_out``: where the endpoint listens and how workspaces reach it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    listen: str = "0.0.0.0:2222"
    """``host:port`` to listen on (``[::]:2222`` for IPv6; port 0 picks a free one)."""
    public_host: str = Field(default_factory=socket.getfqdn)
    """The name or address workspaces dial."""
    public_port: int | None = Field(None, ge=1, le=65535)
    """The port workspaces dial, when a NAT or load balancer maps another (default: listen's)."""
    host_key: str
    """The endpoint's private host key; created (ed25519) when the file does not exist."""
    authorized_keys: str
    """An authorized_keys file of the workspace keys allowed to join (re-read at every login)."""

    @property
    def listen_address(self) -> tuple[str, int]:
        host, sep, port = self.listen.rpartition(":")
        if not sep or not port.isdigit() or not host:
            raise ValueError(f"listen {self.listen!r} is not of the form host:port")
        return host.strip("[]"), int(port)


def dial_out_settings(values: Mapping[str, Any]) -> DialOutSettings | None:
    """The validated trait value; None when dial-out is off (empty)."""
    if not values:
        return None
    try:
        settings = DialOutSettings(**values)
        settings.listen_address  # noqa: B018 - checks the form
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError("dial_out", problems) from None
    except (ValueError, TypeError) as exc:
        raise ConfigError("dial_out", str(exc)) from None
    return settings


def load_host_key(path: str) -> asyncssh.SSHKey:
    """The endpoint's host key; a new ed25519 key (mode 0600) when the file is missing."""
    path = os.path.expanduser(path)
    if not os.path.exists(path):
        key = asyncssh.generate_private_key("ssh-ed25519", comment="coder-agents dial-out")
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key.export_private_key())
        key.write_public_key(path + ".pub")
        log.warning("dial-out: created the host key %s (%s)", path, key.get_fingerprint())
        return key
    return asyncssh.read_private_key(path)


@dataclass
class _Join:
    workspace_id: str
    expires: float


@dataclass
class _Tunnel:
    conn: _Connection
    host: str
    port: int


class _Connection(asyncssh.SSHServer):
    """One workspace's connection to the endpoint."""

    def __init__(self, server: DialOutServer) -> None:
        self.server = server
        self.conn: asyncssh.SSHServerConnection | None = None
        self.peer = "?"
        self.token: str | None = None
        self.workspace_id: str | None = None
        """Set once the connection has its forward (the join succeeded)."""
        self._forwarding = False
        self._grace: asyncio.TimerHandle | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn
        peer = conn.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        self.server._connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._grace is not None:
            self._grace.cancel()
        self.server._connections.discard(self)
        self.server._left(self)

    def begin_auth(self, username: str) -> bool:
        self.token = username
        return True  # always authenticate; only keys are offered

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        if self.server._pending(username) is None:
            log.info("dial-out: refused %s: not a valid join token", self.peer)
            return False
        return self.server._key_allowed(key, self.conn)

    def auth_completed(self) -> None:
        # The token is only consumed by the forward; a connection that never asks for one
        # is closed after a while so that it cannot sit on an unused token.
        loop = asyncio.get_running_loop()
        self._grace = loop.call_later(FORWARD_GRACE, self._no_forward)

    def _no_forward(self) -> None:
        if self.workspace_id is None and self.conn is not None:
            log.info("dial-out: %s asked for no forward in time; closing", self.peer)
            self.conn.close()

    def server_requested(self, listen_host: str, listen_port: int) -> Any:
        if self._forwarding or self.workspace_id is not None:
            log.info("dial-out: refused a second forward from %s", self.peer)
            return False
        if listen_host not in LOOPBACK or listen_port != 0:
            log.info(
                "dial-out: refused a forward of %s:%s from %s (only 127.0.0.1:0 is allowed)",
                listen_host,
                listen_port,
                self.peer,
            )
            return False
        self._forwarding = True
        return self.server._open_forward(self, listen_host)


class DialOutServer:
    """The SSH endpoint workspaces dial. ``start`` it, hand out ``new_join`` tokens, learn
    each joined workspace's tunnel port with ``wait_for``/``port_of``, ``stop`` it.

    ``on_leave(workspace_id)`` is called (not awaited if synchronous) when a joined
    workspace's connection closes, except while the server itself stops.
    """

    def __init__(
        self,
        listen_host: str,
        listen_port: int,
        host_key_path: str,
        authorized_keys_path: str,
        *,
        public_host: str | None = None,
        public_port: int | None = None,
        on_leave: Callable[[str], Awaitable[None] | None] | None = None,
        keepalive_interval: float = KEEPALIVE_INTERVAL,
    ) -> None:
        self.listen_host = listen_host
        self.listen_port = listen_port
        self.host_key_path = host_key_path
        self.authorized_keys_path = authorized_keys_path
        self.public_host = public_host or socket.getfqdn()
        self.public_port = public_port
        self.on_leave = on_leave
        self.keepalive_interval = keepalive_interval
        self.host_key: asyncssh.SSHKey | None = None
        self._acceptor: asyncssh.SSHAcceptor | None = None
        self._tokens: dict[str, _Join] = {}
        self._tunnels: dict[str, _Tunnel] = {}
        self._joined: dict[str, asyncio.Event] = {}
        self._connections: set[_Connection] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopping = False

    @classmethod
    def from_settings(
        cls, settings: DialOutSettings, on_leave: Callable[[str], Any] | None = None
    ) -> DialOutServer:
        host, port = settings.listen_address
        return cls(
            host,
            port,
            settings.host_key,
            settings.authorized_keys,
            public_host=settings.public_host,
            public_port=settings.public_port,
            on_leave=on_leave,
        )

    # ----- running -----

    async def start(self) -> DialOutServer:
        self.host_key = await asyncio.to_thread(load_host_key, self.host_key_path)
        self._acceptor = await asyncssh.create_server(
            lambda: _Connection(self),
            self.listen_host,
            self.listen_port,
            server_host_keys=[self.host_key],
            login_timeout=LOGIN_TIMEOUT,
            keepalive_interval=self.keepalive_interval,
            keepalive_count_max=KEEPALIVE_COUNT_MAX,
            # Nothing but key logins and the one remote forward.
            password_auth=False,
            kbdint_auth=False,
            gss_host=None,
            agent_forwarding=False,
            x11_forwarding=False,
            allow_scp=False,
            allow_pty=False,
            process_factory=None,
            sftp_factory=None,
        )
        log.info(
            "dial-out: listening on %s:%s (host key %s)",
            self.listen_host,
            self.port,
            self.host_key.get_fingerprint(),
        )
        return self

    @property
    def port(self) -> int:
        """The port the endpoint listens on (the real one when started with port 0)."""
        if self._acceptor is None:
            return self.listen_port
        return self._acceptor.get_port() or self.listen_port

    async def stop(self) -> None:
        self._stopping = True
        if self._acceptor is not None:
            self._acceptor.close()
            with contextlib.suppress(Exception):
                await self._acceptor.wait_closed()
            self._acceptor = None
        for c in list(self._connections):
            if c.conn is not None:
                c.conn.abort()
        for task in list(self._tasks):
            task.cancel()
        self._tunnels.clear()
        self._tokens.clear()

    # ----- joins -----

    def new_join(self, workspace_id: str, ttl: float = 600.0) -> str:
        """A one-time token for ``workspace_id`` to join with within ``ttl`` seconds; it
        replaces the workspace's earlier unused tokens."""
        now = time.monotonic()
        self._tokens = {
            t: j
            for t, j in self._tokens.items()
            if j.workspace_id != workspace_id and j.expires > now
        }
        token = "join-" + secrets.token_hex(16)
        self._tokens[token] = _Join(workspace_id, now + ttl)
        return token

    def cancel_join(self, token: str) -> None:
        self._tokens.pop(token, None)

    def _pending(self, token: str) -> _Join | None:
        join = self._tokens.get(token)
        if join is None or join.expires <= time.monotonic():
            return None
        return join

    def port_of(self, workspace_id: str) -> int | None:
        """The loopback port that leads to the workspace's sshd now; None if not joined."""
        tunnel = self._tunnels.get(workspace_id)
        return tunnel.port if tunnel is not None else None

    def host_of(self, workspace_id: str) -> str:
        tunnel = self._tunnels.get(workspace_id)
        return tunnel.host if tunnel is not None else "127.0.0.1"

    async def wait_for(self, workspace_id: str, timeout: float) -> int:
        """The workspace's tunnel port once it has joined; ``TimeoutError`` after ``timeout``."""
        async with asyncio.timeout(timeout):
            while True:
                port = self.port_of(workspace_id)
                if port is not None:
                    return port
                event = self._joined.setdefault(workspace_id, asyncio.Event())
                await event.wait()

    def disconnect(self, workspace_id: str) -> None:
        """Close a workspace's tunnel (it was deleted)."""
        tunnel = self._tunnels.get(workspace_id)
        if tunnel is not None and tunnel.conn.conn is not None:
            tunnel.conn.conn.close()

    def _key_allowed(self, key: asyncssh.SSHKey, conn: asyncssh.SSHServerConnection | None) -> bool:
        path = os.path.expanduser(self.authorized_keys_path)
        try:
            allowed = asyncssh.read_authorized_keys(path)
        except (OSError, ValueError, asyncssh.KeyImportError) as exc:
            log.error("dial-out: cannot read the authorized keys %s: %s", path, exc)
            return False
        peer = conn.get_extra_info("peername") if conn is not None else None
        addr = peer[0] if peer else ""
        return allowed.validate(key, addr, addr) is not None

    async def _open_forward(self, c: _Connection, listen_host: str) -> asyncssh.SSHListener | bool:
        join = self._pending(c.token or "")
        if join is None or c.conn is None:  # another connection used the token meanwhile
            log.info("dial-out: refused a forward from %s: the join token is used up", c.peer)
            return False
        host = LOOPBACK[listen_host]
        # Announced back to the client as the address it asked for, with the real port.
        listener = await c.conn.forward_local_port(host, 0, listen_host, 0)
        if self._pending(c.token or "") is None:  # lost a race while binding
            listener.close()
            return False
        self._tokens.pop(c.token or "", None)
        workspace_id = join.workspace_id
        c.workspace_id = workspace_id
        old = self._tunnels.get(workspace_id)
        self._tunnels[workspace_id] = _Tunnel(c, host, listener.get_port())
        if old is not None and old.conn.conn is not None:
            old.conn.conn.close()  # the workspace joined again: the new tunnel wins
        log.info(
            "dial-out: workspace %s joined from %s; its sshd is at %s:%s",
            workspace_id,
            c.peer,
            host,
            listener.get_port(),
        )
        event = self._joined.pop(workspace_id, None)
        if event is not None:
            event.set()
        return listener

    def _left(self, c: _Connection) -> None:
        workspace_id = c.workspace_id
        if workspace_id is None:
            return
        tunnel = self._tunnels.get(workspace_id)
        if tunnel is None or tunnel.conn is not c:
            return  # replaced by a newer join
        del self._tunnels[workspace_id]
        log.info("dial-out: workspace %s disconnected (%s)", workspace_id, c.peer)
        if self._stopping or self.on_leave is None:
            return
        result = self.on_leave(workspace_id)
        if asyncio.iscoroutine(result):
            task = asyncio.get_running_loop().create_task(result)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    # ----- what the workspace side needs -----

    def known_hosts_line(self, public_host: str | None = None) -> str:
        """The line a workspace's known_hosts file needs to trust this endpoint."""
        assert self.host_key is not None, "start the server first"
        host = public_host or self.public_host
        port = self.public_port or self.port
        pattern = host if port == 22 else f"[{host}]:{port}"
        key = " ".join(self.host_key.export_public_key().decode().split()[:2])  # no comment
        return f"{pattern} {key}"

    def join_command(
        self,
        token: str,
        public_host: str | None = None,
        *,
        identity_file: str = "~/.ssh/id_ed25519",
        known_hosts_file: str = "~/.ssh/coder_agents_known_hosts",
        sshd_port: int = 22,
    ) -> str:
        """The one command line a workspace runs to join (stock OpenSSH, nothing else).

        ``identity_file`` is the workspace's key (its public half in ``authorized_keys``),
        ``known_hosts_file`` a file on the workspace holding ``known_hosts_line()``, and
        ``sshd_port`` the port of the workspace's own sshd.
        """
        host = public_host or self.public_host
        port = self.public_port or self.port
        argv = [
            "ssh",
            "-N",
            "-p",
            str(port),
            "-o",
            "ExitOnForwardFailure=yes",
            "-o",
            "ServerAliveInterval=15",
            "-o",
            "ServerAliveCountMax=3",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            f"UserKnownHostsFile={known_hosts_file}",
            "-i",
            identity_file,
            "-R",
            f"127.0.0.1:0:localhost:{sshd_port}",
            f"{token}@{host}",
        ]
        return shlex.join(argv)


class DialOutWorkspace(SSHWorkspace):
    """An SSH workspace reached through its dial-out tunnel.

    The tunnel's port is looked up on every (re)connection, never remembered from the build:
    after the workspace dropped and joined again it is another port, and an old port may by
    then lead to another workspace.
    """

    def __init__(
        self,
        target: SSHTarget,
        workspace_id: str,
        server: DialOutServer | None,
        name: str | None = None,
        env_remove: Iterable[str] = (),
        env_extra: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(target, env_remove=env_remove, env_extra=env_extra)
        self.workspace_id = workspace_id
        self.server = server
        self.name = name or workspace_id

    async def _ensure(self) -> Link:
        if self.server is None:
            raise WorkspaceError(NO_ENDPOINT)
        port = self.server.port_of(self.workspace_id)
        if port is None:
            raise WorkspaceError(NOT_CONNECTED.format(name=self.name))
        host = self.server.host_of(self.workspace_id)
        if (host, port) != (self.target.host, self.target.port):
            async with self._lock:  # the workspace joined again: a new tunnel
                self.target = self.target.model_copy(update={"host": host, "port": port})
                if self._link is not None:
                    await self._link.close()
                    self._link = None
        return await super()._ensure()
