"""Request and response bodies of the REST API. The same models validate requests and
generate ``openapi.json``, so the document cannot drift from the code."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..llm.types import ContentBlock


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ----- requests -----


Effort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]


class CreateChat(_Body):
    prompt: str = Field(max_length=1_000_000)
    model: str | None = None
    workspace_id: str | None = None
    plan_mode: bool = False
    reasoning_effort: Effort | None = None
    attachments: list[str] = Field(default_factory=list, max_length=20)


class KernelConsent(_Body):
    notebook: str = Field(min_length=1, max_length=4096)
    """The path (as JupyterLab names it) of the open notebook whose live kernel the agent
    may inspect and run code in."""


class UpdateChat(_Body):
    title: str | None = Field(default=None, max_length=200)
    model: str | None = None
    workspace_id: str | None = None
    """Point the chat at another of your workspaces (e.g. after its own was deleted)."""
    tool_policy: dict[str, Literal["auto", "ask", "deny"]] | None = None
    """Tighten the admin's tool policy for this chat (looser choices have no effect)."""
    plan_mode: bool | None = None
    reasoning_effort: Effort | None = None
    kernel: KernelConsent | None = None
    """Let the agent use the live kernel of this notebook (``inspect_kernel``,
    ``run_in_kernel``, run by your browser); null takes the consent back."""


class SendMessage(_Body):
    content: str = Field(max_length=1_000_000)
    reasoning_effort: Effort | None = None
    plan_mode: bool | None = None
    attachments: list[str] = Field(default_factory=list, max_length=20)


class EditQueued(_Body):
    content: str = Field(min_length=1, max_length=1_000_000)


class PlanDecision(_Body):
    decision: Literal["approve", "revise"]
    feedback: str | None = Field(default=None, max_length=100_000)


class Answers(_Body):
    question_id: str
    answers: list[str] = Field(min_length=1, max_length=4)
    """One answer per question, in order: an option's label or the user's own words."""


class ApprovalDecision(_Body):
    tool_call_id: str
    decision: Literal["allow_once", "allow_chat", "reject"]
    reason: str | None = Field(default=None, max_length=10_000)


class ClientToolResult(_Body):
    tool_call_id: str = Field(min_length=1, max_length=200)
    content: str = Field(max_length=1_000_000)
    """What the tool produced, as the model should read it."""
    is_error: bool = False


class Fork(_Body):
    message_id: int


class CreateWorkspace(_Body):
    name: str | None = Field(default=None, max_length=200)
    path: str | None = None
    """Admins only: an existing folder on the server."""
    template: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)


# ----- responses -----


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail


class ModelInfo(BaseModel):
    id: str
    provider: str
    display_name: str
    context_window: int
    supports_images: bool
    default: bool
    reasoning_efforts: list[Effort]
    default_reasoning_effort: Effort | None
    prices: dict[str, float] | None
    """US dollars per million input / output / cache_read / cache_write tokens."""
    web_search: bool
    """The provider's own web search is on for this model."""


class ProviderInfo(BaseModel):
    name: str
    type: str
    available: bool
    reason: str | None


class Providers(BaseModel):
    providers: list[ProviderInfo]
    hint: str | None


class ChatSummary(BaseModel):
    id: str
    title: str
    status: Literal[
        "pending", "running", "waiting", "requires_action", "paused", "error", "completed"
    ]
    model: str
    owner: str
    parent_id: str | None
    root_id: str | None
    agent_type: Literal["general", "explore"] | None
    forked_from: str | None
    workspace_id: str | None
    plan_mode: bool
    reasoning_effort: Effort | None
    awaiting: dict[str, Any] | None
    """What the chat waits for from its user: a plan decision, answers, approvals or the
    results of tools their client runs (``kind: client_tool``)."""
    tool_policy: dict[str, Any] | None
    kernel: KernelConsent | None
    """The notebook whose live kernel the agent may use, when its user allowed it."""
    archived: bool
    error: dict[str, Any] | None
    usage: dict[str, int]
    message_count: int
    created_at: str
    updated_at: str


class ChatDetail(ChatSummary):
    children: list[ChatSummary]
    tree_usage: dict[str, int]
    """Usage of the whole tree: the root chat and every sub-agent below it."""


class MessageOut(BaseModel):
    id: int
    seq: int
    role: Literal["user", "assistant", "tool"]
    content: list[ContentBlock]
    usage: dict[str, int] | None
    model: str | None
    is_summary: bool
    created_at: str


class QueuedOut(BaseModel):
    id: int
    content: list[ContentBlock]
    created_at: str


class AttachmentOut(BaseModel):
    id: str
    name: str
    media_type: str
    size: int


class WorkspaceOut(BaseModel):
    id: str
    name: str
    kind: str
    path: str
    status: Literal["provisioning", "ready", "failed", "stopped", "deleted"]
    template: str | None
    parameters: dict[str, Any] | None
    build_log: str
    created_at: str


class TemplateParameter(BaseModel):
    name: str
    type: Literal["string", "number", "bool"]
    default: str | float | bool | None = None
    description: str = ""
    options: list[str | float] = []


class TemplateOut(BaseModel):
    name: str
    description: str
    provisioner: str
    parameters: list[TemplateParameter]
