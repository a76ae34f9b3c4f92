"""Provisioning workspaces from templates, and opening a workspace from its record.

``provision`` turns a template and its parameters into a reachable workspace: a new local
folder, a host (or one of a pool) over SSH, or whatever an admin's ``command`` script builds
(it prints the SSH connection as JSON). Init commands then run in the new workspace through
the same ``Workspace`` interface the tools use, and everything is written to the build log.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import zlib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import WorkspaceError
from ..templates import Template
from .base import Workspace
from .local import LocalWorkspace

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
) -> Workspace:
    """A workspace object for a record: nothing is connected until a tool needs it."""
    if kind == "local":
        return LocalWorkspace(path, env_remove=env_remove, env_extra=env_extra)
    if kind == "ssh":
        from .ssh import SSHTarget, SSHWorkspace

        return SSHWorkspace(
            SSHTarget(**{"workdir": path, **config}), env_remove=env_remove, env_extra=env_extra
        )
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
        await log(f"using {target.get('user', owner)}@{host}:{target.get('port', 22)}")
        result = Provisioned("ssh", target.pop("workdir", "~"), target)
    elif kind == "command":
        result = await _from_script(template, values, params, log)
    else:
        raise ProvisionError(
            f"The {kind} provisioner of template {template.name} cannot be "
            "used here yet; pick another template."
        )
    init = [_fill(c, values, quote=True) for c in opts.get("init", [])]
    if init:
        await run_init(result, init, log)
    return result


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


async def run_init(result: Provisioned, commands: list[str], log: Log) -> None:
    ws = open_workspace(result.kind, result.path, result.config)
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
