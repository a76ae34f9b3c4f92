"""Typed views of what the server answers: chats, messages, models, workspaces, templates.

Unknown fields are kept (``extra="allow"``), so a newer server's additions stay reachable as
attributes and an older client does not break on them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

TERMINAL_STATUSES = frozenset({"waiting", "error", "paused", "completed", "requires_action"})
"""Statuses in which a chat does nothing until someone acts: ``wait()`` returns on them."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class Usage(_Model):
    """Summed token usage; ``cost`` in US dollars (0 when the admin set no prices)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    cost_micros: int | None = None

    @property
    def total_tokens(self) -> int:
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_read_tokens
            + self.cache_write_tokens
        )

    @property
    def cost(self) -> float | None:
        return None if self.cost_micros is None else self.cost_micros / 1_000_000

    def as_dict(self) -> dict[str, int]:
        return {k: v for k, v in self.model_dump().items() if isinstance(v, int)}


class Model(_Model):
    id: str
    provider: str
    display_name: str = ""
    context_window: int = 0
    supports_images: bool = False
    default: bool = False
    reasoning_efforts: list[str] = Field(default_factory=list)
    default_reasoning_effort: str | None = None
    prices: dict[str, float] | None = None
    web_search: bool = False


class Workspace(_Model):
    id: str
    name: str
    kind: str
    path: str
    status: str
    template: str | None = None
    parameters: dict[str, Any] | None = None
    build_log: str = ""
    created_at: datetime | None = None


class TemplateParameter(_Model):
    name: str
    type: str = "string"
    default: str | float | bool | None = None
    description: str = ""
    options: list[str | float] = Field(default_factory=list)


class Template(_Model):
    name: str
    description: str = ""
    provisioner: str = ""
    parameters: list[TemplateParameter] = Field(default_factory=list)


class ChatInfo(_Model):
    """A chat as ``GET chats/{id}`` describes it (``children`` only on that endpoint)."""

    id: str
    title: str = ""
    status: str
    model: str = ""
    owner: str = ""
    parent_id: str | None = None
    root_id: str | None = None
    agent_type: str | None = None
    forked_from: str | None = None
    workspace_id: str | None = None
    plan_mode: bool = False
    reasoning_effort: str | None = None
    awaiting: dict[str, Any] | None = None
    archived: bool = False
    error: dict[str, Any] | None = None
    usage: Usage = Field(default_factory=Usage)
    tree_usage: Usage | None = None
    message_count: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None
    children: list[ChatInfo] = Field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def error_message(self) -> str | None:
        if not self.error:
            return None
        return str(self.error.get("message") or self.error)


class Message(_Model):
    id: int
    seq: int
    role: str
    content: list[dict[str, Any]] = Field(default_factory=list)
    usage: dict[str, int] | None = None
    model: str | None = None
    is_summary: bool = False
    created_at: datetime | None = None

    @property
    def text(self) -> str:
        """The message's text blocks, joined."""
        return "".join(str(b.get("text", "")) for b in self.content if b.get("type") == "text")

    @property
    def tool_calls(self) -> list[dict[str, Any]]:
        return [b for b in self.content if b.get("type") == "tool_call"]

    @property
    def tool_results(self) -> list[dict[str, Any]]:
        return [b for b in self.content if b.get("type") == "tool_result"]


class FileDiff(_Model):
    path: str
    workspace_id: str | None = None
    status: str = "modified"
    diff: str = ""
    binary: bool = False
    additions: int = 0
    deletions: int = 0


class Diff(_Model):
    """Every file a chat changed (``GET chats/{id}/diff``); ``str(diff)`` is the unified diff."""

    files: list[FileDiff] = Field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(f.diff if f.diff.endswith("\n") else f.diff + "\n" for f in self.files)

    def __str__(self) -> str:
        return self.text

    def __bool__(self) -> bool:
        return bool(self.files)

    def _repr_markdown_(self) -> str:
        if not self.files:
            return "*No files changed.*"
        stats = ", ".join(f"`{f.path}` +{f.additions} -{f.deletions}" for f in self.files)
        return f"{stats}\n\n```diff\n{self.text}```"
