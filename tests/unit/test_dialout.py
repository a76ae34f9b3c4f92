"""The dial-out endpoint, with a stock OpenSSH client as the workspace and a real sshd behind it.

The workspace runs exactly the command ``join_command`` prints; the control plane then reaches
the workspace's sshd through the tunnel that command opens, and through nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import stat
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from coder_agents_jupyter.errors import ConfigError, WorkspaceError
from coder_agents_jupyter.templates import Template
from coder_agents_jupyter.testing.sshd import Sshd
from coder_agents_jupyter.workspaces.dialout import (
    DialOutServer,
    DialOutWorkspace,
    dial_out_settings,
)
from coder_agents_jupyter.workspaces.provision import ProvisionError, provision

pytestmark = pytest.mark.ssh


def keygen(path: Path) -> Path:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", str(path)],
        check=True,
    )
    return path


class Workspace:
    """The workspace side: its key, the known_hosts file that trusts the endpoint."""

    def __init__(self, directory: Path, server: DialOutServer, sshd: Sshd) -> None:
        self.key = keygen(directory / "workspace_key")
        self.known_hosts = directory / "cp_known_hosts"
        self.known_hosts.write_text(server.known_hosts_line() + "\n")
        self.server = server
        self.sshd = sshd
        self.procs: list[asyncio.subprocess.Process] = []

    def command(self, token: str) -> str:
        return self.server.join_command(
            token,
            identity_file=str(self.key),
            known_hosts_file=str(self.known_hosts),
            sshd_port=self.sshd.port,
        )

    async def run(self, command: str) -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(
            *shlex.split(command),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        self.procs.append(proc)
        return proc

    async def refused(self, command: str) -> str:
        """Run a command that must fail; its stderr."""
        proc = await self.run(command)
        _, err = await asyncio.wait_for(proc.communicate(), 10)
        assert proc.returncode == 255, err
        return err.decode()

    async def stop(self) -> None:
        for proc in self.procs:
            if proc.returncode is None:
                proc.kill()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(proc.communicate(), 5)


@pytest_asyncio.fixture
async def server(tmp_path: Path) -> AsyncIterator[DialOutServer]:
    (tmp_path / "authorized_keys").write_text("")
    left: list[str] = []
    srv = DialOutServer(
        "127.0.0.1",
        0,
        str(tmp_path / "cp" / "host_key"),
        str(tmp_path / "authorized_keys"),
        public_host="127.0.0.1",
        on_leave=left.append,
    )
    srv.left = left  # type: ignore[attr-defined]
    await srv.start()
    yield srv
    await srv.stop()


@pytest_asyncio.fixture
async def workspace(server: DialOutServer, sshd: Sshd, tmp_path: Path) -> AsyncIterator[Workspace]:
    ws = Workspace(tmp_path, server, sshd)
    (tmp_path / "authorized_keys").write_text(Path(f"{ws.key}.pub").read_text())
    yield ws
    await ws.stop()


def target(sshd: Sshd, port: int, workdir: Path) -> dict[str, object]:
    return {
        "host": "127.0.0.1",
        "port": port,
        "user": sshd.user,
        "key_file": str(sshd.client_key),
        "insecure_accept_new_host_key": True,
        "workdir": str(workdir),
    }


@pytest.mark.asyncio
async def test_a_stock_ssh_client_joins_and_the_tunnel_reaches_its_sshd(
    server: DialOutServer, workspace: Workspace, sshd: Sshd, tmp_path: Path
) -> None:
    token = server.new_join("ws-1", ttl=30)
    command = workspace.command(token)
    assert command == (
        f"ssh -N -p {server.port} -o ExitOnForwardFailure=yes -o ServerAliveInterval=15 "
        "-o ServerAliveCountMax=3 -o BatchMode=yes -o IdentitiesOnly=yes "
        f"-o StrictHostKeyChecking=yes -o UserKnownHostsFile={workspace.known_hosts} "
        f"-i {workspace.key} -R 127.0.0.1:0:localhost:{sshd.port} {token}@127.0.0.1"
    )
    client = await workspace.run(command)
    port = await server.wait_for("ws-1", 10)
    assert server.port_of("ws-1") == port and port != sshd.port

    from coder_agents_jupyter.workspaces.ssh import SSHTarget

    ws = DialOutWorkspace(SSHTarget(**target(sshd, 1, tmp_path)), "ws-1", server, "box")
    try:
        info = await ws.wait(await ws.start_process("echo $SSH_CONNECTION"), 10)
        # The workspace's sshd sees a connection from its own loopback: the tunnel's far end.
        assert info.exit_code == 0 and info.output.split()[2:] == ["127.0.0.1", str(sshd.port)]
        assert ws.target.port == port  # looked up from the tunnel, not from the record

        # The token is single-use: a second client with the same command is turned away.
        err = await workspace.refused(command)
        assert "Permission denied (publickey)" in err

        # The workspace's client goes: the tunnel is forgotten and the workspace says so.
        client.kill()
        _, err_bytes = await client.communicate()
        assert f"Allocated port {port} for remote forward to localhost:{sshd.port}" in (
            err_bytes.decode()
        )
        for _ in range(100):
            if server.port_of("ws-1") is None:
                break
            await asyncio.sleep(0.05)
        assert server.port_of("ws-1") is None and server.left == ["ws-1"]  # type: ignore[attr-defined]
        with pytest.raises(WorkspaceError, match="box is not connected.*call start_workspace"):
            await ws.stat(str(tmp_path))

        # It joins again with a new token: the same workspace object follows the new tunnel.
        await workspace.run(workspace.command(server.new_join("ws-1", ttl=30)))
        new_port = await server.wait_for("ws-1", 10)
        assert await ws.stat(str(tmp_path)) is not None
        assert ws.target.port == new_port
    finally:
        await ws.aclose()


@pytest.mark.asyncio
async def test_only_authorised_keys_and_valid_tokens_join(
    server: DialOutServer, workspace: Workspace, tmp_path: Path
) -> None:
    token = server.new_join("ws-1", ttl=30)
    command = workspace.command(token)
    stranger = keygen(tmp_path / "stranger")
    err = await workspace.refused(command.replace(f"-i {workspace.key}", f"-i {stranger}"))
    assert "Permission denied" in err
    assert "Permission denied" in await workspace.refused(workspace.command("join-guessed"))
    expired = server.new_join("ws-2", ttl=0.01)
    await asyncio.sleep(0.05)
    assert "Permission denied" in await workspace.refused(workspace.command(expired))
    # A newer token for a workspace replaces its older one.
    first, second = server.new_join("ws-3"), server.new_join("ws-3")
    assert "Permission denied" in await workspace.refused(workspace.command(first))
    assert first != second
    # The endpoint's host key is checked by the workspace like any host's.
    workspace.known_hosts.write_text(
        server.known_hosts_line().rsplit(" ", 1)[0]
        + " "
        + Path(f"{stranger}.pub").read_text().split()[1]
        + "\n"
    )
    assert "Host key verification failed" in await workspace.refused(command)
    assert server.port_of("ws-1") is None


@pytest.mark.asyncio
async def test_nothing_but_one_loopback_forward_is_granted(
    server: DialOutServer, workspace: Workspace, sshd: Sshd
) -> None:
    fwd = f"-R 127.0.0.1:0:localhost:{sshd.port}"

    def command(replacement: str = fwd) -> str:
        return workspace.command(server.new_join("ws-1", ttl=30)).replace(fwd, replacement)

    for bad in (
        f"-R 0.0.0.0:0:localhost:{sshd.port}",  # anything but loopback
        f"-R 127.0.0.1:{free_port()}:localhost:{sshd.port}",  # a port of its choosing
        f"{fwd} -R 127.0.0.1:0:localhost:{sshd.port + 1}",  # a second listener
    ):
        err = await workspace.refused(command(bad))
        assert "remote port forwarding failed" in err, err
    assert server.port_of("ws-1") is None

    # No shell and no command.
    err = await workspace.refused(command().replace("ssh -N ", "ssh ") + " id")
    assert "uid=" not in err

    # No way into the control plane's network either (-L is refused channel by channel).
    reached: list[bool] = []

    async def inside(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        reached.append(True)
        writer.close()

    secret = await asyncio.start_server(inside, "127.0.0.1", 0)
    local = free_port()
    secret_port = secret.sockets[0].getsockname()[1]
    try:
        await workspace.run(command(f"{fwd} -L 127.0.0.1:{local}:127.0.0.1:{secret_port}"))
        await server.wait_for("ws-1", 10)  # the tunnel itself works
        reader, writer = await asyncio.open_connection("127.0.0.1", local)
        writer.write(b"hello")
        with contextlib.suppress(ConnectionResetError):  # closed at once, one way or another
            assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
        assert reached == []
    finally:
        secret.close()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.asyncio
async def test_host_key_is_created_once_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "host_key"
    (tmp_path / "authorized_keys").write_text("")
    first = await DialOutServer(
        "127.0.0.1", 0, str(path), str(tmp_path / "authorized_keys")
    ).start()
    line = first.known_hosts_line("cp.example.com")
    port = first.port
    await first.stop()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again = await DialOutServer(
        "127.0.0.1", 0, str(path), str(tmp_path / "authorized_keys")
    ).start()
    try:
        assert again.known_hosts_line("cp.example.com").split()[1:] == line.split()[1:]
        assert line.startswith(f"[cp.example.com]:{port} ssh-ed25519 ")
    finally:
        await again.stop()


def test_settings_and_template_checks() -> None:
    assert dial_out_settings({}) is None
    s = dial_out_settings(
        {"listen": "[::]:2200", "public_host": "cp", "host_key": "/k", "authorized_keys": "/a"}
    )
    assert s is not None and s.listen_address == ("::", 2200)
    with pytest.raises(ConfigError, match="dial_out.*host:port"):
        dial_out_settings({"listen": "2222", "host_key": "/k", "authorized_keys": "/a"})
    with pytest.raises(ConfigError, match="dial_out.*authorized_keys"):
        dial_out_settings({"host_key": "/k"})
    base = {"name": "d", "description": "x"}
    with pytest.raises(ValueError, match="cannot set host"):
        Template(**base, provisioner={"type": "dial-out", "host": "h"})
    with pytest.raises(ValueError, match="not both"):
        Template(
            **base,
            provisioner={
                "type": "dial-out",
                "known_hosts": "/kh",
                "insecure_accept_new_host_key": True,
            },
        )


@pytest.mark.asyncio
async def test_provisioner_waits_for_the_join_and_explains_failures(
    server: DialOutServer, workspace: Workspace, sshd: Sshd, tmp_path: Path
) -> None:
    def template(join_timeout: float) -> Template:
        return Template(
            name="joined",
            description="dial-out",
            provisioner={
                "type": "dial-out",
                "user": sshd.user,
                "key_file": str(sshd.client_key),
                "insecure_accept_new_host_key": True,
                "workdir": str(tmp_path),
                "join_timeout": join_timeout,
                "workspace_key": str(workspace.key),
                "workspace_known_hosts": str(workspace.known_hosts),
                "workspace_sshd_port": sshd.port,
                "init": ["echo hello from {username} > init.txt"],
            },
        )

    lines: list[str] = []

    async def log(line: str) -> None:
        lines.append(line)

    kwargs = {"owner": "alice", "data_dir": str(tmp_path), "log": log}
    with pytest.raises(ProvisionError, match="dial-out endpoint is not running"):
        await provision(template(0.3), {}, workspace_id="w1", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ProvisionError, match="did not connect within 0.3 s"):
        await provision(
            template(0.3),
            {},
            workspace_id="w1",
            dial_out=server,
            **kwargs,  # type: ignore[arg-type]
        )
    stale = next(line for line in lines if line.startswith("ssh -N"))
    assert "Permission denied" in await workspace.refused(stale)  # cancelled with the timeout

    lines.clear()
    task = asyncio.create_task(
        provision(
            template(10),
            {},
            workspace_id="w2",
            dial_out=server,
            **kwargs,  # type: ignore[arg-type]
        )
    )
    for _ in range(500):
        if any(line.startswith("ssh -N") for line in lines):
            break
        await asyncio.sleep(0.02)
    assert server.known_hosts_line() in lines  # what the workspace's known_hosts needs
    await workspace.run(next(line for line in lines if line.startswith("ssh -N")))
    built = await asyncio.wait_for(task, 10)
    assert built.kind == "ssh" and built.path == str(tmp_path)
    assert built.config["dial_out"] == "w2" and built.config["port"] == server.port_of("w2")
    assert (tmp_path / "init.txt").read_text() == "hello from alice\n"
