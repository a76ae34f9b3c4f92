"""What a tool is, what it may use, and how a call becomes a bounded, readable result.

A tool is a small class: ``name``, ``description``, a pydantic ``Args`` model (its JSON schema is
what the model sees) and ``run(ctx, args)``. ``invoke_tool`` is the only way the loop calls one:
it validates arguments, turns refusals and workspace failures into error results the model can
read, and bounds the result to the chat's budget. Only bugs escape as exceptions.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ValidationError

from ..errors import ToolError, WorkspaceError
from ..llm.types import ToolSpec

if TYPE_CHECKING:
    from ..workspaces.base import Workspace

log = logging.getLogger(__name__)

DEFAULT_RESULT_BUDGET = 64 * 1024


def result_budget(context_window: int) -> int:
    """Bytes one tool result may take: ~10% of the context window (4 bytes/token), 4-64 KiB."""
    return max(4 * 1024, min(64 * 1024, context_window * 4 // 10))


class ToolResult(BaseModel):
    content: str
    is_error: bool = False
    display: dict[str, Any] | None = None


async def _no_progress(_: str) -> None:
    return None


SaveAttachment = Callable[[str, str, bytes], Awaitable[str]]
"""(name, media_type, data) -> attachment id; stores a file the user can download."""

RecordChange = Callable[[str, bytes | int | None, bytes | None], Awaitable[None]]
"""(absolute path, before, after) of a file a tool just wrote, for change review.

``before`` is the old content, None if the file did not exist, or its size (an int) when it
existed but was too large to read; ``after`` is what was written (None: the file was removed).
"""


async def _no_record(_path: str, _before: bytes | int | None, _after: bytes | None) -> None:
    return None


@dataclass
class ToolContext:
    """What a running tool call may use. Built by the agent loop for each step."""

    chat_id: str
    owner: str
    get_workspace: Callable[[], Awaitable[Workspace]]
    save_attachment: SaveAttachment
    result_budget: int = DEFAULT_RESULT_BUDGET
    extra: dict[str, Any] = field(default_factory=dict)
    progress: Callable[[str], Awaitable[None]] = field(default=_no_progress)
    """Report progress of a long call (a build log line) to the people watching."""
    record_change: RecordChange = field(default=_no_record)
    """Record a file write (path, before, after) in the chat's change log; called by the file
    tools right after a successful write."""

    async def workspace(self) -> Workspace:
        """The chat's workspace, connected (a remote one connects on the first call needing it)."""
        ws = await self.get_workspace()
        await ws.connect()
        return ws


class Tool:
    """Base class of every tool. Subclasses set the class attributes and implement ``run``."""

    name: ClassVar[str]
    description: ClassVar[str]
    Args: ClassVar[type[BaseModel]]
    _spec: ClassVar[ToolSpec | None] = None

    async def run(self, ctx: ToolContext, args: Any) -> ToolResult:
        raise NotImplementedError

    @classmethod
    def spec(cls) -> ToolSpec:
        """What the model sees; built once per class (JSON schema generation is slow)."""
        cached = cls.__dict__.get("_spec")
        if cached is None:
            cached = cls._build_spec()
            cls._spec = cached
        return cached

    @classmethod
    def _build_spec(cls) -> ToolSpec:
        schema = cls.Args.model_json_schema()
        schema.pop("title", None)
        return ToolSpec(name=cls.name, description=cls.description, parameters=schema)


def list_from_json(value: Any, shape: str) -> Any:
    """Arguments some models send as a JSON string, or as one object instead of a list."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise ValueError(
                f"edits must be a list of {shape} objects; the string given is not valid JSON"
            ) from None
    return [value] if isinstance(value, dict) else value


def truncate_middle(text: str, budget: int, *, hint: str = "") -> str:
    """Keep the head (2/3) and tail (1/3) of ``text`` within ``budget`` bytes, saying so."""
    data = text.encode("utf-8", errors="replace")
    if len(data) <= budget:
        return text
    head_n = budget * 2 // 3
    tail_n = budget - head_n
    head = data[:head_n].decode("utf-8", errors="ignore")
    tail = data[len(data) - tail_n :].decode("utf-8", errors="ignore")
    omitted = len(data) - head_n - tail_n
    note = f"\n[... truncated {omitted} bytes of {len(data)} to fit the context"
    note += f"; {hint}" if hint else ""
    return f"{head}{note} ...]\n{tail}"


def _describe_validation_error(tool: str, exc: ValidationError) -> str:
    problems = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(arguments)"
        problems.append(f"{where}: {err['msg']}")
    return f"Invalid arguments for {tool}: " + "; ".join(problems)


def parse_args(tool: Tool, raw_input: Any) -> BaseModel | ToolResult:
    """A call's arguments validated by the tool's ``Args``, or the error result to give back."""
    if isinstance(raw_input, str):  # some models send the arguments as a JSON string
        try:
            raw_input = json.loads(raw_input)
        except json.JSONDecodeError:
            return ToolResult(
                content=f"Invalid arguments for {tool.name}: not a JSON object.", is_error=True
            )
    try:
        return tool.Args.model_validate(raw_input)
    except ValidationError as exc:
        return ToolResult(content=_describe_validation_error(tool.name, exc), is_error=True)


async def invoke_tool(
    tools: dict[str, Tool], name: str, raw_input: dict[str, Any], ctx: ToolContext
) -> ToolResult:
    """Run one tool call and always come back with a bounded ``ToolResult``."""
    tool = tools.get(name)
    if tool is None:
        available = ", ".join(sorted(tools)) or "none"
        return ToolResult(
            content=f"Tool not found: {name}. Available tools: {available}.", is_error=True
        )
    args = parse_args(tool, raw_input)
    if isinstance(args, ToolResult):
        return args
    try:
        result = await tool.run(ctx, args)
    except (ToolError, WorkspaceError) as exc:
        result = ToolResult(content=str(exc), is_error=True)
    except Exception:
        log.exception("tool %s failed unexpectedly in chat %s", name, ctx.chat_id)
        result = ToolResult(
            content=f"An internal error occurred while running {name}. "
            "The call may not have completed; check the state before retrying.",
            is_error=True,
        )
    result.content = truncate_middle(
        result.content, ctx.result_budget, hint="narrow the query or read a specific range"
    )
    return result
