"""SSH workspaces through the real server: reached directly, and dialling out to the control
plane (a stock ``ssh`` client on the workspace, no inbound port). The agent builds them from
templates, runs the foundation's bug-fix chat there, survives a dropped connection, refuses a
host whose key changed, and pushes to a git server with the user's key lent through agent
forwarding, never written to the workspace.

The workspace host (and the git server) is a real OpenSSH sshd on loopback; the "remote" files
are this machine's files, so the test checks them directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_chat_flow import bugfix_chat

from coder_agents_jupyter.testing import reply, text, tool_call
from coder_agents_jupyter.testing.sshd import SESSION_ENV, Sshd

pytestmark = pytest.mark.ssh

SECRETS = ("sk-ant-test-secret-1234", "sk-openai-test-secret-5678")
SCRIPT = Path(__file__).parent / "scripts" / "provision_ssh.py"
LOCAL_SCRIPT = Path(__file__).parent / "scripts" / "provision.py"


def keygen(path: Path) -> Path:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", str(path)],
        check=True,
    )
    return path


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    """The workspace host and git server: this module's own sshd (tests here drop its
    connections and authorise keys on it)."""
    # Like the test process (whose environment local workspaces inherit), no bytecode files:
    # the bug-fix chat edits calc.py to a same-size file within the second its first test
    # run cached it, and Python would then run the stale __pycache__ copy.
    env = {**SESSION_ENV, "PYTHONDONTWRITEBYTECODE": "1"}
    with Sshd(tmp_path_factory.mktemp("workspace-host"), session_env=env) as server:
        yield server


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory, host: Sshd) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("keys")
    workspace = keygen(d / "workspace_key")  # the workspace's key for joining
    (d / "workspace_keys").write_text(Path(f"{workspace}.pub").read_text())
    alice = keygen(d / "alice_git_key")  # lent to alice's workspaces; the git server knows it
    with open(host.dir / "authorized_keys", "a") as f:
        f.write(Path(f"{alice}.pub").read_text())
    wrong = keygen(d / "some_other_host")
    (d / "wrong_known_hosts").write_text(
        host.known_hosts_line(" ".join(Path(f"{wrong}.pub").read_text().split()[:2]))
    )
    # The tunnel's port changes with every join: trust the host's key on any loopback port.
    (d / "tunnel_known_hosts").write_text(f"[127.0.0.1]:* {host.host_public_key}\n")
    return {
        "dir": d,
        "workspace": workspace,
        "authorized": d / "workspace_keys",
        "alice": alice,
        "wrong_known_hosts": d / "wrong_known_hosts",
        "tunnel_known_hosts": d / "tunnel_known_hosts",
        "cp_known_hosts": d / "cp_known_hosts",  # the workspace's file trusting the endpoint
    }


@pytest.fixture(params=["anthropic"])
def protocol(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def jp_server_config(jp_server_config, tmp_path, host, keys):  # type: ignore[no-untyped-def]
    host_json = tmp_path / "host.json"
    connection = {
        "host": host.host,
        "port": host.port,
        "user": host.user,
        "key_file": str(host.client_key),
        "known_hosts": str(host.known_hosts),
    }
    host_json.write_text(json.dumps(connection))
    folder = [{"name": "folder", "type": "string", "description": "the folder on the host"}]
    jp_server_config["ServerApp"]["identity_provider_class"] = (
        "coder_agents_jupyter.testing.identity.TokenUsers"
    )
    jp_server_config["CoderAgents"].update(
        default_workspace="none",
        user_groups={"carol": ["data-team"]},
        git_email="{username}@example.org",
        user_ssh_keys={"alice": str(keys["alice"])},
        dial_out={
            "listen": "127.0.0.1:0",
            "public_host": "127.0.0.1",
            "host_key": str(tmp_path / "cp" / "dialout_host_key"),
            "authorized_keys": str(keys["authorized"]),
        },
        templates=[
            {
                "name": "build-host",
                "description": "A folder on the team's SSH build host",
                "provisioner": {"type": "ssh", **connection, "workdir": "{folder}"},
                "parameters": folder,
            },
            {
                "name": "dial-in",
                "description": "A machine behind a firewall that connects to us",
                "provisioner": {
                    "type": "dial-out",
                    "user": host.user,
                    "key_file": str(host.client_key),
                    "known_hosts": str(keys["tunnel_known_hosts"]),
                    "workdir": "{folder}",
                    "join_timeout": 20,
                    "workspace_key": str(keys["workspace"]),
                    "workspace_known_hosts": str(keys["cp_known_hosts"]),
                    "workspace_sshd_port": host.port,
                },
                "parameters": folder,
            },
            {
                "name": "rebuilt-host",
                "description": "A host whose key no longer matches",
                "provisioner": {
                    "type": "ssh",
                    **connection,
                    "known_hosts": str(keys["wrong_known_hosts"]),
                },
            },
            {
                "name": "vm",
                "description": "A machine from the admin's script",
                "provisioner": {
                    "type": "command",
                    "command": [sys.executable, str(SCRIPT), str(host_json), str(tmp_path / "vms")],
                },
            },
            {
                "name": "scratch",
                "description": "A local folder",
                "provisioner": {"type": "local", "base_dir": str(tmp_path / "scratch")},
            },
            {
                "name": "gpu-box",
                "description": "The data team's GPU host",
                "provisioner": {"type": "ssh", **connection},
                "visible_to": {"groups": ["data-team"]},
            },
        ],
    )
    return jp_server_config


@pytest.fixture
def clients() -> Iterator[list[subprocess.Popen[bytes]]]:
    """The workspace side's ssh client processes (the join commands), killed at the end."""
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def results(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [b for m in messages if m["role"] == "tool" for b in m["content"]]


class Bound:
    """The API with every new chat bound to a workspace (``bugfix_chat`` as it is)."""

    def __init__(self, api: Any, workspace_id: str) -> None:
        self._api = api
        self._workspace_id = workspace_id

    def __getattr__(self, name: str) -> Any:
        return getattr(self._api, name)

    async def chat(self, prompt: str, **fields: Any) -> dict[str, Any]:
        return await self._api.chat(prompt, workspace_id=self._workspace_id, **fields)  # type: ignore[no-any-return]


def join(lines: list[str], keys: dict[str, Path], clients: list[Any]) -> str:
    """Do on the workspace what the log says: trust the endpoint, run the join command."""
    known = next(line for line in lines if line.startswith("[127.0.0.1]:"))
    command = next(line for line in lines if line.startswith("ssh -N"))
    keys["cp_known_hosts"].write_text(known + "\n")
    clients.append(
        subprocess.Popen(
            shlex.split(command),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    )
    return command


async def build_log_lines(api: Any, wanted: str, timeout: float = 15) -> list[str]:
    """The live build log of the user's workspace being provisioned, once it shows ``wanted``."""
    deadline = time.monotonic() + timeout
    while True:
        for ws in await api.ok("GET", "workspaces"):
            lines = (ws["build_log"] or "").splitlines()
            if ws["status"] == "provisioning" and any(line.startswith(wanted) for line in lines):
                return lines
        assert time.monotonic() < deadline, "the build log never showed " + wanted
        await asyncio.sleep(0.05)


async def create_by_agent(
    api: Any,
    fake_llm: Any,
    template: str,
    parameters: dict[str, Any],
    keys: dict[str, Path],
    clients: list[Any],
    tag: str,
) -> dict[str, Any]:
    """A chat whose agent creates a workspace; a dial-out one is joined as its log says."""
    fake_llm.script(
        tag,
        [
            reply(
                tool_call(
                    "create_workspace",
                    {"template": template, "name": tag, "parameters": parameters},
                )
            ),
            reply(text("Your workspace is ready.")),
        ],
    )
    chat = await api.chat(f"I need a workspace #{tag}")
    if template == "dial-in":
        join(await build_log_lines(api, "ssh -N"), keys, clients)
    done = await api.wait(chat["id"])
    assert done["status"] == "waiting", done["error"]
    created = results(await api.messages(chat["id"]))[0]
    assert not created["is_error"], created["content"]
    return json.loads(created["content"])  # type: ignore[no-any-return]


async def run_commands(api: Any, fake_llm: Any, workspace_id: str, tag: str, *commands: str):  # type: ignore[no-untyped-def]
    fake_llm.script(
        tag,
        [reply(tool_call("execute", {"command": c, "timeout_seconds": 30})) for c in commands]
        + [reply(text("Done."))],
    )
    chat = await api.chat(f"Run it #{tag}", workspace_id=workspace_id)
    done = await api.wait(chat["id"])
    assert done["status"] == "waiting", done["error"]
    return results(await api.messages(chat["id"]))


def pids_running(command: str) -> list[int]:
    """Processes running exactly ``command`` (the workspace host is this machine)."""
    wanted = "".join(f"{arg}\0" for arg in command.split()).encode()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if Path(f"/proc/{entry}/cmdline").read_bytes() == wanted:
                    found.append(int(entry))
    return found


@pytest.mark.parametrize("template", ["build-host", "dial-in"])
async def test_bugfix_chat_on_an_ssh_workspace(
    api_as, fake_llm, host, keys, clients, tmp_path, template
) -> None:
    alice = api_as("alice")
    folder = tmp_path / "project"
    folder.mkdir()
    info = await create_by_agent(
        alice, fake_llm, template, {"folder": str(folder)}, keys, clients, "create"
    )
    assert info["kind"] == "ssh" and info["status"] == "ready" and info["path"] == str(folder)

    # The foundation's scripted bug-fix chat, unchanged, on that workspace.
    await bugfix_chat(Bound(alice, info["id"]), fake_llm, folder)

    # The workspace's processes see none of the control plane's provider keys.
    (env,) = await run_commands(alice, fake_llm, info["id"], "env", "env")
    assert not env["is_error"] and "SSH_CONNECTION=127.0.0.1" in env["content"]
    assert "CODER_AGENTS=1" in env["content"]
    for secret in SECRETS:
        assert secret not in env["content"]
    assert "FAKE_ANTHROPIC_KEY" not in env["content"]

    # The connection dies mid-execute: a clear error, and the next call reconnects.
    marker = f"sleep 31.{os.getpid() % 1000}"
    fake_llm.script(
        "drop",
        [
            reply(tool_call("execute", {"command": f"{marker}; echo late", "timeout_seconds": 60})),
            reply(tool_call("execute", {"command": "echo back; pwd"})),
            reply(text("Recovered.")),
        ],
    )
    chat = await alice.chat("Run the slow thing #drop", workspace_id=info["id"])
    for _ in range(200):
        if pids_running(marker):
            break
        await asyncio.sleep(0.05)
    left = pids_running(marker)
    assert left, "the command never started"
    started = time.monotonic()
    assert host.drop_connections() > 0
    done = await alice.wait(chat["id"], timeout=20)
    assert time.monotonic() - started < 10  # promptly, not at the command's timeout
    assert done["status"] == "waiting", done["error"]
    lost, back = results(await alice.messages(chat["id"]))
    assert lost["is_error"]
    assert "SSH connection to 127.0.0.1:" in lost["content"]
    assert "dropped while process" in lost["content"] and "may still be running" in lost["content"]
    assert not back["is_error"] and "back" in back["content"] and str(folder) in back["content"]
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


async def test_a_dropped_tunnel_stops_the_workspace_until_it_joins_again(
    api_as, fake_llm, keys, clients, tmp_path, jp_ws_fetch
) -> None:
    alice = api_as("alice")
    folder = tmp_path / "project"
    folder.mkdir()
    info = await create_by_agent(
        alice, fake_llm, "dial-in", {"folder": str(folder)}, keys, clients, "create"
    )
    clients[0].kill()  # the workspace's side of the tunnel goes away
    for _ in range(200):
        ws = await alice.ok("GET", f"workspaces/{info['id']}")
        if ws["status"] == "stopped":
            break
        await asyncio.sleep(0.05)
    assert ws["status"] == "stopped"

    fake_llm.script(
        "rejoin",
        [
            reply(tool_call("execute", {"command": "pwd"})),
            reply(tool_call("start_workspace", {})),
            reply(tool_call("execute", {"command": "pwd"})),
            reply(text("Working again.")),
        ],
    )
    chat = await alice.chat("Carry on #rejoin", workspace_id=info["id"])
    events = await jp_ws_fetch(
        "coder-agents",
        "api",
        "v1",
        "chats",
        chat["id"],
        "events",
        params={"after_seq": "0"},
        headers={"Authorization": "token user-alice"},
    )
    progress: list[str] = []
    while not any(line.startswith("ssh -N") for line in progress):
        frame = json.loads(await asyncio.wait_for(events.read_message(), timeout=20))
        if frame["type"] == "tool_progress":
            progress.append(frame["text"])
    events.close()
    command = join(progress, keys, clients)
    assert command.startswith("ssh -N -p ")
    done = await alice.wait(chat["id"])
    assert done["status"] == "waiting", done["error"]
    stopped, started, worked = results(await alice.messages(chat["id"]))
    assert stopped["is_error"] and "is stopped: call start_workspace" in stopped["content"]
    assert json.loads(started["content"])["status"] == "ready"
    assert not worked["is_error"] and str(folder) in worked["content"]
    # The first join's token is spent: its command is refused now.
    spent = await asyncio.create_subprocess_exec(
        *clients[0].args, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, err = await asyncio.wait_for(spent.communicate(), 10)
    assert spent.returncode == 255 and b"Permission denied" in err


async def test_a_host_whose_key_changed_is_refused(api_as, fake_llm, keys) -> None:
    bob = api_as("bob")
    fake_llm.script(
        "mitm",
        [
            reply(tool_call("create_workspace", {"template": "rebuilt-host"})),
            reply(tool_call("read_file", {"path": ".bashrc"})),
            reply(text("The host is refused.")),
        ],
    )
    chat = await bob.chat("Use the rebuilt host #mitm")
    await bob.wait(chat["id"])
    created, refused = results(await bob.messages(chat["id"]))
    assert not created["is_error"]
    assert refused["is_error"]
    assert "its host key does not match the one recorded in" in refused["content"]
    assert str(keys["wrong_known_hosts"]) in refused["content"]
    assert "an admin must verify the new key and update known_hosts" in refused["content"]


def run(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout


def git_server(tmp_path: Path) -> Path:
    """A bare repository with one commit on ``main``: the git server's side, on the host."""
    repo, seed = tmp_path / "git" / "project.git", tmp_path / "seed"
    run("git", "init", "-q", "--bare", "-b", "main", str(repo))
    run("git", "init", "-q", "-b", "main", str(seed))
    (seed / "README").write_text("hello\n")
    git = ("git", "-C", str(seed), "-c", "user.name=seed", "-c", "user.email=seed@x")
    run(*git, "add", "README")
    run(*git, "commit", "-q", "-m", "seed")
    run(*git, "push", "-q", str(repo), "main")
    return repo


def files_holding(secret_lines: list[str], since: Path, *places: str) -> list[str]:
    """Files under ``places`` written after ``since`` that contain any of ``secret_lines``."""
    found = subprocess.run(
        ["find", *places, "-xdev", "-type", "f", "-newer", str(since), "-size", "-64k"],
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    holding = []
    for path in found:
        with contextlib.suppress(OSError):
            data = Path(path).read_text(errors="replace")
            if any(line in data for line in secret_lines):
                holding.append(path)
    return holding


async def test_git_push_over_ssh_with_the_lent_key(api_as, fake_llm, host, keys, tmp_path) -> None:
    repo = git_server(tmp_path)
    folder = tmp_path / "work"
    folder.mkdir()
    since = tmp_path / "since"
    since.write_text("")  # files newer than this were written during the chat
    fingerprint = run("ssh-keygen", "-lf", f"{keys['alice']}.pub").split()[1]

    alice = api_as("alice")
    info = await create_by_agent(
        alice, fake_llm, "build-host", {"folder": str(folder)}, keys, [], "create"
    )
    # The inner hop (workspace -> git server) may only sign with the forwarded agent.
    inner = (
        "ssh -o BatchMode=yes -o IdentityFile=/dev/null "
        "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
    )
    url = f"ssh://{host.user}@127.0.0.1:{host.port}{repo}"
    agent, pushed = await run_commands(
        alice,
        fake_llm,
        info["id"],
        "git",
        "ssh-add -l",
        f"export GIT_SSH_COMMAND='{inner}' && git clone -q {url} clone && cd clone && "
        "echo fixed > FIX && git add FIX && git commit -q -m 'Fix it' && "
        "git push -q origin main && git log -1 --format='%an <%ae>'",
    )
    assert not agent["is_error"] and fingerprint in agent["content"]
    assert not pushed["is_error"], pushed["content"]
    assert "Exit code: 0" in pushed["content"]
    assert "alice <alice@example.org>" in pushed["content"]
    log = run("git", "--git-dir", str(repo), "log", "-1", "--format=%an <%ae>|%cn <%ce>|%s", "main")
    assert log.strip() == "alice <alice@example.org>|alice <alice@example.org>|Fix it"

    # The key was lent, never written: no file made since the chat began holds any of it
    # (the lines after the first of the key's body: the first is the same for every key).
    secret = keys["alice"].read_text().splitlines()[2:-1]
    home = os.path.expanduser("~")
    assert files_holding(secret, since, str(folder), home, "/tmp", "/var/tmp", "/dev/shm") == []


async def test_create_workspace_from_each_provisioner_type(
    api_as, fake_llm, keys, tmp_path
) -> None:
    carol = api_as("carol")
    for template, check in [
        ("scratch", lambda out: "SSH_CONNECTION" not in out and str(tmp_path / "scratch") in out),
        ("vm", lambda out: "SSH_CONNECTION=127.0.0.1" in out and str(tmp_path / "vms") in out),
    ]:
        info = await create_by_agent(carol, fake_llm, template, {}, keys, [], f"make-{template}")
        assert info["status"] == "ready"
        (out,) = await run_commands(
            carol, fake_llm, info["id"], f"where-{template}", "env | grep ^SSH_CONNECTION; pwd"
        )
        assert check(out["content"]), out["content"]
    ws = await carol.ok("GET", f"workspaces/{info['id']}")
    assert "create: SSH workspace" in ws["build_log"] and ws["kind"] == "ssh"


async def test_a_template_hidden_from_a_user_cannot_be_listed_read_or_used(
    api_as, fake_llm
) -> None:
    bob = api_as("bob")
    assert "gpu-box" not in [t["name"] for t in await bob.ok("GET", "templates")]
    for method, path, body in [
        ("GET", "templates/gpu-box", None),
        ("POST", "workspaces", {"template": "gpu-box"}),
    ]:
        status, _ = await bob.call(method, path, body)
        assert status == 404
    fake_llm.script(
        "sneak",
        [
            reply(tool_call("list_templates", {"query": "gpu"})),
            reply(tool_call("read_template", {"name": "gpu-box"})),
            reply(tool_call("create_workspace", {"template": "gpu-box"})),
            reply(text("Not for me.")),
        ],
    )
    chat = await bob.chat("Use the GPU host #sneak")
    await bob.wait(chat["id"])
    listed, read, used = results(await bob.messages(chat["id"]))
    assert "gpu-box" not in listed["content"]
    for refused in (read, used):
        assert refused["is_error"] and "no template named 'gpu-box'" in refused["content"]
    assert await bob.ok("GET", "workspaces") == []
    # ... while a member of the group sees it.
    assert "gpu-box" in [t["name"] for t in await api_as("carol").ok("GET", "templates")]
