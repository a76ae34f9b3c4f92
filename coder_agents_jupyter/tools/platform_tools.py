"""Platform tools (root chats only): find a workspace template, create a workspace from it,
start it. What they can do is the chat owner's ``Platform`` (``agent/platform.py``), which
applies template visibility and owns provisioning; these classes only talk to the model."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from pydantic import BaseModel, Field

from ..errors import ToolError
from ..templates import Template
from .base import Tool, ToolContext, ToolResult

Progress = Callable[[str], Awaitable[None]]


class Platform(Protocol):
    """What a chat's owner may do with workspaces, as the agent sees it."""

    async def templates(self, query: str | None) -> list[Template]: ...

    def template(self, name: str) -> Template: ...

    async def create_workspace(
        self, template: Template, name: str | None, parameters: dict[str, Any], progress: Progress
    ) -> dict[str, Any]: ...

    async def start_workspace(self, progress: Progress) -> dict[str, Any]: ...


def _platform(ctx: ToolContext) -> Platform:
    platform = ctx.extra.get("platform")
    if platform is None:
        raise ToolError("Workspace tools of the platform are not available in this chat.")
    return platform  # type: ignore[no-any-return]


def _json(data: Any) -> str:
    return json.dumps(data, indent=1, sort_keys=True)


class ListTemplatesArgs(BaseModel):
    query: str | None = Field(default=None, description="Words from the name or description.")


class ListTemplates(Tool):
    name = "list_templates"
    description = (
        "List the workspace templates you may use, best match first. Pick the template whose "
        "description fits the task, read it with read_template, then call create_workspace."
    )
    Args = ListTemplatesArgs

    async def run(self, ctx: ToolContext, args: ListTemplatesArgs) -> ToolResult:
        found = await _platform(ctx).templates(args.query)
        if not found and args.query:
            return ToolResult(
                content=f"No template matches {args.query!r}. Next step: call "
                "list_templates without a query to see them all."
            )
        if not found:
            return ToolResult(
                content="No workspace templates are available to you. Next "
                "step: tell the user an admin must add one.",
                is_error=True,
            )
        recommended = found[0].name if len(found) == 1 or args.query else None
        next_step = (
            f"call read_template with name {recommended!r}"
            if recommended
            else "ask the user which template fits, or pick by description"
        )
        return ToolResult(
            content=_json(
                {
                    "templates": [t.summary() for t in found],
                    "recommended": recommended,
                    "next_step": next_step,
                }
            )
        )


class ReadTemplateArgs(BaseModel):
    name: str


class ReadTemplate(Tool):
    name = "read_template"
    description = "Show a template's description and parameters (name, type, default, options)."
    Args = ReadTemplateArgs

    async def run(self, ctx: ToolContext, args: ReadTemplateArgs) -> ToolResult:
        return ToolResult(content=_json(_platform(ctx).template(args.name).detail()))


class CreateWorkspaceArgs(BaseModel):
    template: str
    name: str | None = Field(default=None, max_length=100)
    parameters: dict[str, Any] = Field(default_factory=dict)


class CreateWorkspace(Tool):
    name = "create_workspace"
    description = (
        "Create this chat's workspace from a template and wait until it is ready. Calling it "
        "again returns the existing workspace. On failure the build log tells you why."
    )
    Args = CreateWorkspaceArgs

    async def run(self, ctx: ToolContext, args: CreateWorkspaceArgs) -> ToolResult:
        platform = _platform(ctx)
        template = platform.template(args.template)
        info = await platform.create_workspace(template, args.name, args.parameters, ctx.progress)
        return ToolResult(content=_json(info), display={"workspace": info})


class StartWorkspaceArgs(BaseModel):
    pass


class StartWorkspace(Tool):
    name = "start_workspace"
    description = "Start this chat's workspace if it is stopped (does nothing if it runs)."
    Args = StartWorkspaceArgs

    async def run(self, ctx: ToolContext, args: StartWorkspaceArgs) -> ToolResult:
        info = await _platform(ctx).start_workspace(ctx.progress)
        return ToolResult(content=_json(info), display={"workspace": info})


def platform_tools() -> list[Tool]:
    return [ListTemplates(), ReadTemplate(), CreateWorkspace(), StartWorkspace()]
