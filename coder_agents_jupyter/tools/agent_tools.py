"""Orchestration tools (root chats only): sub-agents are child chats that run in parallel
through the same worker and share the parent's workspace. What the tools may do is the
chat's ``Orchestrator`` (``agent/subagents.py``); these classes only talk to the model."""

from __future__ import annotations

import json
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field

from ..errors import ToolError
from .base import Tool, ToolContext, ToolResult

AGENT_TOOLS = frozenset({"spawn_agent", "wait_agent", "message_agent", "close_agent"})


class Orchestrator(Protocol):
    async def spawn(
        self, kind: str, prompt: str, title: str | None, model: str | None
    ) -> dict[str, Any]: ...

    async def wait(self, chat_ids: list[str], timeout: float, mode: str) -> dict[str, Any]: ...

    async def message(self, chat_id: str, message: str, interrupt: bool) -> dict[str, Any]: ...

    async def close(self, chat_id: str) -> dict[str, Any]: ...


def _agents(ctx: ToolContext) -> Orchestrator:
    agents = ctx.extra.get("agents")
    if agents is None:
        raise ToolError("Sub-agents cannot start other agents; report back to your parent.")
    return agents  # type: ignore[no-any-return]


def _json(data: Any) -> str:
    return json.dumps(data, indent=1)


class SpawnArgs(BaseModel):
    type: Literal["general", "explore"] = Field(
        description="general: can change files; explore: read-only investigation."
    )
    prompt: str = Field(min_length=1, description="The task, with everything the agent needs.")
    title: str | None = Field(default=None, max_length=80)
    model: str | None = None


class SpawnAgent(Tool):
    name = "spawn_agent"
    description = (
        "Start a sub-agent on a self-contained task; it runs in parallel in this chat's "
        "workspace and reports back. Use explore for read-only research. Parallel general "
        "agents must not edit the same files. Collect results with wait_agent."
    )
    Args = SpawnArgs

    async def run(self, ctx: ToolContext, args: SpawnArgs) -> ToolResult:
        info = await _agents(ctx).spawn(args.type, args.prompt, args.title, args.model)
        return ToolResult(content=_json(info), display={"agent": info})


class WaitArgs(BaseModel):
    chat_ids: list[str] = Field(min_length=1, max_length=50)
    timeout_seconds: float = Field(default=300, gt=0, le=3600)
    mode: Literal["all", "first"] = Field(
        default="all", description="Return when all agents finished, or the first one."
    )


class WaitAgent(Tool):
    name = "wait_agent"
    description = (
        "Wait until sub-agents finish (all of them, or the first) and return their reports. "
        "Says which finished and which still run when the timeout passes."
    )
    Args = WaitArgs

    async def run(self, ctx: ToolContext, args: WaitArgs) -> ToolResult:
        result = await _agents(ctx).wait(args.chat_ids, args.timeout_seconds, args.mode)
        return ToolResult(content=_json(result), display={"agents": result})


class MessageArgs(BaseModel):
    chat_id: str
    message: str = Field(min_length=1)
    interrupt: bool = False


class MessageAgent(Tool):
    name = "message_agent"
    description = (
        "Send a sub-agent a follow-up (queued behind its current work, or interrupting it). "
        "A finished agent starts working again; collect the answer with wait_agent."
    )
    Args = MessageArgs

    async def run(self, ctx: ToolContext, args: MessageArgs) -> ToolResult:
        info = await _agents(ctx).message(args.chat_id, args.message, args.interrupt)
        return ToolResult(content=_json(info))


class CloseArgs(BaseModel):
    chat_id: str


class CloseAgent(Tool):
    name = "close_agent"
    description = "Stop a sub-agent for good (its history and report stay)."
    Args = CloseArgs

    async def run(self, ctx: ToolContext, args: CloseArgs) -> ToolResult:
        return ToolResult(content=_json(await _agents(ctx).close(args.chat_id)))


def agent_tools() -> list[Tool]:
    return [SpawnAgent(), WaitAgent(), MessageAgent(), CloseAgent()]
