"""Provider-neutral messages, tools and stream events.

These types are also the persisted and public shape of chat content (API.md "Content blocks"),
so every layer above speaks them and each wire-protocol module translates at its edge.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Block(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TextBlock(_Block):
    type: Literal["text"] = "text"
    text: str


class ImageBlock(_Block):
    """A user image. ``data`` (base64) is filled in only for the model request, never stored."""

    type: Literal["image"] = "image"
    attachment_id: str
    media_type: str | None = None
    data: str | None = Field(default=None, exclude=True)


class ReasoningBlock(_Block):
    """Model reasoning shown to users as its own block.

    ``signature`` (Anthropic thinking) and ``redacted_data`` (Anthropic redacted thinking) must
    be sent back verbatim with the assistant turn; ``provider_data`` holds other opaque items
    a provider needs back (e.g. OpenAI encrypted reasoning).
    """

    type: Literal["reasoning"] = "reasoning"
    text: str = ""
    signature: str | None = None
    redacted_data: str | None = None
    provider_data: dict[str, Any] | None = None
    duration_ms: int | None = None


class ToolCallBlock(_Block):
    type: Literal["tool_call"] = "tool_call"
    id: str
    name: str
    input: dict[str, Any] = Field(default_factory=dict)
    provider_data: dict[str, Any] | None = None


class ToolResultBlock(_Block):
    """The result of one tool call. ``display`` carries structured extras for the UI only."""

    type: Literal["tool_result"] = "tool_result"
    tool_call_id: str
    content: str
    is_error: bool = False
    display: dict[str, Any] | None = None


class Source(BaseModel):
    """One web page a provider-native search found or the answer cited."""

    url: str
    title: str | None = None
    snippet: str | None = None  # the text the answer quoted from it, when the provider says


class SourcesBlock(_Block):
    """A provider-native web search the model ran, kept as content so people see the sources.

    ``provider_data`` holds the vendor's own items (Anthropic ``server_tool_use`` +
    ``web_search_tool_result`` blocks, an OpenAI ``web_search_call`` item), sent back verbatim
    with the assistant turn: the vendor requires them, and only its own adapter reads them.
    """

    type: Literal["sources"] = "sources"
    query: str | None = None
    sources: list[Source] = Field(default_factory=list)
    provider_data: dict[str, Any] | None = None


ContentBlock = Annotated[
    TextBlock | ImageBlock | ReasoningBlock | ToolCallBlock | ToolResultBlock | SourcesBlock,
    Field(discriminator="type"),
]

Role = Literal["user", "assistant", "tool"]


class Message(BaseModel):
    """One turn of the conversation as the model sees it.

    ``user`` carries text and images; ``assistant`` carries reasoning, text and tool calls;
    ``tool`` carries the results of the preceding assistant message's tool calls.
    """

    role: Role
    content: list[ContentBlock]

    def text(self) -> str:
        return "".join(b.text for b in self.content if isinstance(b, TextBlock))

    def tool_calls(self) -> list[ToolCallBlock]:
        return [b for b in self.content if isinstance(b, ToolCallBlock)]


class Usage(BaseModel):
    """Token counts of one model call. ``input_tokens`` excludes cached tokens."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def context_tokens(self) -> int:
        """Everything the model read for this call: the size of the context window used."""
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_read_tokens=self.cache_read_tokens + other.cache_read_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
            reasoning_tokens=self.reasoning_tokens + other.reasoning_tokens,
        )


class ToolSpec(BaseModel):
    """A tool offered to the model: ``parameters`` is a JSON Schema object."""

    name: str
    description: str
    parameters: dict[str, Any]


class ModelRequest(BaseModel):
    """Everything one model call needs, in provider-neutral form."""

    model: str
    system: str = ""
    messages: list[Message]
    tools: list[ToolSpec] = Field(default_factory=list)
    max_output_tokens: int = 8192
    temperature: float | None = None
    reasoning_effort: str | None = None
    web_search: bool = False
    """Offer the provider's own web search (admin setting per model); providers without one
    ignore it."""


StopReason = Literal["end_turn", "tool_use", "max_tokens", "content_filter", "refusal", "other"]


# ----- stream events: what a provider yields while a call is in flight -----


class TextDelta(BaseModel):
    type: Literal["text_delta"] = "text_delta"
    text: str


class ReasoningDelta(BaseModel):
    type: Literal["reasoning_delta"] = "reasoning_delta"
    text: str


class ToolCallStarted(BaseModel):
    """The model began a tool call (its arguments are still streaming)."""

    type: Literal["tool_call_started"] = "tool_call_started"
    id: str
    name: str


class StreamDone(BaseModel):
    """The call finished: the whole assistant message, why it stopped, and its usage."""

    type: Literal["done"] = "done"
    message: Message
    stop_reason: StopReason
    usage: Usage


StreamEvent = TextDelta | ReasoningDelta | ToolCallStarted | StreamDone
