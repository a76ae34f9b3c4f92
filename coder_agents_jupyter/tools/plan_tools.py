"""Plan mode: the plan file, the guard that confines writes to it, and the two tools that end
a planning turn by handing it to the user (``propose_plan``, ``ask_user_question``)."""

from __future__ import annotations

import posixpath
from typing import Any

from pydantic import BaseModel, Field

from ..errors import ToolError
from ..workspaces.base import Workspace
from .base import Tool, ToolContext, ToolResult

PLAN_DIR = ".coder-agents/plans"
MAX_PLAN_BYTES = 32 * 1024
READ_ONLY_IN_PLAN = frozenset(
    {
        "process_list",
        "process_signal",
        "attach_file",
        "edit_notebook",
        "run_notebook",
        "run_in_kernel",
    }
)
"""Tools hidden in plan mode (besides the writes, which are confined to the plan file)."""
WRITE_TOOLS = frozenset({"write_file", "edit_files"})
ENDS_TURN = frozenset({"propose_plan", "ask_user_question"})


def plan_path(chat_id: str) -> str:
    """The chat's own plan file, relative to the workspace root."""
    return f"{PLAN_DIR}/PLAN-{chat_id}.md"


def written_paths(name: str, args: dict[str, Any]) -> list[str]:
    if name == "write_file":
        return [str(args.get("path", ""))]
    if name == "edit_files":
        edits = args.get("edits")
        edits = [edits] if isinstance(edits, dict) else edits if isinstance(edits, list) else []
        return [str(e.get("path", "")) for e in edits if isinstance(e, dict)]
    return []


async def check_plan_write(ws: Workspace, chat_id: str, paths: list[str]) -> str | None:
    """Why a plan-mode write is refused, or None when every path is the chat's plan file and
    no folder on the way to it is a symlink (so it cannot be redirected elsewhere)."""
    allowed = ws.resolve(plan_path(chat_id))
    for path in paths:
        if ws.resolve(path) != allowed:
            return (
                f"In plan mode you may only write your plan file {plan_path(chat_id)}; "
                f"{path} was not changed. Propose the plan with propose_plan first."
            )
    parent, parts = ws.root, plan_path(chat_id).split("/")
    for part in parts:
        entries = {e.name: e for e in await ws.list_dir(parent)} if await ws.stat(parent) else {}
        entry = entries.get(part)
        if entry is None:
            break
        if entry.is_symlink:
            return f"{posixpath.join(parent, part)} is a symlink; the plan file cannot be written."
        parent = posixpath.join(parent, part)
    return None


class ProposePlanArgs(BaseModel):
    path: str = Field(description="Your plan file (Markdown).")


class ProposePlan(Tool):
    name = "propose_plan"
    description = (
        "Hand your plan (the Markdown file you wrote at your plan file path) to the user for "
        "approval. The turn ends here: the user approves it (you then implement it) or asks "
        "for changes."
    )
    Args = ProposePlanArgs

    async def run(self, ctx: ToolContext, args: ProposePlanArgs) -> ToolResult:
        ws = await ctx.workspace()
        expected = plan_path(ctx.chat_id)
        if ws.resolve(args.path) != ws.resolve(expected):
            raise ToolError(f"The plan must be in your plan file {expected}.")
        stat = await ws.stat(expected)
        if stat is None or stat.size == 0:
            raise ToolError(f"Write the plan to {expected} first, then call propose_plan.")
        if stat.size > MAX_PLAN_BYTES:
            raise ToolError(f"The plan is {stat.size} bytes; keep it under {MAX_PLAN_BYTES}.")
        plan = (await ws.read_bytes(expected)).decode("utf-8", errors="replace")
        return ToolResult(
            content="The plan was sent to the user. Stop here and wait for their decision.",
            display={"plan": plan, "path": expected},
        )


class Option(BaseModel):
    label: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=1000)


class Question(BaseModel):
    header: str = Field(min_length=1, max_length=60)
    question: str = Field(min_length=1, max_length=2000)
    options: list[Option] = Field(min_length=2, max_length=6)


class AskUserQuestionArgs(BaseModel):
    questions: list[Question] = Field(min_length=1, max_length=4)


class AskUserQuestion(Tool):
    name = "ask_user_question"
    description = (
        "Ask the user one to four multiple-choice questions when a choice is genuinely "
        "theirs to make (they may also answer in their own words). The turn ends here."
    )
    Args = AskUserQuestionArgs

    async def run(self, ctx: ToolContext, args: AskUserQuestionArgs) -> ToolResult:
        questions = [q.model_dump() for q in args.questions]
        return ToolResult(
            content="The questions were sent to the user. Stop here and wait for the answers.",
            display={"questions": questions},
        )


def plan_tools() -> list[Tool]:
    return [ProposePlan(), AskUserQuestion()]
