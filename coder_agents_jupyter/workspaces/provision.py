"""Provisioning workspaces from templates, and opening a workspace from its record.

``provision`` turns a template and its parameters into a reachable workspace: a new local
folder, a host (or one of a pool) over SSH, whatever an admin's ``command`` script builds
(it prints the SSH connection as JSON), or a ``dial-out`` workspace that connects to the
control plane itself (the build log shows the one command to run on it; see
``workspaces/dialout.py``). Init commands then run in the new workspace through the same
``Workspace`` interface the tools use, and everything is written to the build log.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import zlib
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import WorkspaceError
from ..templates import Template
from .base import Workspace
from .local import LocalWorkspace

if TYPE_CHECKING:
    from .dialout import DialOutServer

Log = Callable[[str], Awaitable[None]]

SSH_FIELDS = (
    "host",
    "port",
    "user",
    "key_file",
    "certificate_file",
    "known_hosts",
    "insecure_accept_new_host_key",
    "jump_hosts",
    "proxy_command",
    "workdir",
    "agent_forward_keys",
    "connect_timeout",
    "keepalive_interval",
)
DIAL_OUT_FIELDS = tuple(
    f for f in SSH_FIELDS if f not in ("host", "port", "jump_hosts", "proxy_command")
)
"""What a dial-out template says about reaching the workspace's sshd through its tunnel."""
DIAL_OUT_MARK = "dial_out"
"""In a workspace record's config: the workspace is reached through its dial-out tunnel."""
JOIN_TIMEOUT = 600.0
INIT_TIMEOUT = 600.0
LOG_EXCERPT = 4000


class ProvisionError(WorkspaceError):
    """Building a workspace failed; the message ends with the tail of the build log."""


@dataclass
class Provisioned:
    kind: str
    """``local`` or ``ssh``."""
    path: str
    """The local folder, or the remote working directory."""
    config: dict[str, Any] = field(default_factory=dict)
    """For ``ssh``: the connection (``SSHTarget`` fields)."""


def open_workspace(
    kind: str,
    path: str,
    config: Mapping[str, Any],
    *,
    env_remove: Iterable[str] = (),
    env_extra: Mapping[str, str] | None = None,
    agent_keys: Sequence[str] = (),
    dial_out: DialOutServer | None = None,
    name: str | None = None,
) -> Workspace:
    """A workspace object for a record: nothing is connected until a tool needs it.

    ``agent_keys`` (the owner's keys, ``c.CoderAgents.user_ssh_keys``) are lent to an SSH
    workspace through agent forwarding, besides the template's own ``agent_forward_keys``.
    A dial-out workspace is reached through its current tunnel on ``dial_out``.
    """
    if kind == "local":
        return LocalWorkspace(path, env_remove=env_remove, env_extra=env_extra)
    if kind == "ssh":
        from .ssh import SSHTarget, SSHWorkspace

        fields = {"workdir": path, **config}
        joined = fields.pop(DIAL_OUT_MARK, None)
        if agent_keys:
            lent = [*(fields.get("agent_forward_keys") or ()), *agent_keys]
            fields["agent_forward_keys"] = tuple(dict.fromkeys(lent))
        target = SSHTarget(**fields)
        if joined is not None:
            from .dialout import DialOutWorkspace

            return DialOutWorkspace(
                target, str(joined), dial_out, name, env_remove=env_remove, env_extra=env_extra
            )
        return SSHWorkspace(target, env_remove=env_remove, env_extra=env_extra)
    raise WorkspaceError(f"Workspace kind {kind!r} is not supported.")


def _fill(value: Any, values: Mapping[str, Any], *, quote: bool = False) -> Any:
    """Substitute ``{name}`` placeholders in strings (shell-quoted inside commands)."""
    if isinstance(value, str):
        subst = {k: shlex.quote(str(v)) if quote else v for k, v in values.items()}
        try:
            return value.format_map(subst)
        except (KeyError, IndexError, ValueError) as exc:
            raise ProvisionError(f"The template refers to an unknown value {exc}.") from None
    if isinstance(value, list):
        return [_fill(v, values, quote=quote) for v in value]
    return value


def _make_folder(base: str, name: str) -> Path:
    folder = Path(base).expanduser() / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def provision(
    template: Template,
    params: Mapping[str, Any],
    *,
    owner: str,
    workspace_id: str,
    data_dir: str,
    log: Log,
    dial_out: DialOutServer | None = None,
) -> Provisioned:
    opts = template.provisioner.options
    values = {**params, "username": owner, "workspace_id": workspace_id}
    kind = template.provisioner.type
    if kind == "local":
        base = _fill(opts.get("base_dir") or f"{data_dir}/workspaces/{owner}", values)
        folder = await asyncio.to_thread(_make_folder, base, workspace_id)
        await log(f"created the folder {folder}")
        result = Provisioned("local", str(folder))
    elif kind == "ssh":
        hosts = opts.get("hosts") or [opts["host"]]
        host = hosts[zlib.crc32(workspace_id.encode()) % len(hosts)]  # spread over the pool
        target = {k: _fill(opts[k], values) for k in SSH_FIELDS if k in opts}
        target["host"] = host
        target.setdefault("user", owner)
        await log(f"using {target['user']}@{host}:{target.get('port', 22)}")
        result = Provisioned("ssh", target.pop("workdir", "~"), target)
    elif kind == "command":
        result = await _from_script(template, values, params, log)
    elif kind == "dial-out":
        target = {k: _fill(opts[k], values) for k in DIAL_OUT_FIELDS if k in opts}
        target.setdefault("user", owner)
        port = await join(template, workspace_id, dial_out, log, values)
        assert dial_out is not None  # join needs it
        # The port is for reading only: the workspace is always reached through the port
        # of its current tunnel (see DialOutWorkspace).
        target.update(host=dial_out.host_of(workspace_id), port=port)
        target[DIAL_OUT_MARK] = workspace_id
        result = Provisioned("ssh", target.pop("workdir", "~"), target)
    else:
        raise ProvisionError(
            f"The {kind} provisioner of template {template.name} cannot be "
            "used here yet; pick another template."
        )
    init = [_fill(c, values, quote=True) for c in opts.get("init", [])]
    if init:
        try:
            await run_init(result, init, log, dial_out)
        except BaseException:
            if kind == "dial-out" and dial_out is not None:
                dial_out.disconnect(workspace_id)  # a failed workspace keeps no tunnel
            raise
    return result


async def join(
    template: Template,
    workspace_id: str,
    dial_out: DialOutServer | None,
    log: Log,
    values: Mapping[str, Any] | None = None,
) -> int:
    """Wait for a dial-out workspace to connect with a new one-time token; its tunnel port.

    The build log shows the command to run on the workspace (and the known_hosts line it
    needs to trust the control plane). A workspace already connected is left as it is.
    """
    from .dialout import NO_ENDPOINT

    if dial_out is None:
        raise ProvisionError(NO_ENDPOINT)
    port = dial_out.port_of(workspace_id)
    if port is not None:
        await log(f"the workspace is connected (its sshd is reached through port {port})")
        return port
    opts = template.provisioner.options
    values = values or {}
    timeout = float(opts.get("join_timeout", JOIN_TIMEOUT))
    identity = str(_fill(opts.get("workspace_key", "~/.ssh/id_ed25519"), values))
    known = str(_fill(opts.get("workspace_known_hosts", "~/.ssh/coder_agents_known_hosts"), values))
    token = dial_out.new_join(workspace_id, ttl=timeout)
    command = dial_out.join_command(
        token,
        identity_file=identity,
        known_hosts_file=known,
        sshd_port=int(opts.get("workspace_sshd_port", 22)),
    )
    await log(
        f"Waiting up to {timeout:g} s for the workspace to connect. On the workspace, with "
        f"this line in {known}:"
    )
    await log(dial_out.known_hosts_line())
    await log("run this command once (it keeps the connection open; the token is single-use):")
    await log(command)
    try:
        port = await dial_out.wait_for(workspace_id, timeout)
    except TimeoutError:
        dial_out.cancel_join(token)
        raise ProvisionError(
            f"The workspace did not connect within {timeout:g} s: run the join command on it "
            "(check it can reach the control plane and its key is authorised), then try again."
        ) from None
    await log(f"the workspace connected; its sshd is reached through port {port}")
    return port


async def _from_script(
    template: Template, values: Mapping[str, Any], params: Mapping[str, Any], log: Log
) -> Provisioned:
    out = await run_script(template, "create", values, params, log)
    try:
        data = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise ProvisionError(
            "The provisioning script did not print its result as JSON on its last line."
        ) from None
    if not isinstance(data, dict) or not ({"host", "path"} & set(data)):
        raise ProvisionError("The provisioning script's JSON names neither host nor path.")
    if "host" in data:
        target = {k: data[k] for k in SSH_FIELDS if k in data}
        return Provisioned("ssh", target.pop("workdir", "~"), target)
    return Provisioned("local", str(data["path"]))


async def run_script(
    template: Template, verb: str, values: Mapping[str, Any], params: Mapping[str, Any], log: Log
) -> str:
    """Run the admin's script: ``<command> <verb> --workspace-id ID --owner NAME [--param k=v]``;
    stdout is the result, stderr goes to the build log."""
    argv = [str(a) for a in _fill(list(template.provisioner.options["command"]), values)]
    argv += [
        verb,
        "--workspace-id",
        str(values["workspace_id"]),
        "--owner",
        str(values["username"]),
    ]
    for key, value in params.items():
        argv += ["--param", f"{key}={value}"]
    await log(f"$ {shlex.join(argv)}")
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=INIT_TIMEOUT)
    except TimeoutError:
        proc.kill()
        raise ProvisionError(f"The provisioning script did not finish {verb} in time.") from None
    for line in err.decode(errors="replace").splitlines():
        await log(line)
    if proc.returncode != 0:
        raise ProvisionError(
            f"The provisioning script failed to {verb} the workspace (exit code {proc.returncode})."
        )
    return out.decode(errors="replace")


async def run_init(
    result: Provisioned, commands: list[str], log: Log, dial_out: DialOutServer | None = None
) -> None:
    ws = open_workspace(result.kind, result.path, result.config, dial_out=dial_out)
    try:
        for command in commands:
            await log(f"$ {command}")
            pid = await ws.start_process(command)
            info = await ws.wait(pid, timeout=INIT_TIMEOUT)
            for line in info.output.splitlines():
                await log(line)
            if info.running:
                await ws.signal(pid, "kill")
                raise ProvisionError(f"The init command {command!r} did not finish in time.")
            if info.exit_code != 0:
                raise ProvisionError(
                    f"The init command {command!r} failed (exit code {info.exit_code})."
                )
    finally:
        await ws.aclose()
