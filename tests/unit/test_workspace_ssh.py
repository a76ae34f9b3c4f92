"""What only an SSH workspace has: connecting, host keys, drops, jump hosts, proxies, agents.

The behaviour it shares with a local folder is proven by the parametrized workspace and tool
tests (``ws``/``h`` run over SSH too). Everything here runs against a real OpenSSH sshd.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import stat
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncssh
import pydantic
import pytest
import pytest_asyncio

from coder_agents_jupyter.errors import WorkspaceError
from coder_agents_jupyter.testing.sshd import SESSION_ENV, Sshd
from coder_agents_jupyter.tools.base import ToolContext, ToolResult, invoke_tool
from coder_agents_jupyter.tools.workspace_tools import WORKSPACE_TOOLS
from coder_agents_jupyter.workspaces.ssh import SSHTarget, SSHWorkspace
from coder_agents_jupyter.workspaces.ssh_target import hops

pytestmark = pytest.mark.ssh

TOOLS = {t.name: t for t in WORKSPACE_TOOLS}


@pytest_asyncio.fixture
async def workspaces() -> AsyncIterator[list[SSHWorkspace]]:
    """Append workspaces to close at teardown."""
    made: list[SSHWorkspace] = []
    yield made
    for ws in made:
        await ws.aclose()


def open_ws(made: list[SSHWorkspace], target: SSHTarget, **kwargs: Any) -> SSHWorkspace:
    ws = SSHWorkspace(target, **kwargs)
    made.append(ws)
    return ws


def tool_context(ws: SSHWorkspace) -> ToolContext:
    async def get_workspace() -> SSHWorkspace:
        return ws

    async def save_attachment(name: str, media_type: str, data: bytes) -> str:
        return "att-1"

    return ToolContext(
        chat_id="c", owner="alice", get_workspace=get_workspace, save_attachment=save_attachment
    )


async def call(ctx: ToolContext, tool: str, /, **args: Any) -> ToolResult:
    return await invoke_tool(TOOLS, tool, args, ctx)


def keygen(path: Path) -> str:
    """A new ed25519 key at ``path``; its fingerprint (SHA256:...)."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "lent-key", "-f", str(path)],
        check=True,
    )
    out = subprocess.run(
        ["ssh-keygen", "-lf", f"{path}.pub"], check=True, capture_output=True, text=True
    ).stdout
    return out.split()[1]


def kill_group(pgid: int | None) -> None:
    if pgid:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)


async def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


# ----- target -----


def test_target_validation_and_hops() -> None:
    t = SSHTarget(
        host="ws",
        user="dev",
        key_file="/k",
        known_hosts="/kh",
        jump_hosts=["bastion", "ops@inner:2222", SSHTarget(host="last", user="x", port=2200)],
    )
    chain = hops(t)
    assert [(h.user, h.host, h.port) for h in chain] == [
        ("dev", "bastion", 22),
        ("ops", "inner", 2222),
        ("x", "last", 2200),
        ("dev", "ws", 22),
    ]
    assert chain[0].key_file == "/k" and chain[0].known_hosts == "/kh"  # strings inherit
    assert chain[2].key_file is None  # a nested target brings its own
    with pytest.raises(pydantic.ValidationError, match="user@host:port"):
        SSHTarget(host="h", user="u", jump_hosts=["a b"])
    with pytest.raises(pydantic.ValidationError, match="either jump_hosts or proxy_command"):
        SSHTarget(host="h", user="u", jump_hosts=["j"], proxy_command=["nc", "%h", "%p"])
    with pytest.raises(pydantic.ValidationError):
        t.host = "other"  # type: ignore[misc]  # frozen


# ----- connecting -----


@pytest.mark.asyncio
async def test_connects_lazily_and_reports_an_unreachable_host(
    sshd: Sshd, workspaces: list[SSHWorkspace]
) -> None:
    ws = open_ws(workspaces, sshd.target(port=1, workdir="~"))  # nothing listens on port 1
    with pytest.raises(WorkspaceError, match="not connected yet"):
        _ = ws.root
    started = time.monotonic()
    with pytest.raises(WorkspaceError) as info:
        await ws.stat("x")
    assert time.monotonic() - started < 5
    assert str(info.value) == (
        f"Cannot reach 127.0.0.1:1 as {sshd.user}: connection refused; "
        "check the workspace is running."
    )
    r = await call(tool_context(ws), "read_file", path="x")
    assert r.is_error and "Cannot reach 127.0.0.1:1" in r.content


@pytest.mark.asyncio
async def test_home_workdir_and_missing_workdir(
    sshd: Sshd, workspaces: list[SSHWorkspace], tmp_path: Path
) -> None:
    ws = open_ws(workspaces, sshd.target(workdir="~"))
    await ws.connect()
    home = os.path.expanduser("~")  # the sshd logs in as the user running the tests
    assert ws.root == home
    assert ws.resolve("~/x") == f"{home}/x"
    assert ws.resolve(f"~{sshd.user}/y") == f"{home}/y"
    assert ws.resolve("rel") == f"{home}/rel"

    missing = open_ws(workspaces, sshd.target(workdir=str(tmp_path / "nope")))
    with pytest.raises(WorkspaceError, match=f"The workspace folder {tmp_path}/nope does not"):
        await missing.start_process("true")


@pytest.mark.asyncio
async def test_a_write_is_synced_after_its_data_and_renamed_after_that(
    sshd: Sshd,
    workspaces: list[SSHWorkspace],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The SFTP server runs a channel's requests in the order they were sent: the fsync must
    be sent after every write of the temporary file, and the rename after its close."""
    sent: list[Any] = []
    make_request = asyncssh.sftp.SFTPClientHandler._make_request

    async def record(self: Any, pkttype: Any, *args: bytes) -> object:
        sent.append(pkttype)
        return await make_request(self, pkttype, *args)

    monkeypatch.setattr(asyncssh.sftp.SFTPClientHandler, "_make_request", record)
    ws = open_ws(workspaces, sshd.target(workdir=str(tmp_path)))
    await ws.connect()
    (tmp_path / "old.txt").write_text("old\n")
    os.chmod(tmp_path / "old.txt", 0o751)
    fsync, write, close = b"fsync@openssh.com", asyncssh.sftp.FXP_WRITE, asyncssh.sftp.FXP_CLOSE
    renames = (asyncssh.sftp.FXP_RENAME, b"posix-rename@openssh.com")
    for name, data in [("new.txt", b"x" * 1000), ("old.txt", b"y" * 100), ("big", b"z" * 900_000)]:
        sent.clear()
        await ws.write_files_atomic({name: data})
        assert (tmp_path / name).read_bytes() == data
        rename = max(i for i, t in enumerate(sent) if t in renames)
        synced = sent.index(fsync)
        assert synced > max(i for i, t in enumerate(sent) if t == write), (name, sent)
        assert synced < max(i for i, t in enumerate(sent[:rename]) if t == close) < rename
    assert stat.S_IMODE(os.stat(tmp_path / "old.txt").st_mode) == 0o751


@pytest.mark.asyncio
async def test_wrong_client_key_is_refused(
    sshd: Sshd, workspaces: list[SSHWorkspace], tmp_path: Path
) -> None:
    keygen(tmp_path / "stranger")
    ws = open_ws(workspaces, sshd.target(key_file=str(tmp_path / "stranger")))
    with pytest.raises(WorkspaceError, match="permission denied.*authorized_keys"):
        await ws.connect()


# ----- host keys -----


@pytest.mark.asyncio
async def test_changed_host_key_is_refused(
    sshd: Sshd, workspaces: list[SSHWorkspace], tmp_path: Path
) -> None:
    keygen(tmp_path / "other_host")
    other = " ".join((tmp_path / "other_host.pub").read_text().split()[:2])
    known = tmp_path / "known_hosts"
    known.write_text(sshd.known_hosts_line(other))
    for accept_new in (False, True):  # even the explicit opt-in never overrides a recorded key
        ws = open_ws(
            workspaces,
            sshd.target(known_hosts=str(known), insecure_accept_new_host_key=accept_new),
        )
        with pytest.raises(WorkspaceError) as info:
            await ws.connect()
        message = str(info.value)
        assert message.startswith(f"Cannot reach 127.0.0.1:{sshd.port} as {sshd.user}: ")
        assert "does not match the one recorded in" in message
        assert "update known_hosts" in message
    assert known.read_text() == sshd.known_hosts_line(other)  # untouched


@pytest.mark.asyncio
async def test_unknown_host_needs_the_explicit_opt_in(
    sshd: Sshd, workspaces: list[SSHWorkspace], tmp_path: Path
) -> None:
    known = tmp_path / "known_hosts"
    known.write_text("")
    ws = open_ws(workspaces, sshd.target(known_hosts=str(known)))
    with pytest.raises(WorkspaceError, match="is not in .*insecure_accept_new_host_key"):
        await ws.connect()

    tofu = open_ws(
        workspaces, sshd.target(known_hosts=str(known), insecure_accept_new_host_key=True)
    )
    assert (await tofu.stat(str(tmp_path))) is not None
    assert known.read_text() == sshd.known_hosts_line()  # recorded like ssh's accept-new
    await ws.connect()  # from now on the strict workspace trusts it too

    # Without a file, the key is pinned in memory and still checked on reconnect.
    pinned = open_ws(workspaces, sshd.target(known_hosts=None, insecure_accept_new_host_key=True))
    await pinned.connect()
    sshd.drop_connections()
    assert await pinned.stat(str(tmp_path)) is not None


@pytest.mark.asyncio
async def test_a_key_accepted_on_first_use_stays_pinned(tmp_path: Path) -> None:
    with Sshd(tmp_path / "first") as first:
        ws = SSHWorkspace(first.target(known_hosts=None, insecure_accept_new_host_key=True))
        try:
            await ws.connect()
            first.stop()  # the host is replaced by one with another key, same address
            with Sshd(tmp_path / "second", port=first.port) as second:
                assert second.host_public_key != first.host_public_key
                with pytest.raises(WorkspaceError) as info:
                    await ws.stat("/")
                assert "does not match the one it presented when first accepted" in str(info.value)
        finally:
            await ws.aclose()


# ----- environment -----


@pytest.mark.asyncio
async def test_environment_has_no_secrets_and_carries_the_identity(
    sshd: Sshd, workspaces: list[SSHWorkspace], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-server-secret")
    ws = open_ws(
        workspaces,
        sshd.target(workdir=str(tmp_path)),
        env_remove=["ANTHROPIC_API_KEY", "remote_drop_me"],
        env_extra={"GIT_AUTHOR_NAME": "Ann O'Hara $HOME `x`", "GIT_AUTHOR_EMAIL": "ann@x.org"},
    )
    info = await ws.wait(await ws.start_process("env"), 10)
    env = dict(line.split("=", 1) for line in info.output.splitlines() if "=" in line)
    assert "REMOTE_SERVICE_API_KEY" not in env and "REMOTE_DEPLOY_TOKEN" not in env
    assert "REMOTE_DROP_ME" not in env
    assert "ANTHROPIC_API_KEY" not in env
    for secret in (*SESSION_ENV.values(), "sk-ant-server-secret"):
        if secret != "remote-kept":
            assert secret not in info.output
    assert env["REMOTE_KEEP_ME"] == "remote-kept"
    assert env["GIT_AUTHOR_NAME"] == "Ann O'Hara $HOME `x`"  # quoted, not expanded
    assert env["GIT_AUTHOR_EMAIL"] == "ann@x.org"
    for name, value in {
        "GIT_EDITOR": "true",
        "GIT_TERMINAL_PROMPT": "0",
        "PAGER": "cat",
        "TERM": "dumb",
        "CODER_AGENTS": "1",
    }.items():
        assert env[name] == value
    assert env["HOME"] == os.path.expanduser("~")  # the host's own environment is kept


# ----- drops -----


@pytest.mark.asyncio
async def test_drop_mid_execute_gives_an_error_then_reconnects(
    sshd: Sshd, workspaces: list[SSHWorkspace], tmp_path: Path
) -> None:
    ws = open_ws(workspaces, sshd.target(workdir=str(tmp_path)))
    ctx = tool_context(ws)
    r = await call(ctx, "execute", command="sleep 60", run_in_background=True)
    assert r.display is not None
    background = r.display["process_id"]
    task = asyncio.create_task(call(ctx, "execute", command="sleep 30", timeout_seconds=60))
    await wait_for(lambda: len(ws._table.records()) == 2 and ws._table.records()[1].pid)
    pids = [r.pid for r in ws._table.records()]

    started = time.monotonic()
    assert sshd.drop_connections() > 0
    r = await asyncio.wait_for(task, 10)
    assert time.monotonic() - started < 5  # promptly, not at the timeout
    assert r.is_error
    assert f"The SSH connection to 127.0.0.1:{sshd.port} dropped while process p2" in r.content
    assert "it may still be running on the host" in r.content

    r = await call(ctx, "process_list")
    assert f"{background}: lost with its connection" in r.content
    r = await call(ctx, "process_output", process_id=background)
    assert r.is_error and "dropped while process p1" in r.content

    r = await call(ctx, "execute", command="echo back")
    assert not r.is_error and "Exit code: 0" in r.content and "back" in r.content
    for pid in pids:  # clean up what the drop left running (the host is this machine)
        assert pid is not None
        kill_group(pid)


@pytest.mark.asyncio
async def test_a_silent_drop_is_detected_by_keepalives(tmp_path: Path) -> None:
    with Sshd(tmp_path / "sshd") as server:  # its own: its processes get frozen
        ws = SSHWorkspace(server.target(workdir=str(tmp_path), keepalive_interval=0.2))
        ctx = tool_context(ws)
        try:
            task = asyncio.create_task(call(ctx, "execute", command="sleep 30", timeout_seconds=60))
            await wait_for(lambda: bool(ws._table.records()) and ws._table.records()[0].pid)
            remote = ws._table.records()[0].pid
            frozen = server.connection_pids()
            for pid in frozen:  # the host stops answering, but no TCP reset ever comes
                os.kill(pid, signal.SIGSTOP)
            try:
                r = await asyncio.wait_for(task, 10)
            finally:
                for pid in frozen:
                    os.kill(pid, signal.SIGCONT)
            assert r.is_error and "dropped while process p1" in r.content
            r = await call(ctx, "execute", command="echo ok")
            assert not r.is_error and "ok" in r.content
        finally:
            await ws.aclose()
            kill_group(remote)


@pytest.mark.asyncio
async def test_file_calls_reconnect_transparently(
    sshd: Sshd, workspaces: list[SSHWorkspace], tmp_path: Path
) -> None:
    (tmp_path / "f.txt").write_text("content\n")
    ws = open_ws(workspaces, sshd.target(workdir=str(tmp_path)))
    ctx = tool_context(ws)
    r = await call(ctx, "read_file", path="f.txt")
    assert not r.is_error
    for tool, args in [
        ("read_file", {"path": "f.txt"}),
        ("write_file", {"path": "g.txt", "content": "new\n"}),
        ("execute", {"command": "cat g.txt"}),
    ]:
        sshd.drop_connections()
        await asyncio.sleep(0.1)  # let the client notice, as between two tool calls
        r = await call(ctx, tool, **args)
        assert not r.is_error, (tool, r.content)
    assert "new" in r.content
    # A drop the client has not noticed yet: the read is retried on a new connection.
    sshd.drop_connections()
    assert await ws.read_bytes("f.txt") == b"content\n"


@pytest.mark.asyncio
async def test_more_processes_than_sshd_sessions(tmp_path: Path) -> None:
    with Sshd(tmp_path / "sshd", max_sessions=2) as small:
        ws = SSHWorkspace(small.target(workdir=str(tmp_path)))
        try:
            ids = [await ws.start_process(f"sleep 30; echo {i}") for i in range(5)]
            assert all(p.running for p in await ws.list_processes())
            await ws.signal(ids[-1], "kill")
            assert (await ws.wait(ids[-1], 5)).exit_code == -9
            info = await ws.wait(await ws.start_process("echo fine"), 5)
            assert info.output == "fine\n"
        finally:
            await ws.aclose()


# ----- reaching the host -----


@pytest.mark.asyncio
async def test_jump_host(sshd: Sshd, workspaces: list[SSHWorkspace], tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("via the jump host\n")
    jump = f"{sshd.user}@{sshd.host}:{sshd.port}"  # the same sshd relays to itself
    ws = open_ws(workspaces, sshd.target(workdir=str(tmp_path), jump_hosts=[jump, jump]))
    assert await ws.read_bytes("f.txt") == b"via the jump host\n"
    info = await ws.wait(await ws.start_process("echo $SSH_CONNECTION"), 10)
    assert info.exit_code == 0 and info.output.startswith("127.0.0.1 ")

    bad = open_ws(
        workspaces, sshd.target(jump_hosts=[f"{sshd.user}@{sshd.host}:{sshd.port}"], port=1)
    )
    with pytest.raises(WorkspaceError, match="the jump host could not open a connection"):
        await bad.connect()


@pytest.mark.asyncio
async def test_proxy_command(sshd: Sshd, workspaces: list[SSHWorkspace], tmp_path: Path) -> None:
    proxy = [
        "ssh",
        "-W",
        "%h:%p",
        "-p",
        str(sshd.port),
        "-i",
        str(sshd.client_key),
        "-o",
        "BatchMode=yes",
        "-o",
        f"UserKnownHostsFile={sshd.known_hosts}",
        "-o",
        "StrictHostKeyChecking=yes",
        f"{sshd.user}@{sshd.host}",
    ]
    ws = open_ws(workspaces, sshd.target(workdir=str(tmp_path), proxy_command=proxy))
    await ws.write_files_atomic({"p.txt": b"proxied"})
    assert (tmp_path / "p.txt").read_bytes() == b"proxied"
    info = await ws.wait(await ws.start_process("cat p.txt"), 10)
    assert info.output == "proxied"

    broken = open_ws(workspaces, sshd.target(proxy_command=["false"]))
    with pytest.raises(WorkspaceError, match="Cannot reach"):
        await broken.connect()


@pytest.mark.asyncio
async def test_agent_forwarding_lends_keys_without_copying_them(
    workspaces: list[SSHWorkspace], tmp_path: Path
) -> None:
    lent = tmp_path / "keys" / "lent_ed25519"
    lent.parent.mkdir()
    fingerprint = keygen(lent)
    marker = tmp_path / "marker"
    marker.write_text("")
    with Sshd(tmp_path / "sshd") as server:
        # The lent key may log in to the same server: a remote `ssh` proves signing works.
        with open(server.dir / "authorized_keys", "a") as f:
            f.write((lent.parent / "lent_ed25519.pub").read_text())
        ws = open_ws(
            workspaces, server.target(workdir=str(tmp_path), agent_forward_keys=[str(lent)])
        )
        info = await ws.wait(await ws.start_process("ssh-add -l"), 10)
        assert info.exit_code == 0 and fingerprint in info.output

        hop = (
            f"ssh -p {server.port} -o BatchMode=yes -o IdentityFile=/dev/null "
            f"-o UserKnownHostsFile={server.known_hosts} {server.user}@{server.host} echo signed"
        )
        info = await ws.wait(await ws.start_process(hop), 20)
        assert info.output.strip().endswith("signed"), info.output

        secret = lent.read_text().splitlines()[2]  # a line of the private key's body
        search = (
            f'find /tmp /var/tmp /dev/shm "$HOME" -xdev -type f -newer {marker} -size -64k '
            f"-exec grep -lF -- '{secret}' {{}} + 2>/dev/null; true"
        )
        info = await ws.wait(await ws.start_process(search), 60)
        assert info.output == ""  # no copy of the private key anywhere on the host

        without = open_ws(workspaces, server.target(workdir=str(tmp_path)))
        info = await without.wait(await without.start_process("ssh-add -l"), 10)
        assert info.exit_code != 0  # no agent unless keys are lent
