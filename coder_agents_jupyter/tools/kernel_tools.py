"""The user's live kernel: tools the user's own client runs, never the workspace.

A chat whose user consented (``chats.kernel = {"notebook": path}``) and whose admin allows it
(``c.CoderAgents.kernel_tools``) is offered ``inspect_kernel`` and ``run_in_kernel``. The loop
does not run them: it hands each call to the user's client (the JupyterLab page that has the
notebook open) and waits for ``POST chats/{id}/tool-results``. These classes only describe the
tools (name, arguments) to the model.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from .base import Tool, ToolContext, ToolResult

MAX_CODE_CHARS = 100_000
DEFAULT_TIMEOUT = 30.0
MAX_TIMEOUT = 600.0


class _ClientTool(Tool):
    async def run(self, ctx: ToolContext, args: Any) -> ToolResult:
        # The loop hands these calls to the user's client; reaching here is a routing bug.
        return ToolResult(
            content=f"{self.name} runs in the user's notebook, not in the workspace.",
            is_error=True,
        )


class InspectKernelArgs(BaseModel):
    names: list[str] | None = Field(
        default=None,
        max_length=50,
        description="Variables (or expressions such as df.dtypes) to describe. Omit to list "
        "the public variables of the kernel's namespace.",
    )


class InspectKernel(_ClientTool):
    name = "inspect_kernel"
    description = (
        "Describe variables of the user's LIVE Jupyter kernel of the notebook they shared with "
        "you (named in the system prompt): for each, its type and a short repr, with shape and "
        "dtypes for pandas and numpy objects. Without names, lists the user's public variables. "
        "Read-only: prefer this over run_in_kernel to learn about the user's data."
    )
    Args = InspectKernelArgs


class RunInKernelArgs(BaseModel):
    code: str = Field(
        min_length=1,
        max_length=MAX_CODE_CHARS,
        description="Python code to run in the user's live kernel.",
    )
    timeout_seconds: float = Field(
        default=DEFAULT_TIMEOUT,
        gt=0,
        le=MAX_TIMEOUT,
        description=f"Stop waiting after this many seconds (default {DEFAULT_TIMEOUT:g}, at "
        f"most {MAX_TIMEOUT:g}); the code may keep running in the kernel.",
    )


class RunInKernel(_ClientTool):
    name = "run_in_kernel"
    description = (
        "Run Python code in the user's LIVE Jupyter kernel of the notebook they shared with "
        "you (named in the system prompt), with everything they already computed in it. "
        "Returns printed output, the last expression's value and any error. It changes the "
        "user's session: prefer inspect_kernel to look at data, keep code small and "
        "side-effect free, and never run destructive code (deleting files or variables, "
        "overwriting the user's data, long computations) unless the user asked for it. "
        "Put files and lasting changes in the workspace instead."
    )
    Args = RunInKernelArgs


KERNEL_TOOLS: list[Tool] = [InspectKernel(), RunInKernel()]
CLIENT_TOOLS = frozenset(t.name for t in KERNEL_TOOLS)
"""Tools the user's client runs; the loop waits for their results."""


def kernel_block(notebook: str, tools: list[str]) -> str:
    """The system prompt's word on the user's kernel, when the chat may use it."""
    return (
        f"The user lets you use the live Jupyter kernel of their open notebook {notebook} "
        f"through {' and '.join(tools)}. It is their working session, not your workspace: "
        "inspect before you run, and never run code that could destroy their work."
    )
