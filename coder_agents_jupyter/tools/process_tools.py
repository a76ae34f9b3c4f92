"""Process tools of the workspace: execute, process_output, process_list, process_signal.

Commands run through ``Workspace.start_process`` and are tracked by the workspace, so a command
that outlives its timeout keeps running and stays reachable by id. Stopping a turn (cancelling
the tool call) stops its foreground command.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import signal as signals
import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field

from ..errors import ToolError, WorkspaceError
from ..workspaces.base import Workspace
from ..workspaces.processes import ProcessInfo
from .base import Tool, ToolContext, ToolResult

log = logging.getLogger(__name__)

MAX_TIMEOUT_S = 3600
STOP_GRACE_S = 3.0  # after SIGTERM on Stop, SIGKILL if still running this much later


def _normalize_process_id(value: Any) -> Any:
    # Models drop the prefix ("3") or send a number (3): both mean "p3".
    if isinstance(value, int) and not isinstance(value, bool):
        return f"p{value}"
    if isinstance(value, str) and value.strip().isdigit():
        return f"p{value.strip()}"
    return value.strip() if isinstance(value, str) else value


ProcessId = Annotated[
    str,
    BeforeValidator(_normalize_process_id),
    Field(description="Id of a tracked process, as returned by execute (e.g. 'p3')."),
]

_TRAILING_AMPERSAND = re.compile(r"(?<![&|\\])&\s*$")


def _exit_description(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"{code} (killed by {signals.Signals(-code).name})"
    return str(code)


def _output_block(info: ProcessInfo) -> str:
    text = info.output if info.output else "(no output)"
    if info.truncated:
        text += (
            f"\n[Output truncated: {info.omitted_bytes} of {info.output_bytes} bytes omitted "
            "from the middle. To see all of it, redirect the output to a file and read or "
            "grep that file.]"
        )
    return text


def _process_display(info: ProcessInfo) -> dict[str, Any]:
    return {
        "command": info.command,
        "exit_code": info.exit_code,
        "output": info.output,
        "process_id": info.id,
        "duration_ms": round(info.duration_s * 1000),
        "running": info.running,
    }


_background_tasks: set[asyncio.Task[None]] = set()


async def _kill_if_still_running(ws: Workspace, process_id: str) -> None:
    try:
        info = await ws.wait(process_id, STOP_GRACE_S)
        if info.running:
            await ws.signal(process_id, "kill")
    except Exception:  # the workspace may be gone by now; nothing left to do
        log.debug("could not escalate stop of process %s", process_id, exc_info=True)


class ExecuteArgs(BaseModel):
    command: str = Field(min_length=1, description="Shell command, run with `sh -c`.")
    workdir: str | None = Field(
        None, description="Working directory (default: the workspace root)."
    )
    timeout_seconds: float = Field(
        60,
        gt=0,
        le=MAX_TIMEOUT_S,
        description="How long to wait for the command to finish. It is not killed at the "
        "timeout: it keeps running as a tracked process.",
    )
    run_in_background: bool = Field(
        False,
        description="Start it and return at once with its process id (for servers, "
        "watchers and other long-running commands).",
    )


class Execute(Tool):
    name = "execute"
    description = (
        "Run a shell command (`sh -c`) in the workspace, non-interactively: stdin is empty, "
        "editors/pagers/prompts are disabled. Waits up to timeout_seconds and returns the exit "
        "code and output (stdout and stderr merged; long output keeps its start and end). If "
        "the command is still running at the timeout it is NOT killed: it continues as a "
        "tracked process; use process_output to wait for it and process_signal to stop it. "
        "Set run_in_background (or end the command with `&`) for servers and watchers. "
        "Prefer read_file/edit_files/write_file over cat/sed/echo for files."
    )
    Args = ExecuteArgs

    async def run(self, ctx: ToolContext, args: ExecuteArgs) -> ToolResult:
        ws = await ctx.workspace()
        command = args.command.strip()
        background = args.run_in_background
        trailing = _TRAILING_AMPERSAND.search(command)
        if trailing:  # "server &" would leave an untracked orphan; track it instead
            command = command[: trailing.start()].rstrip()
            background = True
        if not command:
            raise ToolError("command is empty; give a shell command to run.")
        workdir = None
        if args.workdir:
            workdir = ws.resolve(args.workdir)
            st = await ws.stat(workdir)
            if st is None or not st.is_dir:
                raise ToolError(
                    f"workdir {workdir} does not exist or is not a directory. Create it first "
                    "(e.g. `mkdir -p`) or leave workdir out to run in the workspace root."
                )
        process_id = await ws.start_process(command, workdir=workdir, background=background)
        if background:
            info = await ws.wait(process_id, 0)
            note = " (the trailing `&` was dropped: it is tracked instead)" if trailing else ""
            return ToolResult(
                content=f"Started in the background as process {process_id}{note}. Use "
                f'process_output with process_id="{process_id}" to read its output or wait '
                "for it, and process_signal to stop it.",
                display=_process_display(info),
            )
        try:
            info = await ws.wait(process_id, args.timeout_seconds)
        except asyncio.CancelledError:
            # The user pressed Stop: a foreground command must not outlive its turn.
            with contextlib.suppress(WorkspaceError):
                await asyncio.shield(ws.signal(process_id, "terminate"))
            task = asyncio.create_task(_kill_if_still_running(ws, process_id))
            _background_tasks.add(task)
            task.add_done_callback(_background_tasks.discard)
            raise
        if info.running:
            content = (
                f"The command is still running after {args.timeout_seconds:g} s; it continues "
                f'as process {info.id}. Use process_output with process_id="{info.id}" and '
                "wait_seconds to wait for it and get the rest of its output, or process_signal "
                f"to stop it.\nOutput so far:\n{_output_block(info)}"
            )
        else:
            content = (
                f"Exit code: {_exit_description(info.exit_code)}\n"
                f"Wall time: {info.duration_s:.2f} s\n"
                f"Output:\n{_output_block(info)}"
            )
        return ToolResult(content=content, display=_process_display(info))


class ProcessOutputArgs(BaseModel):
    process_id: ProcessId
    wait_seconds: float = Field(
        0,
        ge=0,
        le=MAX_TIMEOUT_S,
        description="Wait up to this long for the process to exit first (0: return at once).",
    )


class ProcessOutput(Tool):
    name = "process_output"
    description = (
        "Get the status and output of a process started by execute (output keeps its start "
        "and end when long). With wait_seconds, first wait up to that long for it to exit."
    )
    Args = ProcessOutputArgs

    async def run(self, ctx: ToolContext, args: ProcessOutputArgs) -> ToolResult:
        ws = await ctx.workspace()
        info = await ws.wait(args.process_id, args.wait_seconds)
        if info.running:
            status = f"still running after {info.duration_s:.1f} s"
            hint = (
                "\n[The process is still running; call process_output again with "
                "wait_seconds to wait for it, or process_signal to stop it.]"
            )
        else:
            status = (
                f"exited with code {_exit_description(info.exit_code)} after "
                f"{info.duration_s:.2f} s"
            )
            hint = ""
        content = (
            f"Process {info.id} ({info.command}): {status}.\nOutput:\n{_output_block(info)}{hint}"
        )
        return ToolResult(content=content, display=_process_display(info))


class ProcessListArgs(BaseModel):
    pass


class ProcessList(Tool):
    name = "process_list"
    description = (
        "List the processes started by execute in this workspace: id, status, exit code, "
        "start time and command."
    )
    Args = ProcessListArgs

    async def run(self, ctx: ToolContext, args: ProcessListArgs) -> ToolResult:
        ws = await ctx.workspace()
        processes = await ws.list_processes()
        if not processes:
            return ToolResult(content="No processes have been started in this workspace.")
        rows = []
        for p in processes:
            if p.running:
                status = f"running for {p.duration_s:.0f} s"
            elif p.lost is not None:  # its connection dropped: state unknown
                status = f"lost with its connection after {p.duration_s:.1f} s (may still run)"
            else:
                status = f"exited {_exit_description(p.exit_code)} after {p.duration_s:.1f} s"
            started = time.strftime("%H:%M:%S", time.localtime(p.started_at))
            command = p.command if len(p.command) <= 120 else p.command[:117] + "..."
            where = "" if p.workdir == ws.root else f" (in {p.workdir})"
            kind = " [background]" if p.background else ""
            rows.append(f"{p.id}: {status}, started {started}{kind}{where}: {command}")
        return ToolResult(
            content="\n".join(rows),
            display={
                "processes": [
                    {k: v for k, v in _process_display(p).items() if k != "output"}
                    for p in processes
                ]
            },
        )


def _signal_alias(value: Any) -> Any:
    aliases = {
        "sigterm": "terminate", "term": "terminate", "15": "terminate",
        "sigkill": "kill", "9": "kill",
    }  # fmt: skip
    if isinstance(value, int | str) and not isinstance(value, bool):
        text = str(value).strip().lower()
        return aliases.get(text, text)
    return value


class ProcessSignalArgs(BaseModel):
    process_id: ProcessId
    signal: Annotated[
        Literal["terminate", "kill"],
        BeforeValidator(_signal_alias),
        Field(description='"terminate" (SIGTERM, lets it clean up) or "kill" (SIGKILL).'),
    ]


class ProcessSignal(Tool):
    name = "process_signal"
    description = (
        'Stop a process started by execute, with everything it started: signal "terminate" '
        '(SIGTERM) asks it to exit; "kill" (SIGKILL) forces it.'
    )
    Args = ProcessSignalArgs

    async def run(self, ctx: ToolContext, args: ProcessSignalArgs) -> ToolResult:
        ws = await ctx.workspace()
        before = await ws.wait(args.process_id, 0)
        if not before.running:
            return ToolResult(
                content=f"Process {before.id} already exited with code "
                f"{_exit_description(before.exit_code)}; nothing to signal.",
                display=_process_display(before),
            )
        await ws.signal(args.process_id, args.signal)
        info = await ws.wait(args.process_id, 2.0)
        name = "SIGTERM" if args.signal == "terminate" else "SIGKILL"
        if info.running:
            outcome = (
                'It is still running; wait with process_output, or send signal "kill" to force it.'
            )
        else:
            outcome = f"It exited with code {_exit_description(info.exit_code)}."
        return ToolResult(
            content=f"Sent {name} to process {info.id} ({info.command}). {outcome}",
            display=_process_display(info),
        )
